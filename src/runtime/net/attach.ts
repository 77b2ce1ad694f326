// Project networks on the host: create a network (bridge + subnet lease), attach a container
// (network namespace file, veth, address, routes, /etc/hosts), detach it, remove the network.
// Every call is idempotent, and a failure part-way undoes what that call did (rollback).
// The container then joins the prepared namespace by path: `namespaces.net = { path: netnsPath }`.
import { rmSync } from 'node:fs';
import { RuntimeFailure } from '../../errors.js';
import type { StepDraft } from '../../plan/types.js';
import { bridgeName, containerIfname, hostsPath, leasesPath, netnsPath, safeComponent, vethName } from './names.js';
import {
  networkKey, readHostRoutes, releaseAddress, releaseNetwork, reserveAddress, reserveNetwork,
  type Cidr, type Lease, type LeaseDb, type NetworkRecord, withLeases,
} from './ipam.js';
import { attachSteps, bridgeSteps, networkSteps, sandboxSteps, type AttachmentInfo } from '../../plan/steps/net.js';
import { realNetHost, runNetSteps, type NetHost } from './exec.js';
import { hostsFor, writeInPlace } from './hosts.js';

export interface NetContext {
  /** niwa's state root (/run/niwa, or a test's own directory). */
  stateRoot: string;
  host?: NetHost;
  /** The host's IPv4 routes (default: /proc/net/route). */
  routes?: () => { iface: string; cidr: Cidr }[];
  /** Told of every step once it has run (for events / verbose output). */
  onStep?: (s: StepDraft) => void;
}

export interface NetworkOptions {
  /** Fixed subnet (compose `ipam.config[].subnet`); default: the first free /24 of the pool. */
  subnet?: string;
  /** Pool to pick from (default 10.89.0.0/16). */
  pool?: string;
}

export interface Network extends NetworkRecord {
  /** The steps that created it (empty when it already existed). */
  steps: StepDraft[];
}

export interface AttachOptions {
  project: string;
  network: string;
  container: string;
  /** Extra names on this network: the service name and compose `aliases`. */
  aliases?: string[];
  /** The container's hostname (listed with its own address in its /etc/hosts). */
  hostname?: string;
  /** Fixed address (compose `ipv4_address`). */
  address?: string;
  /** Whether this network provides the default route (default: true for the container's first network). */
  defaultRoute?: boolean;
  /** Compose `extra_hosts`: extra /etc/hosts lines for this container. */
  extraHosts?: { host: string; ip: string }[];
  /** Compose `links`: other containers by an alias, in this container's /etc/hosts only. */
  links?: { container: string; alias: string }[];
}

export interface Attachment {
  /** The network namespace file to join: `namespaces: { net: { path: netnsPath } }`. */
  netnsPath: string;
  address: string;
  gateway: string;
  subnet: string;
  ifname: string;
  veth: string;
  bridge: string;
  /** The container's /etc/hosts (bind it with hostsMount(hostsFile)). */
  hostsFile: string;
  /** The steps that ran (empty when it was already attached). */
  steps: StepDraft[];
  /** The same as detachContainer(ctx, project, network, container). */
  cleanup: () => Promise<void>;
}

const hostOf = (ctx: NetContext) => ctx.host ?? realNetHost;

/** Undo steps run after a failure; a second failure is added to the first error, never hides it. */
async function rollback(ctx: NetContext, undo: StepDraft[], cause: unknown): Promise<never> {
  try {
    await runNetSteps(undo, hostOf(ctx));
  } catch (e) {
    (cause as Error).message += ` (and undoing it failed too: ${(e as Error).message})`;
  }
  throw cause;
}

/** Creates (or finds) the bridge and subnet of a project network. */
export async function createNetwork(ctx: NetContext, project: string, network: string, opts: NetworkOptions = {}): Promise<Network> {
  safeComponent('project', project);
  safeComponent('network', network);
  const bridge = bridgeName(project, network);
  const file = leasesPath(ctx.stateRoot);
  let created = false;
  const net = await withLeases(file, (db) => {
    created = !db.networks[networkKey(project, network)];
    const r = reserveNetwork(db, { project, network, bridge, subnet: opts.subnet, pool: opts.pool, routes: (ctx.routes ?? readHostRoutes)() });
    return { db: r.db, result: r.net };
  });
  const host = hostOf(ctx);
  if (host.linkExists(bridge)) return { ...net, steps: [] };
  const s = bridgeSteps({ network, bridge, subnet: net.subnet, gateway: net.gateway });
  try {
    await runNetSteps(s.prepare, host, ctx.onStep);
  } catch (e) {
    if (created) await withLeases(file, (db) => ({ db: releaseNetwork(db, networkKey(project, network)), result: undefined }));
    return rollback(ctx, s.cleanup, e);
  }
  return { ...net, steps: s.prepare };
}

