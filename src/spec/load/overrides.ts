// Phase 2b, overrides: Docker-style `niwa run`/`niwa plan` options applied over the spec as written
// (after read/plain, before the schema), so a bad value is reported under the option's name
// (`--memory: "12x" is not a size`) and every spec field an option set remembers that option as its
// source (CanonicalSpec.fromFlags → `niwa plan --explain` says "from: option --memory").
// The short forms Docker and Compose share are parsed by the compose loader's own helpers.
import { isAbsolute, resolve } from 'node:path';
import { readFileSync } from 'node:fs';
import { parsePortShort, parseVolumeShort } from '../../compose/normalize.js';
import { dockerSeccomp } from '../../compose/to-spec.js';
import { readDotenv } from '../../compose/env.js';
import { DEFAULT_NAMESPACES } from '../defaults.js';
import { NAMESPACE_KINDS, type ContainerSpec, type MountSpec, type NamespaceKind, type NamespacesSpec, type RlimitValue } from '../types.js';
import type { LoadContext } from './context.js';
import { parseCpus, parseMode, parseSize } from './units.js';
import { suggestHint } from './suggest.js';
import { INTENDED_ANNOTATION } from '../../validate/warnings.js';

/** The options as given on the command line (repeatable ones as lists, in order). */
export interface RunOverrides {
  name?: string;
  /** After `--`: replaces process.args (the image's Cmd). */
  command?: string[];
  entrypoint?: string;
  env?: string[];
  envFile?: string[];
  volume?: string[];
  tmpfs?: string[];
  publish?: string[];
  workdir?: string;
  user?: string;
  memory?: string;
  cpus?: string;
  pidsLimit?: string;
  capAdd?: string[];
  capDrop?: string[];
  init?: boolean;
  readOnly?: boolean;
  network?: string;
  hostname?: string;
  securityOpt?: string[];
  ulimit?: string[];
  sysctl?: string[];
  tty?: boolean;
  /** niwa's own: namespaces to create, as a comma list. */
  ns?: string;
  root?: string;
  /** The terminal's TERM (passed through with -t unless -e TERM=… is given). */
  term?: string;
  /** Where relative paths on the command line resolve (default: the current directory). */
  cwd?: string;
  /** Environment for `-e NAME` with no value and for --env-file interpolation (default process.env). */
  hostEnv?: Record<string, string | undefined>;
}

type Spec = ContainerSpec & { process: NonNullable<ContainerSpec['process']> };

