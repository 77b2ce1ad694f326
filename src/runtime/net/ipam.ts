// IP address management: subnets for project networks (from a pool, avoiding what the host
// already routes), the gateway (.1, on the bridge), and one address per container, recorded as
// leases in a JSON file under the state dir. Everything but loadLeases/withLeases is pure.
import { closeSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { RuntimeFailure, UserError } from '../../errors.js';

export interface Cidr { base: number; prefix: number }

/** The default pool: 10.89.0.0/16 split into /24s (254 usable addresses each). */
export const DEFAULT_POOL = '10.89.0.0/16';
export const DEFAULT_PREFIX = 24;

// ---------------------------------------------------------------------------
// addresses

export function parseIp(s: string): number {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s.trim());
  if (!m || m.slice(1).some((o) => Number(o) > 255)) throw new UserError('E_NET_ADDRESS', `invalid IPv4 address '${s}'`, [], 'an address is four numbers 0–255: 10.89.0.5');
  return m.slice(1).reduce((a, o) => a * 256 + Number(o), 0);
}

export function formatIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

const mask = (prefix: number) => (prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0);

/** Parses `a.b.c.d/n`; the base is the network address (host bits must be zero). */
export function parseCidr(s: string): Cidr {
  const m = /^([^/]+)\/(\d{1,2})$/.exec(s.trim());
  if (!m || Number(m[2]) > 32) throw new UserError('E_NET_SUBNET', `invalid subnet '${s}': expected a.b.c.d/N`, [], 'e.g. 10.90.0.0/24');
  const prefix = Number(m[2]);
  const ip = parseIp(m[1]);
  const base = (ip & mask(prefix)) >>> 0;
  if (base !== ip) throw new UserError('E_NET_SUBNET', `invalid subnet '${s}': host bits are set (did you mean ${formatIp(base)}/${prefix}?)`);
  return { base, prefix };
}

export function formatCidr(c: Cidr): string {
  return `${formatIp(c.base)}/${c.prefix}`;
}

export const size = (c: Cidr) => 2 ** (32 - c.prefix);
export const contains = (c: Cidr, ip: number) => ((ip & mask(c.prefix)) >>> 0) === c.base;
export const overlaps = (a: Cidr, b: Cidr) => contains(a, b.base) || contains(b, a.base);

/** The gateway of a subnet: its first usable address (.1 of a /24); it lives on the bridge. */
export function gatewayOf(subnet: Cidr): string {
  if (subnet.prefix > 30) throw new UserError('E_NET_SUBNET', `subnet ${formatCidr(subnet)} is too small`, [], 'at least a /30 is needed (gateway + one container)');
  return formatIp(subnet.base + 1);
}

// ---------------------------------------------------------------------------
// host routes

/**
 * Destinations the host routes, from /proc/net/route (hex little-endian columns). The default
 * route (0.0.0.0/0) is left out: it overlaps everything and does not make a subnet unusable.
 */
export function parseProcRoutes(text: string): { iface: string; cidr: Cidr }[] {
  const out: { iface: string; cidr: Cidr }[] = [];
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 8) continue;
    const dest = leHex(f[1]);
    const m = leHex(f[7]);
    const prefix = m.toString(2).replace(/0/g, '').length;
    if (prefix === 0) continue;
    out.push({ iface: f[0], cidr: { base: (dest & mask(prefix)) >>> 0, prefix } });
  }
  return out;
}
const leHex = (h: string) => {
  const n = parseInt(h, 16) >>> 0;
  return (((n & 255) << 24) | (((n >>> 8) & 255) << 16) | (((n >>> 16) & 255) << 8) | (n >>> 24)) >>> 0;
};

/** Reads the host's IPv4 routes (impure helper; the decision functions take the result). */
export function readHostRoutes(): { iface: string; cidr: Cidr }[] {
  try {
    return parseProcRoutes(readFileSync('/proc/net/route', 'utf8'));
  } catch {
    return [];
  }
}

/**
 * The first subnet of `prefix` bits inside `pool` that overlaps none of `avoid` (host routes,
 * other niwa networks). Throws when the pool is exhausted.
 */
