// Canonicalise `network:` (a single container's network): bridge mode becomes CanonicalNetwork
// (the compiler turns it into lease, bridge, veth, address, route, hosts and publish steps); none and
// host only say what namespaces.net says. Ports are parsed with the compose loader's parser.
import type { CanonicalSpec, ContainerSpec } from '../types.js';
import { report, type LoadContext } from './context.js';
import { parsePort } from '../../runtime/net/ports.js';

/** The name of niwa's own bridge network (`--network bridge`). */
export const DEFAULT_NETWORK = 'bridge';

/** Applies `network` to the canonical namespaces (in place) and returns the bridge network, if any. */
export function canonNetwork(spec: ContainerSpec, namespaces: CanonicalSpec['namespaces'], ctx: LoadContext): CanonicalSpec['network'] {
  const n = spec.network;
  if (!n) return undefined;
  const mode = n.mode ?? 'bridge';
  const ports: NonNullable<CanonicalSpec['network']>['ports'] = [];
  (n.ports ?? []).forEach((p, i) => {
    try { ports.push(...parsePort(typeof p === 'number' ? String(p) : p)); } catch (e) { report(ctx, `network.ports.${i}`, (e as Error).message, 'e.g. "8080:80", "127.0.0.1:5353:53/udp"'); }
  });
  if (mode !== 'bridge') {
    if (n.name !== undefined) report(ctx, 'network.name', `a network name needs mode bridge, not ${mode}`, 'remove name, or set mode: bridge');
    if (n.ports?.length) report(ctx, 'network.ports', `ports are published from a bridge network, not with mode ${mode}`, mode === 'host' ? 'with the host\'s network the container listens on the host\'s ports itself: remove ports' : 'use mode: bridge');
    if (mode === 'none') namespaces.net = { mode: 'new' };
    else delete namespaces.net;
    return undefined;
  }
  const net = namespaces.net;
  if (net && net.mode !== 'new') report(ctx, 'network', `a bridge network gives the container a network namespace of its own: namespaces.net must not join ${net.mode === 'join' ? net.path : `container ${net.container}`}`, 'remove namespaces.net (or network)');
  return { name: n.name ?? DEFAULT_NETWORK, ports };
}
