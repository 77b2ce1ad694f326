// Network plumbing as plan data: the iproute2 commands and network namespace files that make a
// project network (bridge) and put a container on it (veth pair, address, routes). Pure: the
// same steps are shown by `niwa plan` and executed by exec.ts, in order, with their undo in
// `cleanup` (every cleanup step is idempotent, so it can run after a failure at any point).
import type { StepDraft } from '../types.js';

export interface BridgeInfo {
  /** Compose network name (for messages and spec fields). */
  network: string;
  bridge: string;
  /** e.g. 10.89.0.0/24 */
  subnet: string;
  gateway: string;
}

export interface AttachmentInfo extends BridgeInfo {
  container: string;
  /** Host side of the veth pair (nw…), attached to the bridge. */
  veth: string;
  /** Name inside the container (eth0 …). */
  ifname: string;
  address: string;
  /** Add the default route via this network's gateway (only one network of a container does). */
  defaultRoute: boolean;
}

export interface HostSteps { prepare: StepDraft[]; cleanup: StepDraft[] }

const prefixOf = (subnet: string) => subnet.split('/')[1];

/** The bridge of a project network, with the gateway address on it (host ↔ containers). */
export function bridgeSteps(n: BridgeInfo): HostSteps {
  const field = `networks.${n.network}`;
  return {
    prepare: [
      { op: 'ip', args: ['link', 'add', 'name', n.bridge, 'type', 'bridge'], field, man: 'ip-link(8)', why: `a bridge for network ${n.network}: every container on it gets one port (a veth), like a switch` },
      { op: 'ip', args: ['addr', 'add', `${n.gateway}/${prefixOf(n.subnet)}`, 'dev', n.bridge], field, man: 'ip-address(8)', why: `the gateway address of ${n.subnet} on the bridge: the host reaches the containers through it and they route through it` },
      { op: 'ip', args: ['link', 'set', n.bridge, 'up'], field, man: 'ip-link(8)', why: 'a new link starts down: bring the bridge up' },
    ],
    cleanup: [
      { op: 'ip', args: ['link', 'del', n.bridge], absentOk: true, field, man: 'ip-link(8)', why: `remove the bridge of network ${n.network} (its address and routes go with it)` },
    ],
  };
}

const loopbackUp = (netns: string): StepDraft => ({ op: 'ip', args: ['link', 'set', 'lo', 'up'], netns, field: 'namespaces.net', man: 'ip-link(8)', why: 'a new network namespace starts with loopback down: bring it up so 127.0.0.1 works' });

/**
 * The network namespace of a container, kept by a bind mount on a file. `loopback: false` leaves
 * bringing lo up to the first attachment (attachSteps), so all commands run inside the namespace
 * form one batch.
 */
export function sandboxSteps(netns: string, loopback = true): HostSteps {
  const field = 'namespaces.net';
  return {
    prepare: [
      { op: 'netns', action: 'add', path: netns, field, man: 'network_namespaces(7)', why: 'a network namespace of its own, prepared before the container exists; the container joins it by path (setns), as CNI and pods do' },
      ...(loopback ? [loopbackUp(netns)] : []),
    ],
    cleanup: [
      { op: 'netns', action: 'delete', path: netns, field, man: 'network_namespaces(7)', why: 'release the network namespace: with no process and no mount left, the kernel frees it and the veth ends inside it' },
    ],
  };
}

/** A veth pair from the bridge into the container's namespace, its address and routes (and lo up when `loopback`). */
export function attachSteps(a: AttachmentInfo, netns: string, loopback = false): HostSteps {
  const field = `networks.${a.network}`;
  const prefix = prefixOf(a.subnet);
  const prepare: StepDraft[] = [
    { op: 'ip', args: ['link', 'add', a.veth, 'type', 'veth', 'peer', 'name', a.ifname, 'netns', netns], field, man: 'veth(4)', why: `a veth pair: ${a.veth} stays on the host, ${a.ifname} is created directly inside the container's network namespace` },
    { op: 'ip', args: ['link', 'set', a.veth, 'master', a.bridge], field, man: 'ip-link(8)', why: `plug the host end into the bridge of ${a.network}` },
    { op: 'ip', args: ['link', 'set', a.veth, 'up'], field, man: 'ip-link(8)', why: 'bring the host end up' },
    ...(loopback ? [loopbackUp(netns)] : []),
    { op: 'ip', args: ['addr', 'add', `${a.address}/${prefix}`, 'dev', a.ifname], netns, field, man: 'ip-address(8)', why: `the container's address on ${a.network}, leased from ${a.subnet}` },
    { op: 'ip', args: ['link', 'set', a.ifname, 'up'], netns, field, man: 'ip-link(8)', why: 'bring the container end up' },
  ];
  if (a.defaultRoute) {
    prepare.push({ op: 'ip', args: ['route', 'add', 'default', 'via', a.gateway, 'dev', a.ifname], netns, field, man: 'ip-route(8)', why: `send everything not on a local subnet to the gateway ${a.gateway} (the host)` });
  }
  return {
    prepare,
    cleanup: [
      { op: 'ip', args: ['link', 'del', a.veth], absentOk: true, field, man: 'ip-link(8)', why: 'remove the veth pair (deleting one end removes both)' },
    ],
  };
}

/**
 * Everything one container needs: its namespace, then one attachment per network (in the
 * order given; the first with defaultRoute owns the default route). Cleanup runs in reverse.
 */
export function networkSteps(netns: string, attachments: AttachmentInfo[]): HostSteps {
  const parts = [sandboxSteps(netns, attachments.length === 0), ...attachments.map((a, i) => attachSteps(a, netns, i === 0))];
  return {
    prepare: parts.flatMap((p) => p.prepare),
    cleanup: parts.reverse().flatMap((p) => p.cleanup),
  };
}
