// Published ports (compose `ports`): parsing every short and long form, and a userspace TCP/UDP
// proxy (node:net, node:dgram) that listens on the host and forwards to the container's address.
// It runs in the supervisor. A port already in use is refused with a message naming its owner
// when /proc tells (pid and program).
import * as net from 'node:net';
import * as dgram from 'node:dgram';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { RuntimeFailure, UserError } from '../../errors.js';

export type Protocol = 'tcp' | 'udp';

export interface PortMapping {
  /** Address to listen on ('0.0.0.0' unless given; '::1', '127.0.0.1' …). */
  hostIp: string;
  /** Host port; 0 = any free port (compose `"80"` with no published port). */
  hostPort: number;
  containerPort: number;
  protocol: Protocol;
}

/** Compose long syntax. */
export interface PortObject {
  target: number | string;
  published?: number | string;
  host_ip?: string;
  protocol?: string;
  mode?: string;
  name?: string;
  app_protocol?: string;
}

const bad = (spec: string, why: string) => new UserError('E_PORT_SPEC', `invalid port '${spec}': ${why}`, [], 'forms: "80", "8080:80", "127.0.0.1:8080:80", "8000-8001:80-81", "53:53/udp", "[::1]:8080:80", or {target, published, host_ip, protocol}');

function portRange(s: string, spec: string, allowZero = false): [number, number] {
  const m = /^(\d+)(?:-(\d+))?$/.exec(s);
  if (!m) throw bad(spec, `'${s}' is not a port or a port range`);
  const a = Number(m[1]);
  const b = m[2] === undefined ? a : Number(m[2]);
  for (const p of [a, b]) if (p > 65535 || (p < 1 && !(allowZero && p === 0))) throw bad(spec, `port ${p} is outside 1–65535`);
  if (b < a) throw bad(spec, `range ${s} runs backwards`);
  return [a, b];
}

/** Parses one compose `ports` entry into one mapping per port. */
export function parsePort(entry: string | number | PortObject): PortMapping[] {
  if (typeof entry === 'object' && entry !== null) return parseLong(entry);
  const spec = String(entry).trim();
  let rest = spec;
  let protocol: Protocol = 'tcp';
  const slash = rest.lastIndexOf('/');
  if (slash >= 0) {
    protocol = proto(rest.slice(slash + 1), spec);
    rest = rest.slice(0, slash);
  }
  let hostIp = '0.0.0.0';
  const v6 = /^\[([0-9a-fA-F:.]+)\]:(.*)$/.exec(rest);
  if (v6) {
    hostIp = v6[1];
    rest = v6[2];
  }
  const parts = rest.split(':');
  if (!v6 && parts.length === 3) hostIp = parts.shift()!;
  else if (parts.length > 2 || (v6 && parts.length !== 2)) throw bad(spec, 'too many ":"');
  if (!net.isIP(hostIp)) throw bad(spec, `'${hostIp}' is not an IP address`);
  const container = portRange(parts[parts.length - 1], spec);
  const published = parts.length === 2 && parts[0] !== '' ? portRange(parts[0], spec, true) : null;
  return expand(spec, hostIp, published, container, protocol);
}

function parseLong(o: PortObject): PortMapping[] {
  const spec = JSON.stringify(o);
  if (o.target === undefined) throw bad(spec, 'target (the container port) is required');
  if (o.mode !== undefined && o.mode !== 'host' && o.mode !== 'ingress') throw bad(spec, `mode '${o.mode}' is not host or ingress`);
  const hostIp = o.host_ip ?? '0.0.0.0';
  if (!net.isIP(hostIp)) throw bad(spec, `host_ip '${hostIp}' is not an IP address`);
  const container = portRange(String(o.target), spec);
  const published = o.published === undefined || o.published === '' ? null : portRange(String(o.published), spec, true);
  return expand(spec, hostIp, published, container, proto(o.protocol ?? 'tcp', spec));
}

function proto(p: string, spec: string): Protocol {
  const l = p.toLowerCase();
  if (l === 'tcp' || l === 'udp') return l;
  if (l === 'sctp') throw bad(spec, 'sctp is not supported by niwa\'s port proxy (tcp and udp are)');
  throw bad(spec, `protocol '${p}' is not tcp or udp`);
}

function expand(spec: string, hostIp: string, published: [number, number] | null, container: [number, number], protocol: Protocol): PortMapping[] {
  const n = container[1] - container[0] + 1;
  if (published && published[0] !== 0) {
    const m = published[1] - published[0] + 1;
    // compose allows a host range for one container port ("8000-8010:80": any free one of them); we take the first.
    if (m !== n && n !== 1) throw bad(spec, `host range has ${m} ports but container range has ${n}`);
    if (n === 1 && m > 1) return [{ hostIp, hostPort: published[0], containerPort: container[0], protocol }];
  }
  const out: PortMapping[] = [];
  for (let i = 0; i < n; i++) out.push({ hostIp, hostPort: published && published[0] !== 0 ? published[0] + i : 0, containerPort: container[0] + i, protocol });
  return out;
}