/**
 * Puts a container on a network: its network namespace (created on its first network), a veth
 * pair into it, an address from the subnet, the default route, and its /etc/hosts — then rewrites
 * the /etc/hosts of every container of the project so they all know the new one.
 */
export async function attachContainer(ctx: NetContext, o: AttachOptions): Promise<Attachment> {
  const { project, network, container } = o;
  safeComponent('container', container);
  const key = networkKey(project, network);
  const file = leasesPath(ctx.stateRoot);
  const host = hostOf(ctx);
  const netns = netnsPath(ctx.stateRoot, project, container);
  const veth = vethName(project, network, container);
  const hostsFile = hostsPath(ctx.stateRoot, project, container);
  const { net, lease, fresh, firstNetwork } = await withLeases(file, (db) => {
    const n = db.networks[key];
    if (!n) throw new RuntimeFailure('E_NET_MISSING', `network ${key} does not exist`, { hint: 'niwa compose up creates it' });
    const had = n.leases[container];
    const mine = Object.values(db.networks).filter((x) => x.project === project && x.leases[container] && x !== n);
    const ifname = had?.ifname ?? freeIfname(mine.map((x) => x.leases[container].ifname));
    const r = reserveAddress(db, key, container, { address: o.address ?? had?.address, aliases: o.aliases ?? [], ifname, veth, netns, hostname: o.hostname, extraHosts: o.extraHosts, links: o.links });
    return { db: r.db, result: { net: r.db.networks[key], lease: r.lease, fresh: !had, firstNetwork: mine.length === 0 } };
  });
  const info: AttachmentInfo = {
    network, bridge: net.bridge, subnet: net.subnet, gateway: net.gateway, container, veth, ifname: lease.ifname, address: lease.address,
    defaultRoute: o.defaultRoute ?? firstNetwork,
  };
  const result = (steps: StepDraft[]): Attachment => ({
    netnsPath: netns, address: lease.address, gateway: net.gateway, subnet: net.subnet, ifname: lease.ifname, veth, bridge: net.bridge, hostsFile, steps,
    cleanup: () => detachContainer(ctx, project, network, container),
  });

  const haveNs = host.isMounted(netns);
  if (!fresh && haveNs && host.linkExists(veth)) {
    await refreshHosts(ctx, project);
    return result([]); // already attached
  }
  const sandbox = sandboxSteps(netns, false);
  const att = attachSteps(info, netns, !haveNs);
  const prepare = [...(haveNs ? [] : sandbox.prepare), ...att.prepare];
  const undo = [...att.cleanup, ...(haveNs ? [] : sandbox.cleanup)];
  try {
    if (host.linkExists(veth)) await runNetSteps(att.cleanup, host); // a leftover of a crash: start clean
    await runNetSteps(prepare, host, ctx.onStep);
    await refreshHosts(ctx, project);
  } catch (e) {
    if (fresh) await withLeases(file, (db) => ({ db: releaseAddress(db, key, container), result: undefined }));
    return rollback(ctx, undo, e);
  }
  return result(prepare);
}

/** The first ethN not used by the container's other networks. */
function freeIfname(used: string[]): string {
  for (let i = 0; ; i++) if (!used.includes(containerIfname(i))) return containerIfname(i);
}

/**
 * Takes a container off a network: removes its veth and lease; when it was its last network, its
 * network namespace and /etc/hosts go too. The other containers' /etc/hosts forget it.
 */
export async function detachContainer(ctx: NetContext, project: string, network: string, container: string): Promise<void> {
  const key = networkKey(project, network);
  const file = leasesPath(ctx.stateRoot);
  const host = hostOf(ctx);
  const netns = netnsPath(ctx.stateRoot, project, container);
  const veth = vethName(project, network, container);
  const net = await withLeases(file, (db) => ({ db, result: db.networks[key] }));
  const info: AttachmentInfo = {
    network, bridge: net?.bridge ?? bridgeName(project, network), subnet: net?.subnet ?? '0.0.0.0/32', gateway: net?.gateway ?? '', container, veth,
    ifname: '', address: '', defaultRoute: false,
  };
  await runNetSteps(attachSteps(info, netns).cleanup, host, ctx.onStep);
  const remaining = await withLeases(file, (db) => {
    const next = releaseAddress(db, key, container);
    return { db: next, result: Object.values(next.networks).some((n) => n.project === project && n.leases[container]) };
  });
  if (!remaining) {
    await runNetSteps(sandboxSteps(netns).cleanup, host, ctx.onStep);
    rmSync(hostsPath(ctx.stateRoot, project, container), { force: true });
  }
  await refreshHosts(ctx, project);
}

