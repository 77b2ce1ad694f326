// Compose phase 4, normalise (per file, after the schema): every short syntax becomes the long
// one, so merges and the mapping compare like with like — lists of KEY=VALUE become mappings,
// ports and volumes become objects, depends_on and networks become mappings, relative host paths
// become absolute (against the directory given: the project's for -f files, the other file's
// for `extends: {file}`). One table row per key; locations are carried over.
import { homedir } from 'node:os';
import { isAbsolute, resolve } from 'node:path';
import type { ErrorDetail } from '../errors.js';
import { cloneLoc, copyLoc, detailAt, getLoc, getMark, selfLoc, setLoc, setMark, setSelfLoc } from './loc.js';

type Obj = Record<string, unknown>;
interface Ctx { dir: string; root: unknown; path: (string | number)[]; errors: ErrorDetail[] }

const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

/** A host path as Compose reads it: `~` is the home directory, relative is against `dir`. */
export function hostPath(p: string, dir: string): string {
  if (p === '~' || p.startsWith('~/')) return resolve(homedir(), p.slice(2));
  return isAbsolute(p) ? resolve(p) : resolve(dir, p);
}

/** list of "K=V" (or "K" alone: null, or "" when !nullForBare) or a mapping → a mapping of strings. */
function listOrDict(v: unknown, nullForBare = true): Obj {
  const out: Obj = {};
  if (Array.isArray(v)) {
    v.forEach((item, i) => {
      const s = String(item);
      const at = s.indexOf('=');
      const k = at < 0 ? s : s.slice(0, at);
      out[k] = at < 0 ? (nullForBare ? null : '') : s.slice(at + 1);
      copyLoc(v, i, out, k);
    });
  } else if (isObj(v)) {
    for (const [k, x] of Object.entries(v)) {
      out[k] = x === null ? null : typeof x === 'object' ? x : String(x);
      copyLoc(v, k, out);
    }
  }
  setSelfLoc(out, selfLoc(v));
  return out;
}

function stringOrList(v: unknown): string[] | unknown {
  if (typeof v === 'string') return [v];
  if (Array.isArray(v)) return strings(v);
  return v;
}

/** Items as strings, locations kept. */
function strings(v: unknown[]): string[] {
  const out = v.map(String);
  v.forEach((_, i) => copyLoc(v, i, out));
  setSelfLoc(out, selfLoc(v));
  return out;
}

/** "[[host_ip:]published:]target[/protocol]" → one port object per target port (ranges expanded). */
export function parsePortShort(spec: string | number): { ports: Obj[]; error?: string } {
  const s = String(spec).trim();
  let proto = 'tcp';
  let rest = s;
  const slash = s.lastIndexOf('/');
  if (slash >= 0) { proto = s.slice(slash + 1); rest = s.slice(0, slash); }
  let hostIp: string | undefined;
  // An IPv6 host address is bracketed: [::1]:8080:80
  const v6 = /^\[([^\]]+)\]:(.*)$/.exec(rest);
  if (v6) { hostIp = v6[1]; rest = v6[2]; }
  const parts = rest.split(':');
  let published: string | undefined;
  let target: string;
  if (parts.length === 1) target = parts[0];
  else if (parts.length === 2) { published = parts[0]; target = parts[1]; }
  else if (parts.length === 3 && !hostIp) { hostIp = parts[0]; published = parts[1]; target = parts[2]; }
  else return { ports: [], error: `${JSON.stringify(s)} is not a port mapping` };
  if (published === '') published = undefined;
  const range = (r: string) => {
    const m = /^(\d+)(?:-(\d+))?$/.exec(r);
    if (!m) return undefined;
    const a = Number(m[1]);
    const b = m[2] !== undefined ? Number(m[2]) : a;
    return b >= a && b <= 65535 ? [a, b] : undefined;
  };
  const t = range(target);
  if (!t) return { ports: [], error: `${JSON.stringify(s)}: ${JSON.stringify(target)} is not a port or range` };
  const p = published !== undefined ? range(published) : undefined;
  if (published !== undefined && !p) return { ports: [], error: `${JSON.stringify(s)}: ${JSON.stringify(published)} is not a port or range` };
  const n = t[1] - t[0] + 1;
  // a host range for one target port is allowed (Compose: each replica of a scaled service takes the next free one)
  if (p && p[1] - p[0] + 1 !== n && p[0] !== p[1] && n !== 1) return { ports: [], error: `${JSON.stringify(s)}: the published range and the target range differ in size` };
  const out: Obj[] = [];
  for (let i = 0; i < n; i++) {
    const o: Obj = { target: t[0] + i, protocol: proto, mode: 'ingress' };
    if (p) o.published = p[0] === p[1] && n > 1 ? `${p[0]}` : n > 1 ? String(p[0] + i) : (published as string);
    if (hostIp) o.host_ip = hostIp;
    out.push(o);
  }
  return { ports: out };
}

