// Network plumbing as plan data: the iproute2 commands and network namespace files that make a
// project network (bridge) and put a container on it (veth pair, address, routes). Pure: the
// same steps are shown by `niwa plan` and executed by exec.ts, in order, with their undo in
// `cleanup` (every cleanup step is idempotent, so it can run after a failure at any point).
import { dirname, join } from 'node:path';
import type { StepDraft } from '../types.js';
import type { CanonicalMount, CanonicalSpec } from '../../spec/types.js';
import { UserError } from '../../errors.js';
import { DEFAULT_NETWORK } from '../../spec/load/network.js';
import { networkKey, reserveAddress, reserveNetwork, type Cidr, type LeaseDb, type NetworkRecord } from '../../runtime/net/ipam.js';
import { bridgeName, containerIfname, hostsPath, netnsPath, netStateDir, vethName } from '../../runtime/net/names.js';
import { hostsFor } from '../../runtime/net/hosts.js';

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

// ---------------------------------------------------------------------------
// A single container's network (spec `network`, niwa run -p / --network bridge|NAME)

/** What compiling a single container's network needs to know about the host (read before compile). */
export interface ContainerNetFacts {
  /** The lease database as it is now. */
  leases: LeaseDb;
  /** The host's IPv4 routes (a new subnet must not overlap them). */
  routes: { iface: string; cidr: Cidr }[];
  /** Network interfaces of the host. */
  links: string[];
}

/** niwa's own bridge network in the lease database: a project name no compose project can have (a '.'). */
export const BRIDGE_PROJECT = 'niwa.run';

/** niwa0 under the default state root; under another (a test's) a bridge of its own, so two never share one. */
export function defaultBridge(stateRoot: string): string {
  return stateRoot === '/run/niwa' ? 'niwa0' : bridgeName(`${BRIDGE_PROJECT}:${stateRoot}`, DEFAULT_NETWORK);
}

export interface ContainerNetwork {
  prepare: StepDraft[];
  cleanup: StepDraft[];
  /** The network namespace file the container joins (namespaces.net). */
  netns: string;
  /** Its /etc/hosts and /etc/resolv.conf, bound read-only. */
  mounts: CanonicalMount[];
  address: string;
}

const netError = (message: string, hint: string) => new UserError('E_NETWORK', message, [], hint);

/**
 * The steps that put one container on a bridge network, decided against the lease database read
 * before compile (as compose plans are): ports first (a busy port creates nothing), the lease, niwa's
 * bridge when it is missing, the namespace, the veth pair, address, lo, default route, /etc/hosts and
 * resolv.conf, and their undo in cleanup.
 */