/** Detaches whatever is still on the network, then removes its bridge and its subnet lease. */
export async function removeNetwork(ctx: NetContext, project: string, network: string): Promise<void> {
  const key = networkKey(project, network);
  const file = leasesPath(ctx.stateRoot);
  const net = await withLeases(file, (db) => ({ db, result: db.networks[key] as NetworkRecord | undefined }));
  for (const c of Object.keys(net?.leases ?? {})) await detachContainer(ctx, project, network, c);
  const bridge = net?.bridge ?? bridgeName(project, network);
  await runNetSteps(bridgeSteps({ network, bridge, subnet: net?.subnet ?? '0.0.0.0/32', gateway: net?.gateway ?? '' }).cleanup, hostOf(ctx), ctx.onStep);
  await withLeases(file, (db) => ({ db: releaseNetwork(db, key), result: undefined }));
}

/** `down`: every network of the project (and every container still on one). */
export async function removeProjectNetworks(ctx: NetContext, project: string): Promise<void> {
  const db = await withLeases(leasesPath(ctx.stateRoot), (d) => ({ db: d, result: d }));
  for (const n of Object.values(db.networks).filter((x) => x.project === project)) await removeNetwork(ctx, project, n.network);
}

/** Rewrites (in place) the /etc/hosts of every attached container of the project. */
export async function refreshHosts(ctx: NetContext, project: string): Promise<void> {
  // Written under the lease lock, so two containers coming up at once cannot leave an older view behind.
  await withLeases(leasesPath(ctx.stateRoot), (db) => {
    const containers = new Map<string, Lease>();
    for (const n of Object.values(db.networks)) {
      if (n.project !== project) continue;
      for (const [c, l] of Object.entries(n.leases)) if (!containers.has(c)) containers.set(c, l);
    }
    for (const [c, l] of containers) writeInPlace(hostsPath(ctx.stateRoot, project, c), hostsFor(db, project, c, l.hostname));
    return { db, result: undefined };
  });
}

/** The lease database as it is now (for `niwa ps`, plans and tests). */
export function readNetworks(ctx: NetContext): Promise<LeaseDb> {
  return withLeases(leasesPath(ctx.stateRoot), (d) => ({ db: d, result: d }));
}

/**
 * What createNetwork + attachContainer would run for these containers, without running anything
 * (for `niwa compose plan`): subnets and addresses are picked against the current leases and host
 * routes exactly as `up` would, but nothing is reserved. Per container, its namespace and
 * attachments (networks in the order given: the first one provides the default route).
 */
export function previewNetworks(
  db: LeaseDb,
  stateRoot: string,
  project: string,
  networks: { name: string; opts?: NetworkOptions }[],
  containers: { name: string; networks: { network: string; aliases?: string[]; address?: string }[] }[],
  routes: { iface: string; cidr: Cidr }[] = readHostRoutes(),
): { networks: Record<string, StepDraft[]>; containers: Record<string, { prepare: StepDraft[]; cleanup: StepDraft[]; address: Record<string, string> }> } {
  const out: ReturnType<typeof previewNetworks> = { networks: {}, containers: {} };
  for (const n of networks) {
    const bridge = bridgeName(project, n.name);
    const existed = Boolean(db.networks[networkKey(project, n.name)]);
    const r = reserveNetwork(db, { project, network: n.name, bridge, subnet: n.opts?.subnet, pool: n.opts?.pool, routes });
    db = r.db;
    out.networks[n.name] = existed ? [] : bridgeSteps({ network: n.name, bridge, subnet: r.net.subnet, gateway: r.net.gateway }).prepare;
  }
  for (const c of containers) {
    const netns = netnsPath(stateRoot, project, c.name);
    const infos: AttachmentInfo[] = c.networks.map((a, i) => {
      const key = networkKey(project, a.network);
      const veth = vethName(project, a.network, c.name);
      const r = reserveAddress(db, key, c.name, { address: a.address, aliases: a.aliases ?? [], ifname: containerIfname(i), veth, netns });
      db = r.db;
      const n = db.networks[key];
      return { network: a.network, bridge: n.bridge, subnet: n.subnet, gateway: n.gateway, container: c.name, veth, ifname: r.lease.ifname, address: r.lease.address, defaultRoute: i === 0 };
    });
    const s = networkSteps(netns, infos);
    out.containers[c.name] = { ...s, address: Object.fromEntries(infos.map((i) => [i.network, i.address])) };
  }
  return out;
}
