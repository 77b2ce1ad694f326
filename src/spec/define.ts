// The TypeScript DSL: defineContainer (typed identity) and a Haconiwa-style chaining builder.
// Both produce the same plain ContainerSpec that a YAML file holds; loadSpec accepts either.
import type {
  BindMount, CgroupSpec, Hook, HookPoint, IdRef, MountSpec, NamespaceKind,
  NamespaceOptions, ProcessSpec, Propagation, ProvisionStep, RlimitValue, TmpfsMount,
} from './types.js';
import type { CapabilityName, CapabilitySets, ContainerSpec, SeccompSpec as TypedSeccompSpec, SignalName } from './typed.js';

/** A spec as a plain, fully typed object (editors complete every field). */
export function defineContainer(spec: ContainerSpec): ContainerSpec {
  return spec;
}

type Size = string | number;

/** Where a builder set a field: the method and which of its calls on this builder (0-based); the
 *  loader finds that call in the spec's source text (tsx runs the spec from minified code, so a
 *  stack trace has no usable line). */
export interface BuilderCall { method: string; nth: number }
/** The builder's method that returns its calls map; a global symbol so that a second copy of
 *  this module (a spec outside the repository loads its own through tsx) shares it. */
export const SPEC_POSITIONS: unique symbol = Symbol.for('niwa.spec.positions') as never;

/** Chaining builder: `container('web').unshare('pid', 'uts').memory('64M').command('/bin/sh').toSpec()`. */
export class ContainerBuilder {
  private s: ContainerSpec;
  private ns: Partial<Record<NamespaceKind, NamespaceOptions | true>> | undefined;

  constructor(name: string) {
    this.s = { name, process: {} };
  }

  // --- root file system and root switch ---
  /** Root file system: a directory (relative to the spec file) or {path|image, readonly}. */
  rootfs(r: ContainerSpec['rootfs']): this { this.s.rootfs = r; return this; }
  /** Run on an OCI image (pulled on demand): image('busybox') or image('127.0.0.1:5000/app:1', {readonly: true}). */
  image(ref: string, opts: { readonly?: boolean; pull?: 'missing' | 'always' | 'never' } = {}): this { this.s.rootfs = { image: ref, ...opts }; return this; }
  /** Provision the image (Haconiwa's provision): `.provision({ run: 'apk add curl' }, { copy: { source: './app', target: '/app' } })`; built and cached as layers. */
  provision(...steps: ProvisionStep[]): this {
    const r = this.s.rootfs;
    const obj = typeof r === 'object' ? r : {};
    this.s.rootfs = { ...obj, provision: [...(obj.provision ?? []), ...steps] };
    return this;
  }
  /** Replace the image's Entrypoint (as compose's entrypoint: drops its Cmd unless command() is given). */
  entrypoint(...args: string[] | [string[]]): this { this.proc.entrypoint = Array.isArray(args[0]) ? [...args[0]] : [...(args as string[])]; return this; }
  /** Switch root with pivot_root(2) (the default), optionally onto a directory rootfs. */
  pivotRoot(dir?: string): this { this.s.root = 'pivot_root'; if (dir !== undefined) this.s.rootfs = dir; return this; }
  /** Switch root with chroot(2), optionally onto a directory rootfs. */
  chroot(dir?: string): this { this.s.root = 'chroot'; if (dir !== undefined) this.s.rootfs = dir; return this; }
  /** Mount the root file system read-only. */
  readonlyRoot(on = true): this {
    const r = this.s.rootfs;
    this.s.rootfs = typeof r === 'string' ? { path: r, readonly: on } : { ...(r ?? {}), readonly: on };
    return this;
  }

  // --- namespaces ---
  /** Create new namespaces of these kinds. */
  unshare(...kinds: NamespaceKind[]): this { this.ns ??= {}; for (const k of kinds) this.ns[k] = true; return this; }
  /** Join an existing namespace by path (/proc/PID/ns/KIND) or another container's by name. */
  join(kind: NamespaceKind, target: { path: string } | { container: string }): this { this.ns ??= {}; this.ns[kind] = { ...target }; return this; }
  /** A new time namespace with clock offsets in seconds. */
  timeOffsets(offsets: { monotonic?: number; boottime?: number }): this { this.ns ??= {}; this.ns.time = { offsets }; return this; }
  uidMap(containerId: number, hostId: number, size: number): this { (this.s.uid_map ??= []).push({ container_id: containerId, host_id: hostId, size }); return this; }
  gidMap(containerId: number, hostId: number, size: number): this { (this.s.gid_map ??= []).push({ container_id: containerId, host_id: hostId, size }); return this; }
  hostname(name: string): this { this.s.hostname = name; return this; }
  domainname(name: string): this { this.s.domainname = name; return this; }