export function formatMapping(m: PortMapping): string {
  const ip = m.hostIp.includes(':') ? `[${m.hostIp}]` : m.hostIp;
  return `${ip}:${m.hostPort}->${m.containerPort}/${m.protocol}`;
}

// ---------------------------------------------------------------------------
// who holds a port: /proc/net/{tcp,udp}{,6}

export interface ProcSocket { localIp: string; localPort: number; state: number; inode: number }

/** Parses /proc/net/tcp, tcp6, udp or udp6 (addresses are hex words in host byte order). */
export function parseProcNet(text: string): ProcSocket[] {
  const out: ProcSocket[] = [];
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10) continue;
    const [addr, port] = f[1].split(':');
    out.push({ localIp: hexAddr(addr), localPort: parseInt(port, 16), state: parseInt(f[3], 16), inode: Number(f[9]) });
  }
  return out;
}

function hexAddr(h: string): string {
  const word = (w: string) => {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(parseInt(w, 16) >>> 0);
    return [...b];
  };
  if (h.length === 8) return word(h).join('.');
  const bytes: number[] = [];
  for (let i = 0; i < 32; i += 8) bytes.push(...word(h.slice(i, i + 8)));
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i] << 8) | bytes[i + 1]).toString(16));
  const v6 = groups.join(':');
  if (v6.startsWith('0:0:0:0:0:ffff:')) return `${bytes[12]}.${bytes[13]}.${bytes[14]}.${bytes[15]}`;
  return v6.replace(/(^|:)0(:0)+(:|$)/, '::').replace(/:{3,}/, '::');
}

const TCP_LISTEN = 0x0a;
const UDP_UNCONN = 0x07;

/** The pid and program holding a listening socket on that port, if /proc shows one. */
export function portOwner(port: number, protocol: Protocol): { pid?: number; comm?: string; ip: string } | undefined {
  const inodes = new Map<number, string>();
  for (const f of protocol === 'tcp' ? ['tcp', 'tcp6'] : ['udp', 'udp6']) {
    let text = '';
    try { text = readFileSync(`/proc/net/${f}`, 'utf8'); } catch { continue; }
    for (const s of parseProcNet(text)) {
      if (s.localPort === port && s.state === (protocol === 'tcp' ? TCP_LISTEN : UDP_UNCONN)) inodes.set(s.inode, s.localIp);
    }
  }
  if (!inodes.size) return undefined;
  const firstIp = [...inodes.values()][0];
  let pids: string[] = [];
  try { pids = readdirSync('/proc').filter((d) => /^\d+$/.test(d)); } catch { /* no /proc */ }
  for (const pid of pids.slice(0, 100_000)) {
    let fds: string[];
    try { fds = readdirSync(`/proc/${pid}/fd`); } catch { continue; }
    for (const fd of fds) {
      let link: string;
      try { link = readlinkSync(`/proc/${pid}/fd/${fd}`); } catch { continue; }
      const m = /^socket:\[(\d+)\]$/.exec(link);
      if (m && inodes.has(Number(m[1]))) {
        let comm: string | undefined;
        try { comm = readFileSync(`/proc/${pid}/comm`, 'utf8').trim(); } catch { /* gone */ }
        return { pid: Number(pid), comm, ip: inodes.get(Number(m[1]))! };
      }
    }
  }
  return { ip: firstIp };
}

export class PortInUseError extends RuntimeFailure {
  constructor(readonly mapping: PortMapping, owner: ReturnType<typeof portOwner>, cause?: unknown) {
    const by = owner?.pid !== undefined
      ? ` (by pid ${owner.pid}${owner.comm ? ` ${owner.comm}` : ''}${owner.pid === process.pid ? ', this niwa process' : ''}${owner.ip !== mapping.hostIp ? ` on ${owner.ip}` : ''})`
      : '';
    super('E_PORT_IN_USE', `port ${mapping.hostPort}/${mapping.protocol} is already in use on ${mapping.hostIp}${by}`, {
      cause, hint: 'stop what uses it, or publish another host port (e.g. "8081:80")',
    });
  }
}

// ---------------------------------------------------------------------------
// the proxy

export interface Published {
  mapping: PortMapping;
  /** The port actually listened on (differs from mapping.hostPort when that was 0). */
  hostPort: number;
  /** Target the proxy forwards to. */
  target: { address: string; port: number };
}

export interface PortProxy {
  published: Published[];
  /** Active TCP connections + UDP sessions (for status views). */
  active(): number;
  /** Stops listening and ends every forwarded connection. */
  close(): Promise<void>;
}

/** UDP sessions idle this long are closed. */
const UDP_IDLE_MS = 60_000;
const UDP_MAX_SESSIONS = 4096;

/**
 * Listens on every mapping and forwards to `targetAddress` (the container's address on a
 * network the host is on). All or nothing: if one port cannot be opened, the others are closed
 * again and PortInUseError (or the system error) is thrown.
 */