const VOLUME_FLAGS = new Set(['ro', 'rw', 'z', 'Z', 'nocopy', 'shared', 'rshared', 'slave', 'rslave', 'private', 'rprivate', 'cached', 'delegated', 'consistent']);

/**
 * "source:target[:mode]" or "target" → a long-syntax volume. An empty section (":/data", often an
 * unset variable: "${SRC}:/data") is an error, as in Compose, not an anonymous volume.
 */
export function parseVolumeShort(spec: string, dir: string): { volume?: Obj; error?: string; hint?: string } {
  const parts = spec.split(':');
  if (parts.some((p) => p === '')) {
    return { error: `${JSON.stringify(spec)}: empty section between colons`, hint: 'a variable that is not set becomes an empty string: set it, or give a default such as ${DATA:-./data}' };
  }
  let source: string | undefined;
  let target: string;
  let mode: string | undefined;
  if (parts.length === 1) target = parts[0];
  else if (parts.length === 2) {
    if (parts[1].startsWith('/')) { source = parts[0]; target = parts[1]; } else { target = parts[0]; mode = parts[1]; }
  } else if (parts.length === 3) { [source, target, mode] = parts; }
  else return { error: `${JSON.stringify(spec)} is not a volume (SOURCE:TARGET[:MODE])` };
  if (!target.startsWith('/')) return { error: `${JSON.stringify(spec)}: the target ${JSON.stringify(target)} is not an absolute path` };
  const v: Obj = {};
  if (source === undefined || source === '') { v.type = 'volume'; }
  else if (source.startsWith('.') || source.startsWith('/') || source.startsWith('~')) { v.type = 'bind'; v.source = hostPath(source, dir); v.bind = { create_host_path: true }; }
  else { v.type = 'volume'; v.source = source; }
  v.target = target;
  for (const flag of (mode ?? '').split(',').filter(Boolean)) {
    if (!VOLUME_FLAGS.has(flag)) return { error: `${JSON.stringify(spec)}: unknown volume option ${JSON.stringify(flag)}` };
    if (flag === 'ro') v.read_only = true;
    else if (flag === 'rw') v.read_only = false;
    else if (flag === 'nocopy') v.volume = { nocopy: true };
    else if (flag === 'z' || flag === 'Z') v.bind = { ...(v.bind as Obj), selinux: flag };
    else if (/^r?(shared|slave|private)$/.test(flag)) v.bind = { ...(v.bind as Obj), propagation: flag };
    else v.consistency = flag;
  }
  return { volume: v };
}