  // --- process ---
  private get proc(): ProcessSpec { return (this.s.process ??= {}); }
  /** The command: command('/bin/sh', '-c', 'echo hi') or command(['/bin/sh', '-c', 'echo hi']). */
  command(...args: string[] | [string[]]): this { this.proc.args = Array.isArray(args[0]) ? [...args[0]] : [...(args as string[])]; return this; }
  /** Environment: env({A: '1'}) or env('A', '1'). */
  env(vars: Record<string, string> | string, value?: string): this {
    const e = (this.proc.env ??= {});
    if (typeof vars === 'string') e[vars] = value ?? ''; else Object.assign(e, vars);
    return this;
  }
  envFile(path: string): this { (this.s.env_files ??= []).push(path); return this; }
  cwd(dir: string): this { this.proc.cwd = dir; return this; }
  user(u: IdRef): this { this.proc.user = u; return this; }
  group(g: IdRef): this { this.proc.group = g; return this; }
  groups(...gs: IdRef[]): this { this.proc.groups = [...gs]; return this; }
  tty(on = true): this { this.proc.tty = on; return this; }
  init(on = true): this { this.proc.init = on; return this; }

  // --- mounts ---
  mount(m: MountSpec): this { (this.s.mounts ??= []).push(m); return this; }
  bind(source: string, target: string, opts: { readonly?: boolean; recursive?: boolean; propagation?: Propagation; options?: string[] } = {}): this {
    const m: BindMount = { type: 'bind', source, target, ...opts };
    return this.mount(m);
  }
  tmpfs(target: string, opts: { size?: Size; mode?: string | number; readonly?: boolean; options?: string[] } = {}): this {
    const m: TmpfsMount = { type: 'tmpfs', target, ...opts };
    return this.mount(m);
  }
  maskPaths(...paths: string[]): this { this.s.masked_paths = [...paths]; return this; }
  readonlyPaths(...paths: string[]): this { this.s.readonly_paths = [...paths]; return this; }
  /** A host device node, bound into /dev and allowed by the device cgroup (e.g. device('/dev/fuse', {permissions: 'rw'})). */
  device(path: string, opts: { container_path?: string; permissions?: string } = {}): this {
    this.s.devices = [...(this.s.devices ?? []), { path, ...opts }];
    return this;
  }

  // --- cgroup limits ---
  cgroup(limits: CgroupSpec): this { this.s.cgroup = { ...(this.s.cgroup ?? {}), ...limits }; return this; }
  memory(limit: Size): this { return this.cgroup({ memory: limit }); }
  cpus(n: number | string): this { return this.cgroup({ cpus: n }); }
  pids(max: number): this { return this.cgroup({ pids: max }); }

  // --- privileges ---
  capAllow(...caps: CapabilityName[]): this { (this.s.capabilities ??= {}).allow = [...caps]; return this; }
  capAdd(...caps: CapabilityName[]): this { const c = (this.s.capabilities ??= {}); c.add = [...(c.add ?? []), ...caps]; return this; }
  capDrop(...caps: CapabilityName[]): this { const c = (this.s.capabilities ??= {}); c.drop = [...(c.drop ?? []), ...caps]; return this; }
  capSets(sets: CapabilitySets): this { (this.s.capabilities ??= {}).sets = { ...sets }; return this; }
  noNewPrivs(on = true): this { this.s.no_new_privs = on; return this; }
  rlimit(name: string, value: RlimitValue): this { (this.s.rlimits ??= {})[name] = value; return this; }
  seccomp(profile: TypedSeccompSpec): this { this.s.seccomp = profile; return this; }
  sysctl(key: string, value: string | number): this { (this.s.sysctls ??= {})[key] = value; return this; }
  oomScoreAdj(n: number): this { this.s.oom_score_adj = n; return this; }
  /** The signal `niwa stop` sends first (default SIGTERM). */
  stopSignal(sig: SignalName): this { this.s.stop_signal = sig; return this; }

  // --- network ---
  /** 'bridge' (niwa's own bridge network), a compose project's network PROJECT_NETWORK, or 'none' / 'host'. */
  network(name: string): this {
    const ports = this.s.network?.ports;
    this.s.network = name === 'none' || name === 'host' ? { mode: name } : { mode: 'bridge', ...(name === 'bridge' ? {} : { name }), ...(ports ? { ports } : {}) };
    return this;
  }
  /** Publish ports in Docker's -p forms ('8080:80', '127.0.0.1:5353:53/udp'); a bridge network unless one is named. */
  publish(...ports: (string | number)[]): this { this.s.network = { ...(this.s.network ?? {}), ports: [...(this.s.network?.ports ?? []), ...ports] }; return this; }