export function pickSubnet(avoid: Cidr[], pool: string = DEFAULT_POOL, prefix = DEFAULT_PREFIX): Cidr {
  const p = parseCidr(pool);
  if (prefix < p.prefix) throw new UserError('E_NET_POOL', `cannot split pool ${pool} into /${prefix} subnets`);
  const step = 2 ** (32 - prefix);
  for (let base = p.base; base < p.base + size(p); base += step) {
    const c = { base: base >>> 0, prefix };
    if (!avoid.some((a) => overlaps(a, c))) return c;
  }
  throw new RuntimeFailure('E_NET_POOL_FULL', `no free /${prefix} subnet left in the pool ${pool}: every one overlaps a host route or another niwa network`, { hint: 'remove unused projects (niwa compose ls / down), or give the network an ipam subnet outside 10.89.0.0/16' });
}

/** The lowest free host address of the subnet, after the gateway (never network or broadcast). */
export function pickAddress(subnet: Cidr, taken: Iterable<string>): string {
  const used = new Set(taken);
  used.add(gatewayOf(subnet));
  const last = subnet.base + size(subnet) - 2; // before broadcast
  for (let ip = subnet.base + 1; ip <= last; ip++) {
    const s = formatIp(ip);
    if (!used.has(s)) return s;
  }
  throw new RuntimeFailure('E_NET_FULL', `subnet ${formatCidr(subnet)} is full: all ${size(subnet) - 3} container addresses are in use`, { hint: 'give the network a larger ipam subnet' });
}

// ---------------------------------------------------------------------------
// the lease database (pure transformations)

export interface Lease {
  address: string;
  /** Names this container answers to on the network (service name, aliases), besides its own. */
  aliases: string[];
  /** Interface name inside the container (eth0 …) and host-side veth. */
  ifname: string;
  veth: string;
  /** The container's network namespace file. */
  netns: string;
  /** The container's hostname, listed with its own address in its /etc/hosts. */
  hostname?: string;
  /** Compose `extra_hosts`: more lines for this container's /etc/hosts only. */
  extraHosts?: { host: string; ip: string }[];
  /** Compose `links`: other containers of the project by an alias, in this container's /etc/hosts only. */
  links?: { container: string; alias: string }[];
}
export interface NetworkRecord {
  project: string;
  network: string;
  bridge: string;
  subnet: string;
  gateway: string;
  leases: Record<string, Lease>;
}
export interface LeaseDb {
  version: 1;
  /** By `project/network`. */
  networks: Record<string, NetworkRecord>;
}

export const emptyDb = (): LeaseDb => ({ version: 1, networks: {} });
export const networkKey = (project: string, network: string) => `${project}/${network}`;

/**
 * Reserve (or find) a network's subnet. A requested subnet must not overlap host routes other
 * than this network's own bridge, nor another niwa network; otherwise the first free one of the pool.
 */
export function reserveNetwork(
  db: LeaseDb,
  o: { project: string; network: string; bridge: string; subnet?: string; pool?: string; routes: { iface: string; cidr: Cidr }[] },
): { db: LeaseDb; net: NetworkRecord } {
  const key = networkKey(o.project, o.network);
  const existing = db.networks[key];
  if (existing && (!o.subnet || existing.subnet === formatCidr(parseCidr(o.subnet)))) return { db, net: existing };
  if (existing) throw new UserError('E_NET_SUBNET', `network ${key} already exists with subnet ${existing.subnet}, not ${o.subnet}`, [], 'remove it first (niwa compose down)');
  const others = Object.values(db.networks).map((n) => ({ iface: n.bridge, cidr: parseCidr(n.subnet) }));
  const avoid = [...o.routes, ...others].filter((r) => r.iface !== o.bridge);
  let subnet: Cidr;
  if (o.subnet) {
    subnet = parseCidr(o.subnet);
    const clash = avoid.find((r) => overlaps(r.cidr, subnet));
    if (clash) throw new UserError('E_NET_OVERLAP', `subnet ${formatCidr(subnet)} of network ${key} overlaps ${formatCidr(clash.cidr)}, already routed on the host via ${clash.iface}`, [], 'choose another subnet (or leave ipam out: niwa picks a free one)');
  } else {
    subnet = pickSubnet(avoid.map((r) => r.cidr), o.pool);
  }
  const net: NetworkRecord = { project: o.project, network: o.network, bridge: o.bridge, subnet: formatCidr(subnet), gateway: gatewayOf(subnet), leases: {} };
  return { db: { ...db, networks: { ...db.networks, [key]: net } }, net };
}