export function containerNetworkSteps(spec: CanonicalSpec, containerProject: string, stateRoot: string, facts: ContainerNetFacts): ContainerNetwork {
  const want = spec.network!;
  // Its name on the network (lease, /etc/hosts) is its --name, as Docker's: one of that name per network.
  const name = spec.name;
  const db = facts.leases;
  const own = want.name === DEFAULT_NETWORK;
  let net: NetworkRecord;
  let leases = db;
  if (own) {
    const bridge = defaultBridge(stateRoot);
    try {
      const r = reserveNetwork(db, { project: BRIDGE_PROJECT, network: DEFAULT_NETWORK, bridge, routes: facts.routes });
      net = r.net;
      leases = r.db;
    } catch (e) { throw netError(`niwa's bridge network: ${(e as Error).message}`, (e as UserError).hint ?? 'free a subnet of 10.89.0.0/16'); }
  } else {
    const found = Object.values(db.networks).find((n) => n.project !== BRIDGE_PROJECT && `${n.project}_${n.network}` === want.name);
    if (!found) {
      const known = Object.values(db.networks).filter((n) => n.project !== BRIDGE_PROJECT).map((n) => `${n.project}_${n.network}`);
      throw netError(`network ${want.name} does not exist`, `networks: bridge (niwa's own)${known.length ? `, ${known.join(', ')}` : ''}; a compose project's networks exist while it is up (niwa compose up), named PROJECT_NETWORK`);
    }
    if (!facts.links.includes(found.bridge)) throw netError(`network ${want.name}: its bridge ${found.bridge} is missing`, `bring the project up again: niwa compose -p ${found.project} up -d`);
    net = found;
  }
  const project = net.project;
  const key = networkKey(project, net.network);
  // its own namespace file (under its niwa project): a lease of that name with another one is another container's
  const netns = netnsPath(stateRoot, containerProject, spec.name);
  const had = leases.networks[key]?.leases[name];
  if (had && had.netns !== netns) throw netError(`a container named ${name} is already on network ${want.name}`, 'give this one another name with --name (or --project)');
  const veth = vethName(project, net.network, name);
  const aliases = spec.hostname && spec.hostname !== name ? [spec.hostname] : [];
  const r = reserveAddress(leases, key, name, { aliases, ifname: containerIfname(0), veth, netns, ...(spec.hostname ? { hostname: spec.hostname } : {}) });
  const lease = r.lease;
  const label = own ? 'bridge (niwa\'s own)' : want.name;
  const info: AttachmentInfo = { network: label, bridge: net.bridge, subnet: net.subnet, gateway: net.gateway, container: name, veth, ifname: lease.ifname, address: lease.address, defaultRoute: true };
  const field = 'network';
  const as = (list: StepDraft[], f = field) => list.map((s) => ({ ...s, field: f }));
  const hostsDir = join(netStateDir(stateRoot), 'hosts', project);
  const hosts = hostsPath(stateRoot, project, name);
  const resolv = join(hostsDir, `_resolv.${name}.conf`);
  const resolvText = ['# written by niwa: this bridge network has no route out; container names are in /etc/hosts', 'options timeout:1 attempts:1', ''].join('\n');
  const ports = want.ports;
  const prepare: StepDraft[] = [];
  if (ports.length) prepare.push({ op: 'publish', address: lease.address, ports, field: 'network.ports', why: `listen on the host port${ports.length === 1 ? '' : 's'} and forward to ${lease.address}, first: a busy port fails the start before anything is made (niwa run holds them while it runs; with -d the supervisor does)` });
  prepare.push({ op: 'lease', stateRoot, project, network: net.network, bridge: net.bridge, subnet: net.subnet, gateway: net.gateway, container: name, address: lease.address, ifname: lease.ifname, veth, netns, aliases, ...(spec.hostname ? { hostname: spec.hostname } : {}), field, why: `record ${lease.address} on ${want.name} (${net.subnet}) for ${name} in the lease database${own && !db.networks[key] ? ', with the new network' : ''}` });
  if (own) prepare.push(...as(bridgeSteps({ network: label, bridge: net.bridge, subnet: net.subnet, gateway: net.gateway }).prepare.map((s) => ({ ...s, ifMissing: net.bridge } as StepDraft))));
  prepare.push(...as(sandboxSteps(netns, false).prepare), ...as(attachSteps(info, netns, true).prepare));
  prepare.push(
    { op: 'mkdir', path: hostsDir, mode: 0o755, parents: true, field, man: 'mkdir(2)', why: 'the directory of the network\'s /etc/hosts files' },
    { op: 'write', path: hosts, data: hostsFor(r.db, project, name, spec.hostname), create: true, field, man: 'hosts(5)', why: `its /etc/hosts: itself and every container on ${want.name}, by name` },
    { op: 'write', path: resolv, data: resolvText, create: true, field, man: 'resolv.conf(5)', why: 'its /etc/resolv.conf: the network has no route to the host\'s name servers, so lookups of unknown names fail at once' },
    { op: 'hosts', stateRoot, project, field, man: 'hosts(5)', why: `every container on ${want.name} learns it: their /etc/hosts are rewritten in place from the lease database` },
  );
  const cleanup: StepDraft[] = [
    ...(ports.length ? [{ op: 'unpublish', ports, field: 'network.ports', why: 'close the published ports (the supervisor closes them once the container has ended for good, not between restarts)' } as StepDraft] : []),
    ...as(attachSteps(info, netns).cleanup),
    { op: 'release', stateRoot, project, network: net.network, container: name, netns, ...(own ? { bridge: net.bridge } : {}), field, why: `forget ${name}'s address on ${want.name}${own ? '; when it was the last container there, remove the bridge and the subnet too' : ''}` },
    { op: 'hosts', stateRoot, project, field, man: 'hosts(5)', why: `the other containers on ${want.name} forget it` },
    ...as(sandboxSteps(netns).cleanup),
    { op: 'rmtree', path: hosts, field, why: 'its /etc/hosts' },
    { op: 'rmtree', path: resolv, field, why: 'its /etc/resolv.conf' },
    { op: 'rmdir', path: hostsDir, bestEffort: true, field, man: 'rmdir(2)', why: 'the network\'s hosts directory, once no container has a file in it' },
    { op: 'rmdir', path: dirname(netns), bestEffort: true, field, man: 'rmdir(2)', why: 'the project\'s namespace directory, once no container of it has a namespace file in it' },
  ];
  const file = (source: string, target: string): CanonicalMount => ({ type: 'bind', source, target, readonly: true, recursive: false, options: [], field, sourceKind: 'file' });
  return { prepare, cleanup, netns, mounts: [file(hosts, '/etc/hosts'), file(resolv, '/etc/resolv.conf')], address: lease.address };
}
