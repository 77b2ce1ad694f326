// Names of the host resources networking creates: bridges, veth pairs, network namespace files,
// hosts files. Pure and deterministic (same project/network/container → same name), so a later
// `down` or a cleanup after a crash finds them again without any state.
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { checkName } from '../../spec/names.js';

/** Linux limits interface names to IFNAMSIZ - 1 = 15 bytes. */
export const IFNAME_MAX = 15;
/** Every bridge niwa creates starts with this; veths start with NW_VETH_PREFIX (no dash). */
export const NW_BRIDGE_PREFIX = 'nw-';
export const NW_VETH_PREFIX = 'nw';

const hex = (parts: string[], n: number) => createHash('sha256').update(parts.join('\0')).digest('hex').slice(0, n);

/** `nw-` + 10 hex digits (13 chars): the bridge of one project network. */
export function bridgeName(project: string, network: string): string {
  return NW_BRIDGE_PREFIX + hex(['bridge', project, network], 10);
}

/** `nw` + 12 hex digits (14 chars): the host side of the veth pair of a container on a network. */
export function vethName(project: string, network: string, container: string): string {
  return NW_VETH_PREFIX + hex(['veth', project, network, container], 12);
}

/** Interface name inside the container: eth0 for its first network, eth1 for the second … */
export function containerIfname(index: number): string {
  return `eth${index}`;
}

/** True for names niwa gives to interfaces (bridge or veth), e.g. to list or clean leftovers. */
export function isNiwaIfname(name: string): boolean {
  return /^nw-[0-9a-f]{10}$/.test(name) || /^nw[0-9a-f]{12}$/.test(name);
}

/** A valid interface name: 1–15 bytes, no '/', no whitespace, not '.' or '..'. */
export function validIfname(name: string): boolean {
  return Buffer.byteLength(name) >= 1 && Buffer.byteLength(name) <= IFNAME_MAX && !/[\s/:]/.test(name) && name !== '.' && name !== '..';
}

/** A project, network or container name usable as one path component of niwa's state. */
export function safeComponent(kind: string, name: string): string {
  return checkName(name, `${kind} name`);
}

/** Where networking keeps its state under niwa's state root (e.g. /run/niwa/net). */
export function netStateDir(stateRoot: string): string {
  return join(stateRoot, 'net');
}

/** The network namespace file of a container (bind mount of its nsfs inode). */
export function netnsPath(stateRoot: string, project: string, container: string): string {
  return join(netStateDir(stateRoot), 'ns', safeComponent('project', project), safeComponent('container', container));
}

/** The generated /etc/hosts of a container, bind-mounted read-only at /etc/hosts. */
export function hostsPath(stateRoot: string, project: string, container: string): string {
  return join(netStateDir(stateRoot), 'hosts', safeComponent('project', project), safeComponent('container', container));
}

/** The IPAM lease database (one per state root). */
export function leasesPath(stateRoot: string): string {
  return join(netStateDir(stateRoot), 'leases.json');
}