/** Normalise one service in place of a copy; problems go to ctx.errors. */
export function normalizeService(svc: Obj, ctx: Ctx): Obj {
  const s = cloneLoc(svc);
  const at = (k: string | number, ...more: (string | number)[]) => [...ctx.path, k, ...more];
  const err = (p: (string | number)[], msg: string, hint?: string) => ctx.errors.push(detailAt(ctx.root, p, msg, hint));
  const keepLoc = (k: string, v: unknown) => {
    const l = getLoc(s, k);
    const mark = getMark(s, k);
    s[k] = v;
    if (l) setLoc(s, k, l);
    if (mark) setMark(s, k, mark);
  };
  for (const k of ['environment', 'labels', 'annotations', 'sysctls']) if (s[k] !== undefined && s[k] !== null) keepLoc(k, listOrDict(s[k], k === 'environment'));
  if (k(s, 'extra_hosts')) {
    const v = s.extra_hosts;
    const out: Obj = {};
    if (Array.isArray(v)) v.forEach((item, i) => {
      const str = String(item);
      const eq = str.indexOf('=');
      const c = eq >= 0 ? eq : str.indexOf(':');
      if (c < 0) { err(at('extra_hosts', i), `${JSON.stringify(str)} is not HOST:IP or HOST=IP`); return; }
      const host = str.slice(0, c);
      out[host] = [...((out[host] as string[]) ?? []), str.slice(c + 1).replace(/^\[(.*)\]$/, '$1')];
      copyLoc(v, i, out, host);
    });
    else if (isObj(v)) for (const [h, ip] of Object.entries(v)) { out[h] = Array.isArray(ip) ? ip.map(String) : [String(ip)]; copyLoc(v, h, out); }
    keepLoc('extra_hosts', out);
  }
  if (k(s, 'env_file')) {
    const v = s.env_file;
    const list = (Array.isArray(v) ? v : [v]).map((e) => (typeof e === 'string' ? { path: e, required: true } : { required: true, ...(e as Obj) }));
    const out = list.map((e, i) => {
      const o: Obj = { ...e, path: hostPath(String(e.path), ctx.dir), required: e.required !== false && (e.required as unknown) !== 'false' };
      if (Array.isArray(v)) copyLoc(v, i, o, 'path');
      return o;
    });
    if (Array.isArray(v)) v.forEach((_, i) => copyLoc(v, i, out));
    keepLoc('env_file', out);
  }
  if (k(s, 'label_file')) {
    const v = s.label_file;
    const list = Array.isArray(v) ? strings(v) : [String(v)];
    const out = list.map((p) => hostPath(p, ctx.dir));
    if (Array.isArray(v)) v.forEach((_, i) => copyLoc(v, i, out));
    else copyLoc(s, 'label_file', out, 0);
    keepLoc('label_file', out);
  }
  if (k(s, 'depends_on')) {
    const v = s.depends_on;
    const out: Obj = {};
    if (Array.isArray(v)) v.forEach((name, i) => { out[String(name)] = { condition: 'service_started', required: true }; copyLoc(v, i, out, String(name)); });
    else if (isObj(v)) for (const [name, d] of Object.entries(v)) {
      const o = { condition: 'service_started', required: true, ...(isObj(d) ? d : {}) } as Obj;
      if (typeof o.required === 'string') o.required = o.required !== 'false';
      if (typeof o.restart === 'string') o.restart = o.restart === 'true';
      out[name] = o;
      copyLoc(v, name, out);
      if (isObj(d)) for (const kk of Object.keys(d)) copyLoc(d, kk, o);
    }
    keepLoc('depends_on', out);
  }
  if (k(s, 'networks') && Array.isArray(s.networks)) {
    const v = s.networks as unknown[];
    const out: Obj = {};
    v.forEach((n, i) => { out[String(n)] = null; copyLoc(v, i, out, String(n)); });
    keepLoc('networks', out);
  }
  if (k(s, 'ports')) {
    const v = s.ports as unknown[];
    const out: unknown[] = [];
    v.forEach((p, i) => {
      if (isObj(p)) {
        const o: Obj = { ...p, protocol: p.protocol ?? 'tcp', mode: p.mode ?? 'ingress' };
        if (o.target !== undefined) o.target = Number(o.target);
        if (o.published !== undefined && o.published !== null) o.published = String(o.published);
        if (!Number.isInteger(o.target)) { err(at('ports', i, 'target'), `${JSON.stringify(p.target)} is not a port number`); return; }
        for (const kk of Object.keys(p)) copyLoc(p, kk, o);
        copyLoc(v, i, out, out.length);
        out.push(o);
        return;
      }
      const r = parsePortShort(p as string | number);
      if (r.error) { err(at('ports', i), r.error, 'write [HOST_IP:][PUBLISHED:]TARGET[/PROTOCOL], e.g. "8080:80" or "127.0.0.1:5432:5432"'); return; }
      for (const o of r.ports) { copyLoc(v, i, out, out.length); out.push(o); }
    });
    keepLoc('ports', out);
  }
  if (k(s, 'expose')) keepLoc('expose', strings(s.expose as unknown[]));
  if (k(s, 'volumes')) {
    const v = s.volumes as unknown[];
    const out: unknown[] = [];
    v.forEach((x, i) => {
      let o: Obj;
      if (typeof x === 'string') {
        const r = parseVolumeShort(x, ctx.dir);
        if (r.error) { err(at('volumes', i), r.error, r.hint ?? 'write SOURCE:TARGET[:ro], e.g. ./data:/data or dbdata:/var/lib/db'); return; }
        o = r.volume!;
      } else {
        o = cloneLoc(x as Obj);
        if (o.type === 'bind' && typeof o.source === 'string') o.source = hostPath(o.source, ctx.dir);
        if (typeof o.read_only === 'string') o.read_only = o.read_only === 'true';
      }
      copyLoc(v, i, out, out.length);
      out.push(o);
    });
    keepLoc('volumes', out);
  }
  // devices, long syntax {source, target, permissions} → the short "source:target:permissions" (each
  // entry keeping its location, so that a problem with it points at its line)
  if (Array.isArray(s.devices)) {
    const v = s.devices as unknown[];
    const out = v.map((d) => (isObj(d) && typeof d.source === 'string' ? [d.source, d.target ?? d.source, d.permissions ?? 'rwm'].join(':') : d));
    v.forEach((_, i) => copyLoc(v, i, out));
    setSelfLoc(out, selfLoc(v));
    keepLoc('devices', out);
  }
  for (const key of ['tmpfs', 'cap_add', 'cap_drop', 'dns', 'dns_search', 'dns_opt', 'security_opt', 'devices', 'profiles', 'group_add']) {
    if (k(s, key)) keepLoc(key, stringOrList(s[key]));
  }
  // a secret's or config's file mode written as a string is octal ("0440"), as Compose reads it
  for (const key of ['secrets', 'configs']) {
    if (Array.isArray(s[key])) for (const r of s[key] as unknown[]) if (isObj(r) && typeof r.mode === 'string' && /^[0-7]+$/.test(r.mode)) r.mode = parseInt(r.mode, 8);
  }
  if (isObj(s.healthcheck)) {
    const h = s.healthcheck;
    if (typeof h.test === 'string') { const l = getLoc(h, 'test'); h.test = ['CMD-SHELL', h.test]; setLoc(h, 'test', l); }
    if (typeof h.retries === 'string' && /^\d+$/.test(h.retries)) h.retries = Number(h.retries);
  }
  if (typeof s.extends === 'string') keepLoc('extends', { service: s.extends });
  if (typeof s['x-niwa-rootfs'] === 'string') keepLoc('x-niwa-rootfs', hostPath(s['x-niwa-rootfs'] as string, ctx.dir));
  if (typeof s.build === 'string') keepLoc('build', { context: s.build });
  if (isObj(s.build) && typeof s.build.context === 'string' && !/^[a-z]+:\/\/|^git@/.test(s.build.context)) s.build.context = hostPath(s.build.context, ctx.dir);
  return s;
}
const k = (s: Obj, key: string) => s[key] !== undefined && s[key] !== null;