  // --- hooks and metadata ---
  /** A hook: a shell string, {command, optional, timeout}, or (TS only) a function. Repeats append. */
  hook(point: HookPoint, hook: Hook): this {
    const hooks = (this.s.hooks ??= {});
    const cur = hooks[point];
    hooks[point] = cur === undefined ? [hook] : [...(Array.isArray(cur) ? cur : [cur]), hook];
    return this;
  }
  annotate(key: string, value: string): this { (this.s.annotations ??= {})[key] = value; return this; }

  /** Which call set each field: dotted path → method and ordinal (for file:line:col in errors). */
  [SPEC_POSITIONS](): Record<string, BuilderCall> { return { ...this.calls }; }
  private calls: Record<string, BuilderCall> = {};
  private counts: Record<string, number> = {};
  /** Calls in progress: a method that calls another (memory → cgroup) counts once, as written. */
  private depth = 0;
  /** Record that this call of `method` (as written in the spec) set `field`. */
  protected mark(field: string, method: string): void {
    const nth = (this.counts[method] = (this.counts[method] ?? -1) + 1);
    this.calls[field] = { method, nth };
  }

  /** The plain spec (a fresh copy; functions in hooks are kept). */
  toSpec(): ContainerSpec {
    const out = copy(this.s) as ContainerSpec;
    if (this.ns) {
      const entries = Object.entries(this.ns) as [NamespaceKind, NamespaceOptions | true][];
      out.namespaces = entries.every(([, v]) => v === true)
        ? entries.map(([k]) => k)
        : Object.fromEntries(entries.map(([k, v]) => [k, v === true ? {} : copy(v)]));
    }
    return out;
  }
}

function copy<T>(v: T): T {
  if (Array.isArray(v)) return v.map(copy) as T;
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, copy(x)])) as T;
  return v;
}

/** Start a builder for a container named `name`. */
export function container(name: string): ContainerBuilder {
  const b = new ContainerBuilder(name);
  b['mark']('name', 'container');
  return b;
}

// --- builder calls → file:line:col in error messages ------------------------------------------

/** A builder's plain spec that still carries the builder's calls (for defineCompose: file:line:col of each service's calls). */
export function specKeepingCalls(builder: { toSpec(): unknown }): ContainerSpec {
  const plain = builder.toSpec() as ContainerSpec;
  const calls = (builder as unknown as Record<symbol, unknown>)[SPEC_POSITIONS];
  if (typeof calls === 'function') Object.defineProperty(plain, SPEC_POSITIONS, { value: calls.bind(builder), enumerable: false });
  return plain;
}

/** Which spec field each builder method sets (the key of the positions map). */
const METHOD_FIELDS: Record<string, string | ((args: unknown[], b: ContainerBuilder) => string)> = {
  rootfs: 'rootfs', image: 'rootfs', entrypoint: 'process.entrypoint', pivotRoot: 'root', chroot: 'root', readonlyRoot: 'rootfs',
  unshare: 'namespaces', join: (a) => `namespaces.${String(a[0])}`, timeOffsets: 'namespaces.time', uidMap: 'uid_map', gidMap: 'gid_map',
  hostname: 'hostname', domainname: 'domainname', command: 'process.args', env: 'process.env', envFile: 'env_files', cwd: 'process.cwd',
  user: 'process.user', group: 'process.group', groups: 'process.groups', tty: 'process.tty', init: 'process.init',
  mount: (_a, b) => `mounts.${b['s'].mounts?.length ?? 0}`, bind: (_a, b) => `mounts.${b['s'].mounts?.length ?? 0}`,
  tmpfs: (_a, b) => `mounts.${b['s'].mounts?.length ?? 0}`, maskPaths: 'masked_paths', readonlyPaths: 'readonly_paths',
  device: (_a, b) => `devices.${b['s'].devices?.length ?? 0}`, cgroup: 'cgroup', memory: 'cgroup.memory', cpus: 'cgroup.cpus',
  pids: 'cgroup.pids', capAllow: 'capabilities.allow', capAdd: 'capabilities.add', capDrop: 'capabilities.drop',
  capSets: 'capabilities.sets', noNewPrivs: 'no_new_privs', rlimit: (a) => `rlimits.${String(a[0])}`, seccomp: 'seccomp',
  sysctl: (a) => `sysctls.${String(a[0])}`, oomScoreAdj: 'oom_score_adj', stopSignal: 'stop_signal',
  hook: (a) => `hooks.${String(a[0])}`, annotate: (a) => `annotations.${String(a[0])}`,
  network: 'network', publish: 'network.ports',
};
for (const [method, field] of Object.entries(METHOD_FIELDS)) {
  const proto = ContainerBuilder.prototype as unknown as Record<string, (...args: unknown[]) => unknown>;
  const inner = proto[method];
  proto[method] = function (this: ContainerBuilder, ...args: unknown[]) {
    if (this['depth']++ === 0) this['mark'](typeof field === 'function' ? field(args, this) : field, method);
    try { return inner.apply(this, args); } finally { this['depth']--; }
  };
}