/** Applies `o` over `data` (a copy is changed). Problems go to ctx.errors under the option's name. */
export function applyOverrides(data: ContainerSpec, o: RunOverrides, ctx: LoadContext): ContainerSpec {
  const s = structuredClone({ ...data, process: { ...(data.process ?? {}) } }) as Spec;
  const sources = (ctx.flagSources ??= {});
  const from = (flag: string, ...fields: string[]) => { for (const f of fields) sources[f] = flag; };
  const bad = (flag: string, message: string, hint?: string) => { ctx.errors.push({ field: flag, message, ...(hint ? { hint } : {}) }); };
  const cwd = o.cwd ?? process.cwd();
  const hostEnv = o.hostEnv ?? process.env;
  const fromImage = typeof s.rootfs === 'object' && s.rootfs.image !== undefined;

  if (o.name !== undefined) { s.name = o.name; from('--name', 'name'); }
  if (o.root !== undefined) {
    if (o.root === 'pivot_root' || o.root === 'chroot') { s.root = o.root; from('--root', 'root'); }
    else bad('--root', `${JSON.stringify(o.root)} is not pivot_root or chroot`);
  }
  if (o.ns !== undefined) {
    const kinds = o.ns.split(',').map((k) => k.trim()).filter(Boolean);
    const unknown = kinds.filter((k) => !(NAMESPACE_KINDS as readonly string[]).includes(k));
    for (const k of unknown) bad('--ns', `unknown namespace ${JSON.stringify(k)}`, suggestHint(k, NAMESPACE_KINDS, 'namespaces'));
    if (!unknown.length) { s.namespaces = [...new Set(kinds)] as NamespaceKind[]; from('--ns', 'namespaces'); }
  }

  // --- process ---
  if (o.entrypoint !== undefined) {
    const e = o.entrypoint === '' ? [] : [o.entrypoint];
    if (fromImage) { s.process.entrypoint = e; if (!o.command) delete s.process.args; from('--entrypoint', 'process.entrypoint'); }
    else { s.process.args = [...e, ...(o.command ?? [])]; from('--entrypoint', 'process.args'); }
  }
  if (o.command?.length && !(o.entrypoint !== undefined && !fromImage)) { s.process.args = [...o.command]; from('--', 'process.args'); }
  const env: Record<string, string> = {};
  for (const f of o.envFile ?? []) {
    const path = resolve(cwd, f);
    const r = readDotenv(path, (n) => env[n] ?? hostEnv[n]);
    for (const e of r.errors) bad('--env-file', e.message, e.hint);
    for (const [k, v] of Object.entries(r.env)) { if (v !== null) env[k] = v; else if (hostEnv[k] !== undefined) env[k] = hostEnv[k]!; }
  }
  for (const kv of o.env ?? []) {
    const eq = kv.indexOf('=');
    if (eq === 0 || kv === '') { bad('-e', `${JSON.stringify(kv)} is not NAME=VALUE`, 'write -e NAME=VALUE, or -e NAME to pass NAME from this shell'); continue; }
    if (eq < 0) { if (hostEnv[kv] !== undefined) env[kv] = hostEnv[kv]!; } else env[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  if (o.tty) {
    s.process.tty = true; from('-t', 'process.tty');
    if (o.term && env.TERM === undefined && s.process.env?.TERM === undefined) env.TERM = o.term;
  }
  if (Object.keys(env).length) { s.process.env = { ...(s.process.env ?? {}), ...env }; from(o.env?.length ? '-e' : o.envFile?.length ? '--env-file' : '-t', 'process.env'); }
  if (o.workdir !== undefined) {
    if (!o.workdir.startsWith('/')) bad('-w', `${JSON.stringify(o.workdir)} is not an absolute path inside the container`);
    else { s.process.cwd = o.workdir; from('-w', 'process.cwd'); }
  }
  if (o.user !== undefined) {
    const [u, g] = o.user.split(':');
    const id = (x: string) => (/^\d+$/.test(x) ? Number(x) : x);
    if (!u) bad('-u', `${JSON.stringify(o.user)} is not USER[:GROUP]`);
    else {
      s.process.user = id(u);
      if (g) s.process.group = id(g); else delete s.process.group;
      from('-u', 'process.user', 'process.group');
    }
  }
  if (o.init) { s.process.init = true; from('--init', 'process.init'); }
  if (o.hostname !== undefined) { s.hostname = o.hostname; from('--hostname', 'hostname'); }

  // --- root and mounts ---
  if (o.readOnly) {
    s.rootfs = typeof s.rootfs === 'string' ? { path: s.rootfs, readonly: true } : { ...(s.rootfs ?? {}), readonly: true };
    from('--read-only', 'rootfs.readonly');
  }
  const mounts: MountSpec[] = [...(s.mounts ?? [])];
  for (const v of o.volume ?? []) {
    const r = parseVolumeShort(v, cwd);
    if (r.error || !r.volume) { bad('-v', r.error ?? `${JSON.stringify(v)} is not SRC:DST[:ro]`, r.hint ?? 'write -v /host/path:/container/path[:ro]'); continue; }
    const vol = r.volume as { type: string; source?: string; target: string; read_only?: boolean; bind?: { propagation?: string } };
    if (vol.type !== 'bind') { bad('-v', `${JSON.stringify(v)}: named and anonymous volumes are not supported by niwa run`, 'give a host path (./dir or /abs/dir) as the source, or use --tmpfs for scratch space'); continue; }
    const m: MountSpec = { type: 'bind', source: vol.source!, target: vol.target };
    if (vol.read_only) m.readonly = true;
    if (vol.bind?.propagation) m.propagation = vol.bind.propagation as never;
    from('-v', `mounts.${mounts.length}`);
    mounts.push(m);
  }
  for (const t of o.tmpfs ?? []) {
    const [target, opts = ''] = t.split(/:(.*)/s);
    if (!target.startsWith('/')) { bad('--tmpfs', `${JSON.stringify(target)} is not an absolute path`, 'write --tmpfs /path[:size=8M,mode=1777]'); continue; }
    const m: MountSpec = { type: 'tmpfs', target };
    const extra: string[] = [];
    for (const opt of opts.split(',').filter(Boolean)) {
      const [k, val] = opt.split('=');
      if (k === 'size' && val) { if (parseSize(val) === undefined) bad('--tmpfs', `size ${JSON.stringify(val)} is not a size`, 'e.g. size=64M'); m.size = val; }
      else if (k === 'mode' && val) { if (parseMode(val) === undefined) bad('--tmpfs', `mode ${JSON.stringify(val)} is not an octal mode`, 'e.g. mode=1777'); m.mode = val; }
      else if (k === 'ro') m.readonly = true;
      else if (k !== 'rw') extra.push(opt);
    }
    if (extra.length) m.options = extra;
    from('--tmpfs', `mounts.${mounts.length}`);
    mounts.push(m);
  }
  if (mounts.length) s.mounts = mounts;

  // --- network ---
  // none|host: namespaces.net as today (and no bridge network); bridge or NAME: spec `network` (a veth on
  // niwa's bridge, or on a compose project's network PROJECT_NETWORK); -p publishes and implies bridge.
  if (o.network !== undefined) {
    if (o.network === 'none') { s.namespaces = withNamespace(s.namespaces, 'net', true); from('--network', 'namespaces.net'); }
    else if (o.network === 'host') {
      s.namespaces = withNamespace(s.namespaces, 'net', false);
      from('--network', 'namespaces.net');
      // asked for by name: no warning that the host's network is shared
      const said = s.annotations?.[INTENDED_ANNOTATION];
      s.annotations = { ...(s.annotations ?? {}), [INTENDED_ANNOTATION]: said ? `${said}, host-net` : 'host-net' };
    } else if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/.test(o.network)) {
      bad('--network', `${JSON.stringify(o.network)} is not a network name`, 'none, host, bridge (niwa\'s bridge) or a compose project\'s network PROJECT_NETWORK, e.g. demo_default');
    } else {
      s.namespaces = withNamespace(s.namespaces, 'net', true);
      s.network = { ...(s.network ?? {}), mode: 'bridge', ...(o.network === 'bridge' ? {} : { name: o.network }) };
      if (o.network === 'bridge') delete s.network.name;
      from('--network', 'network', 'network.name');
    }
    if (o.network === 'none' || o.network === 'host') {
      if (o.publish?.length) bad('-p', `ports are published from a bridge network, not with --network ${o.network}`, o.network === 'host' ? 'with --network host the container listens on the host\'s ports itself: drop -p' : 'drop --network none, or -p');
      delete s.network;
    }
  }
  const ports: (string | number)[] = [];
  for (const p of o.publish ?? []) {
    const r = parsePortShort(p);
    if (r.error) { bad('-p', r.error, 'write -p [IP:]HOST:CONTAINER[/udp], e.g. -p 8080:80'); continue; }
    ports.push(p);
  }
  if (ports.length && o.network !== 'none' && o.network !== 'host') {
    s.namespaces = withNamespace(s.namespaces, 'net', true);
    s.network = { ...(s.network ?? {}), mode: 'bridge', ports: [...(s.network?.ports ?? []), ...ports] };
    from('-p', 'network.ports');
    if (o.network === undefined) from('-p', 'network');
  }

  // --- resources ---
  const cg = { ...(s.cgroup ?? {}) };
  if (o.memory !== undefined) {
    if (parseSize(o.memory) === undefined) bad('--memory', `${JSON.stringify(o.memory)} is not a size`, 'a number of bytes with an optional unit: 64m, 512M, 1g');
    else { cg.memory = o.memory; from('--memory', 'cgroup.memory'); }
  }
  if (o.cpus !== undefined) {
    if (parseCpus(o.cpus) === undefined) bad('--cpus', `${JSON.stringify(o.cpus)} is not a number of CPUs`, 'e.g. --cpus 0.5 or --cpus 2');
    else { cg.cpus = Number(o.cpus); from('--cpus', 'cgroup.cpus'); }
  }
  if (o.pidsLimit !== undefined) {
    const n = /^-?\d+$/.test(o.pidsLimit) ? Number(o.pidsLimit) : NaN;
    if (Number.isNaN(n)) bad('--pids-limit', `${JSON.stringify(o.pidsLimit)} is not a whole number`, 'e.g. --pids-limit 64 (0 or -1: no limit)');
    else if (n > 0) { cg.pids = n; from('--pids-limit', 'cgroup.pids'); }
    else delete cg.pids;
  }
  if (Object.keys(cg).length) s.cgroup = cg;
  if (o.ulimit?.length) {
    const rl: Record<string, RlimitValue> = { ...(s.rlimits ?? {}) };
    for (const u of o.ulimit) {
      const m = /^([a-z_]+)=(-?\d+|unlimited)(?::(-?\d+|unlimited))?$/i.exec(u);
      if (!m) { bad('--ulimit', `${JSON.stringify(u)} is not NAME=SOFT[:HARD]`, 'e.g. --ulimit nofile=1024:2048'); continue; }
      const lim = (x: string): number | 'unlimited' => (x === '-1' || x === 'unlimited' ? 'unlimited' : Number(x));
      rl[m[1]] = m[3] === undefined ? lim(m[2]) : { soft: lim(m[2]), hard: lim(m[3]) };
      from('--ulimit', `rlimits.${m[1]}`);
    }
    s.rlimits = rl;
  }
  if (o.sysctl?.length) {
    const sc: NonNullable<ContainerSpec['sysctls']> = { ...(s.sysctls ?? {}) };
    for (const kv of o.sysctl) {
      const eq = kv.indexOf('=');
      if (eq <= 0) { bad('--sysctl', `${JSON.stringify(kv)} is not NAME=VALUE`, 'e.g. --sysctl net.ipv4.ip_forward=1'); continue; }
      sc[kv.slice(0, eq)] = kv.slice(eq + 1);
      from('--sysctl', `sysctls.${kv.slice(0, eq)}`);
    }
    s.sysctls = sc;
  }

  // --- privileges ---
  const list = (v: string[] | undefined) => (v ?? []).flatMap((x) => x.split(',')).map((x) => x.trim()).filter(Boolean);
  const add = list(o.capAdd);
  const drop = list(o.capDrop);
  if (add.length || drop.length) {
    const caps = { ...(s.capabilities ?? {}) };
    if (drop.some((c) => /^(CAP_)?ALL$/i.test(c))) {
      // Docker: --cap-drop ALL --cap-add X leaves exactly X.
      caps.allow = add; delete caps.add; delete caps.drop;
      from('--cap-drop', 'capabilities');
      if (add.length) from('--cap-add', 'capabilities.allow');
    } else {
      if (add.length) { caps.add = [...(caps.add ?? []), ...add]; from('--cap-add', 'capabilities.add'); }
      if (drop.length) { caps.drop = [...(caps.drop ?? []), ...drop]; from('--cap-drop', 'capabilities.drop'); }
    }
    s.capabilities = caps;
  }
  for (const opt of o.securityOpt ?? []) {
    const m = /^([a-z-]+)(?:[:=](.*))?$/s.exec(opt);
    const [k, v] = m ? [m[1], m[2]] : [opt, undefined];
    if (k === 'no-new-privileges') {
      if (v !== undefined && v !== 'true' && v !== 'false') bad('--security-opt', `no-new-privileges takes true or false, not ${JSON.stringify(v)}`);
      else { s.no_new_privs = v !== 'false'; from('--security-opt', 'no_new_privs'); }
    } else if (k === 'seccomp' && v) {
      from('--security-opt', 'seccomp');
      if (v === 'unconfined') { s.seccomp = 'unconfined'; continue; }
      const path = isAbsolute(v) ? v : resolve(cwd, v);
      try {
        const p = dockerSeccomp(JSON.parse(readFileSync(path, 'utf8')));
        if (typeof p === 'string') bad('--security-opt', `seccomp profile ${path}: ${p}`);
        else s.seccomp = p;
      } catch (e) {
        bad('--security-opt', `cannot read seccomp profile ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, 'a Docker-format JSON profile');
      }
    } else bad('--security-opt', `${JSON.stringify(opt)} is not supported`, 'niwa understands seccomp=unconfined, seccomp=FILE and no-new-privileges[=true|false]');
  }
  return s;
}

/** The namespaces with `kind` created (true) or shared with the host (false), in the form they were written. */
function withNamespace(ns: NamespacesSpec | undefined, kind: NamespaceKind, on: boolean): NamespacesSpec {
  if (ns === undefined || Array.isArray(ns)) {
    const kinds = new Set<NamespaceKind>(ns ?? DEFAULT_NAMESPACES);
    if (on) kinds.add(kind); else kinds.delete(kind);
    return [...kinds];
  }
  return { ...ns, [kind]: on };
}