/**
 * A service written with no value (`nil:`) is an empty service, as Compose reads it: `{}` in place
 * (located at its key), before the schema, which wants a mapping. Compose's later rules still apply
 * to it (it needs a command or an image to run), and other services may extend it.
 */
export function emptyServices(data: Obj): void {
  if (!isObj(data.services)) return;
  for (const [name, svc] of Object.entries(data.services)) {
    if (svc !== null) continue;
    const empty: Obj = {};
    setSelfLoc(empty, getLoc(data.services, name));
    data.services[name] = empty;
  }
}

/** Normalise a whole file: services, null top-level networks/volumes entries → {}, secret and config files → absolute. */
export function normalizeFile(data: Obj, dir: string, errors: ErrorDetail[]): Obj {
  const out = cloneLoc(data);
  if (isObj(out.services)) {
    const services = out.services;
    for (const [name, svc] of Object.entries(services)) {
      const n = normalizeService(isObj(svc) ? svc : {}, { dir, root: data, path: ['services', name], errors });
      services[name] = n;
    }
  }
  for (const top of ['networks', 'volumes', 'secrets', 'configs']) {
    const m = out[top];
    if (!isObj(m)) continue;
    for (const [name, v] of Object.entries(m)) {
      if (v === null) m[name] = {};
      // a secret's or config's file is relative to the directory of the project that defines it (an included one's own)
      else if ((top === 'secrets' || top === 'configs') && isObj(v) && typeof v.file === 'string') v.file = hostPath(v.file, dir);
    }
  }
  return out;
}