export async function publishPorts(mappings: PortMapping[], targetAddress: string): Promise<PortProxy> {
  const closers: (() => Promise<void>)[] = [];
  const published: Published[] = [];
  let count = 0;
  const counter = { inc: () => count++, dec: () => count-- };
  try {
    for (const m of mappings) {
      const p = m.protocol === 'tcp' ? await tcpProxy(m, targetAddress, counter) : await udpProxy(m, targetAddress, counter);
      closers.push(p.close);
      published.push({ mapping: m, hostPort: p.port, target: { address: targetAddress, port: m.containerPort } });
    }
  } catch (e) {
    await Promise.all(closers.map((c) => c()));
    throw e;
  }
  return {
    published,
    active: () => count,
    close: async () => { await Promise.all(closers.map((c) => c())); },
  };
}

interface Counter { inc(): void; dec(): void }

function listenError(m: PortMapping, e: NodeJS.ErrnoException): Error {
  if (e.code === 'EADDRINUSE') return new PortInUseError(m, portOwner(m.hostPort, m.protocol), e);
  if (e.code === 'EADDRNOTAVAIL') return new RuntimeFailure('E_PORT_ADDRESS', `cannot publish ${formatMapping(m)}: ${m.hostIp} is not an address of this host`, { cause: e });
  if (e.code === 'EACCES') return new RuntimeFailure('E_PORT_DENIED', `cannot publish ${formatMapping(m)}: ports below 1024 need root (or CAP_NET_BIND_SERVICE)`, { cause: e });
  return new RuntimeFailure('E_PORT', `cannot publish ${formatMapping(m)}: ${e.message}`, { cause: e });
}

function tcpProxy(m: PortMapping, target: string, counter: Counter): Promise<{ port: number; close: () => Promise<void> }> {
  const conns = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true }, (client) => {
    const upstream = net.connect({ host: target, port: m.containerPort, allowHalfOpen: true });
    conns.add(client);
    conns.add(upstream);
    counter.inc();
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      counter.dec();
      client.destroy();
      upstream.destroy();
      conns.delete(client);
      conns.delete(upstream);
    };
    client.on('error', finish);
    upstream.on('error', finish);
    // Each direction ends on its own (half-close); the pair is gone when both sockets closed.
    let closed = 0;
    const onClose = () => { if (++closed === 2) finish(); };
    client.on('close', onClose);
    upstream.on('close', onClose);
    upstream.on('connect', () => {
      client.pipe(upstream);
      upstream.pipe(client);
      client.resume();
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', (e) => reject(listenError(m, e as NodeJS.ErrnoException)));
    server.listen({ host: m.hostIp, port: m.hostPort, exclusive: true }, () => {
      server.removeAllListeners('error');
      server.on('error', () => {});
      resolve({
        port: (server.address() as net.AddressInfo).port,
        close: () => new Promise<void>((r) => {
          for (const c of conns) c.destroy();
          server.close(() => r());
        }),
      });
    });
  });
}

function udpProxy(m: PortMapping, target: string, counter: Counter): Promise<{ port: number; close: () => Promise<void> }> {
  const type = net.isIPv6(m.hostIp) ? 'udp6' : 'udp4';
  const server = dgram.createSocket({ type, reuseAddr: false });
  const sessions = new Map<string, { sock: dgram.Socket; timer: NodeJS.Timeout; queue: Buffer[] | null }>();
  const drop = (key: string) => {
    const s = sessions.get(key);
    if (!s) return;
    clearTimeout(s.timer);
    sessions.delete(key);
    counter.dec();
    try { s.sock.close(); } catch { /* already closed */ }
  };
  server.on('message', (msg, rinfo) => {
    const key = `${rinfo.address}|${rinfo.port}`;
    let s = sessions.get(key);
    if (!s) {
      if (sessions.size >= UDP_MAX_SESSIONS) drop(sessions.keys().next().value as string);
      const sock = dgram.createSocket(net.isIPv6(target) ? 'udp6' : 'udp4');
      sock.on('message', (reply) => {
        server.send(reply, rinfo.port, rinfo.address);
        const cur = sessions.get(key);
        if (cur) cur.timer.refresh();
      });
      sock.on('error', () => drop(key));
      const session = { sock, timer: setTimeout(() => drop(key), UDP_IDLE_MS), queue: [] as Buffer[] | null };
      session.timer.unref();
      sock.connect(m.containerPort, target, () => {
        const q = session.queue ?? [];
        session.queue = null; // connected: send directly from now on
        for (const b of q) sendConnected(sock, b);
      });
      s = session;
      sessions.set(key, s);
      counter.inc();
    } else s.timer.refresh();
    if (s.queue) { if (s.queue.length < 64) s.queue.push(msg); } else sendConnected(s.sock, msg);
  });
  return new Promise((resolve, reject) => {
    server.once('error', (e) => reject(listenError(m, e as NodeJS.ErrnoException)));
    server.bind({ address: m.hostIp, port: m.hostPort, exclusive: true }, () => {
      server.removeAllListeners('error');
      server.on('error', () => {});
      resolve({
        port: server.address().port,
        close: () => new Promise<void>((r) => {
          for (const k of [...sessions.keys()]) drop(k);
          server.close(() => r());
        }),
      });
    });
  });
}

function sendConnected(sock: dgram.Socket, msg: Buffer): void {
  try { sock.send(msg); } catch { /* closed meanwhile */ }
}