/** Reserve (or find) the address of a container on a network; `address` asks for a fixed one. */
export function reserveAddress(
  db: LeaseDb,
  key: string,
  container: string,
  o: Omit<Lease, 'address'> & { address?: string },
): { db: LeaseDb; lease: Lease } {
  const net = db.networks[key];
  if (!net) throw new RuntimeFailure('E_NET_MISSING', `network ${key} does not exist`, { hint: 'niwa compose up creates it' });
  const subnet = parseCidr(net.subnet);
  const prev = net.leases[container];
  const taken = Object.entries(net.leases).filter(([c]) => c !== container).map(([, l]) => l.address);
  let address: string;
  if (o.address) {
    const ip = parseIp(o.address);
    if (!contains(subnet, ip) || ip === subnet.base || ip === subnet.base + size(subnet) - 1 || o.address === net.gateway) {
      throw new UserError('E_NET_ADDRESS', `address ${o.address} for ${container} is not a usable host address of ${net.subnet}`, [], `not the network or broadcast address, nor the gateway ${net.gateway}`);
    }
    if (taken.includes(o.address)) throw new RuntimeFailure('E_ADDRESS_IN_USE', `address ${o.address} on network ${key} is already taken`, { hint: 'give each service its own ipv4_address, or leave it out' });
    address = o.address;
  } else {
    address = prev?.address ?? pickAddress(subnet, taken);
  }
  const lease: Lease = {
    address, aliases: [...o.aliases], ifname: o.ifname, veth: o.veth, netns: o.netns,
    ...(o.hostname ? { hostname: o.hostname } : {}), ...(o.extraHosts?.length ? { extraHosts: o.extraHosts } : {}),
    ...(o.links?.length ? { links: o.links } : {}),
  };
  return { db: { ...db, networks: { ...db.networks, [key]: { ...net, leases: { ...net.leases, [container]: lease } } } }, lease };
}

export function releaseAddress(db: LeaseDb, key: string, container: string): LeaseDb {
  const net = db.networks[key];
  if (!net || !net.leases[container]) return db;
  const leases = { ...net.leases };
  delete leases[container];
  return { ...db, networks: { ...db.networks, [key]: { ...net, leases } } };
}

export function releaseNetwork(db: LeaseDb, key: string): LeaseDb {
  if (!db.networks[key]) return db;
  const networks = { ...db.networks };
  delete networks[key];
  return { ...db, networks };
}

// ---------------------------------------------------------------------------
// persistence

export function loadLeases(file: string): LeaseDb {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return emptyDb();
    throw e;
  }
  const db = JSON.parse(text) as LeaseDb;
  if (db.version !== 1 || typeof db.networks !== 'object') throw new RuntimeFailure('E_NET_LEASES', `${file}: not a niwa lease database (version ${String(db.version)})`, { hint: 'move it away; niwa compose down of each project then recreates it' });
  return db;
}

function saveLeases(file: string, db: LeaseDb): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(db, null, 2) + '\n', { mode: 0o600 });
  renameSync(tmp, file);
}

let chain: Promise<unknown> = Promise.resolve();

/**
 * Read-modify-write of the lease file, serialised inside this process (a promise chain) and across
 * niwa processes (an O_EXCL lock file; a lock whose owner pid is gone is taken over).
 */
export function withLeases<T>(file: string, f: (db: LeaseDb) => { db: LeaseDb; result: T } | Promise<{ db: LeaseDb; result: T }>): Promise<T> {
  const run = async (): Promise<T> => {
    // The state root stays traversable (0755): user-namespace containers reach their root mount point under it.
    mkdirSync(dirname(dirname(file)), { recursive: true, mode: 0o755 });
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    const lock = `${file}.lock`;
    await acquire(lock);
    try {
      const before = loadLeases(file);
      const { db, result } = await f(before);
      if (db !== before) saveLeases(file, db);
      return result;
    } finally {
      rmSync(lock, { force: true });
    }
  };
  const p = chain.then(run, run);
  chain = p.catch(() => undefined);
  return p;
}

async function acquire(lock: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    try {
      const fd = openSync(lock, 'wx', 0o600);
      writeFileSync(fd, String(process.pid));
      closeSync(fd);
      return;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const owner = Number(safeRead(lock));
      if (owner && !alive(owner)) rmSync(lock, { force: true });
      else await new Promise((r) => setTimeout(r, 10));
    }
  }
  throw new RuntimeFailure('E_NET_LOCK', `timed out waiting for the lease lock ${lock} (held by pid ${safeRead(lock) || '?'})`, { hint: 'another niwa is changing networks; if that process is stuck, stop it' });
}
const safeRead = (p: string) => {
  try { return readFileSync(p, 'utf8').trim(); } catch { return ''; }
};
const alive = (pid: number) => {
  try { process.kill(pid, 0); return true; } catch (e) { return (e as NodeJS.ErrnoException).code === 'EPERM'; }
};
