// `niwa plan --oci`: a CanonicalSpec and its LaunchPlan as an OCI runtime-spec config.json, so
// `runc run` (or crun) runs the same container. Pure: data in, data out; the CLI writes files.
//
// How the pieces map:
//  - mounts come from the plan's child mount steps (what niwa really mounts, in order), a
//    bind followed by its read-only remount merged into one OCI mount with options;
//  - process, namespaces, maps, capabilities, rlimits, sysctls, masked/readonly paths, seccomp,
//    oom_score_adj and annotations come from the spec;
//  - cgroup limits become linux.resources, placed at cgroupsPath /niwa/<project>/<id> like niwa's.
//
// The embedded default root (no `rootfs`) is a tmpfs niwa fills at run time. An OCI root must
// be a directory, so the export describes that directory as `rootfs` entries (the plan's
// mkdir/symlink/write steps inside the root: the merged-/usr symlinks, /etc/hosts, /tmp…) and
// root.path points at it; `niwa plan --oci-bundle DIR` creates DIR/rootfs from them and writes
// DIR/config.json. The host's /usr, /lib*, /etc files are read-only bind mounts in the config,
// exactly as in niwa's plan. Differences that remain are listed in `notes`.
import type { CanonicalSpec, NamespaceKind, SeccompAction, SeccompProfile } from '../../spec/types.js';
import type { LaunchPlan, MountFlag } from '../types.js';
import { UserError } from '../../errors.js';
import { errnoNumber } from '../errno.js';
import { hugetlbSizeName, rescale, weightToShares } from '../steps/cgroup.js';
import { deviceRules } from '../steps/devices.js';

export const OCI_VERSION = '1.0.2';

export interface OciMount { destination: string; type: string; source: string; options: string[] }
export interface OciIdMapping { containerID: number; hostID: number; size: number }
export interface OciRlimit { type: string; soft: number | typeof RLIM_INFINITY; hard: number | typeof RLIM_INFINITY }
export interface OciSeccompArg { index: number; value: number; valueTwo?: number; op: string }
export interface OciSyscall { names: string[]; action: string; errnoRet?: number; args?: OciSeccompArg[] }
export interface OciSeccomp { defaultAction: string; defaultErrnoRet?: number; architectures: string[]; syscalls: OciSyscall[] }
export interface OciHook { path: string; args?: string[]; timeout?: number }

/** The fields of config.json niwa produces (a subset of the runtime-spec). */
export interface OciConfig {
  ociVersion: string;
  process: {
    terminal: boolean;
    user: { uid: number; gid: number; additionalGids?: number[] };
    args: string[];
    env: string[];
    cwd: string;
    capabilities: { bounding: string[]; effective: string[]; permitted: string[]; inheritable: string[]; ambient: string[] };
    rlimits: OciRlimit[];
    noNewPrivileges: boolean;
    oomScoreAdj?: number;
  };
  root: { path: string; readonly: boolean };
  hostname?: string;
  domainname?: string;
  mounts: OciMount[];
  hooks?: Record<string, OciHook[]>;
  annotations: Record<string, string>;
  linux: {
    namespaces: { type: string; path?: string }[];
    uidMappings?: OciIdMapping[];
    gidMappings?: OciIdMapping[];
    timeOffsets?: Record<string, { secs: number; nanosecs: number }>;
    sysctl?: Record<string, string>;
    cgroupsPath: string;
    resources: Record<string, unknown>;
    devices?: { path: string; type: 'c' | 'b'; major: number; minor: number }[];
    rootfsPropagation: string;
    maskedPaths: string[];
    readonlyPaths: string[];
    seccomp?: OciSeccomp;
  };
}

/** A file-system entry of the root directory the export needs (the embedded default root). */
export type RootfsEntry =
  | { kind: 'dir'; path: string; mode: number }
  | { kind: 'symlink'; path: string; target: string }
  | { kind: 'file'; path: string; data: string; mode: number };

export interface OciExport {
  config: OciConfig;
  /** Entries to create under root.path before `runc run` (empty for a directory rootfs). */
  rootfs: RootfsEntry[];
  /** Owner (host ids) for the root directory and its entries: the user namespace's root, so that
   *  it can create mount points in it as niwa's root can in its own tmpfs. Absent without a user ns. */
  rootfsOwner?: { uid: number; gid: number };
  /** What differs from `niwa run`, and what the user must do. */
  notes: string[];
}

export interface OciOptions {
  /** Absolute path used as root.path for the embedded default root (default: <cwd>/rootfs). */
  rootfsPath: string;
}

/** RLIM_INFINITY as a marker: 2^64-1 does not survive a JS number, so ociJson writes it literally. */
export const RLIM_INFINITY = 'RLIM_INFINITY' as const;

const NS_TYPE: Record<NamespaceKind, string> = {
  pid: 'pid', net: 'network', mount: 'mount', ipc: 'ipc', uts: 'uts', user: 'user', cgroup: 'cgroup', time: 'time',
};

const FLAG_OPTION: Partial<Record<MountFlag, string>> = {
  MS_RDONLY: 'ro', MS_NOSUID: 'nosuid', MS_NODEV: 'nodev', MS_NOEXEC: 'noexec', MS_SYNCHRONOUS: 'sync', MS_DIRSYNC: 'dirsync',
  MS_NOATIME: 'noatime', MS_NODIRATIME: 'nodiratime', MS_RELATIME: 'relatime', MS_STRICTATIME: 'strictatime', MS_MANDLOCK: 'mand',
  MS_NOSYMFOLLOW: 'nosymfollow', MS_LAZYTIME: 'lazytime',
};
const PROPAGATION: [MountFlag, string][] = [['MS_PRIVATE', 'private'], ['MS_SLAVE', 'slave'], ['MS_SHARED', 'shared'], ['MS_UNBINDABLE', 'unbindable']];

const SECCOMP_ACTION: Record<SeccompAction, string> = {
  allow: 'SCMP_ACT_ALLOW', errno: 'SCMP_ACT_ERRNO', kill: 'SCMP_ACT_KILL', kill_process: 'SCMP_ACT_KILL_PROCESS',
  trap: 'SCMP_ACT_TRAP', log: 'SCMP_ACT_LOG', trace: 'SCMP_ACT_TRACE',
};
const SECCOMP_OP: Record<string, string> = {
  eq: 'SCMP_CMP_EQ', ne: 'SCMP_CMP_NE', lt: 'SCMP_CMP_LT', le: 'SCMP_CMP_LE', gt: 'SCMP_CMP_GT', ge: 'SCMP_CMP_GE', masked_eq: 'SCMP_CMP_MASKED_EQ',
};
const SCMP_ARCH: Record<string, string> = { x86_64: 'SCMP_ARCH_X86_64', aarch64: 'SCMP_ARCH_AARCH64' };

/** niwa hook points → OCI hook names (niwa's host-side points run around the same moments). */
const HOOK_NAME: Record<string, string> = {
  prestart: 'prestart', create_runtime: 'createRuntime', create_container: 'createContainer', start_container: 'startContainer',
  poststart: 'poststart', poststop: 'poststop', before_fork: 'createRuntime', teardown: 'poststop',
};

/** Build the OCI config for `spec` and its compiled `plan`. */
export function toOci(spec: CanonicalSpec, plan: LaunchPlan, opts: OciOptions, arch: 'x86_64' | 'aarch64' = 'x86_64'): OciExport {
  const notes: string[] = [];
  if (spec.rootfs.kind === 'image') {
    throw new UserError('E_OCI_IMAGE', `${spec.file}: --oci cannot export an image rootfs (${spec.rootfs.ref}) yet`, [], 'unpack the image into a directory and use `rootfs: DIR`');
  }
  if (!spec.namespaces.mount) notes.push('runc requires a mount namespace; this spec has none, so runc will refuse it (niwa runs it with chroot only)');

  // Root and the entries of the default root.
  const rootfs: RootfsEntry[] = [];
  let rootPath: string;
  if (spec.rootfs.kind === 'dir') rootPath = spec.rootfs.path;
  else {
    rootPath = opts.rootfsPath;
    for (const s of plan.steps) {
      if (s.phase !== 'child' || !('inRoot' in s) || s.inRoot !== plan.rootDir) continue;
      if (s.op === 'mkdir') rootfs.push({ kind: 'dir', path: s.path, mode: s.mode });
      else if (s.op === 'symlink' && !s.path.startsWith('/dev/')) rootfs.push({ kind: 'symlink', path: s.path, target: s.target });
      else if (s.op === 'write') rootfs.push({ kind: 'file', path: s.path, data: s.data, mode: 0o644 });
      else if (s.op === 'touch') rootfs.push({ kind: 'file', path: s.path, data: '', mode: s.mode });
    }
    notes.push(`root.path ${rootPath}: the embedded default root is a directory here (niwa uses a fresh tmpfs), so what the container writes outside its tmpfs mounts stays in it; create it with \`niwa plan --oci-bundle DIR\``);
  }

  // OCI runtimes always provide /dev/null, zero, full, random, urandom and tty. In a user
  // namespace runc bind-mounts them from the host itself (a bind of /dev/tty in the config then
  // clashes with its own); outside one it mknods them unless a mount is already there. Keep
  // niwa's binds only outside a user namespace: either way the container sees niwa's mount table.
  const userns = spec.namespaces.user?.mode === 'new';
  // spec.devices become linux.devices (runc creates or binds the node itself), not bind mounts.
  const devices = spec.devices ?? [];
  const specDevices = new Set(devices.map((d) => d.target));
  const mounts = mountsFromPlan(plan).filter((m) => !(m.type === 'bind' && (specDevices.has(m.destination) || (userns && DEVICES.has(m.destination)))));
  const p = spec.process;
  if (p.init) notes.push('process.init: runc has no built-in init; the program itself is PID 1 (use an init such as tini in args)');
  if (spec.root === 'chroot') notes.push('root: chroot — run it with `runc run --no-pivot` (runc then moves the root and chroots; niwa chroots without moving, so the classic chroot escape works only in niwa)');

  const caps = spec.capabilities;
  const config: OciConfig = {
    ociVersion: OCI_VERSION,
    process: {
      terminal: p.tty,
      user: { uid: p.uid, gid: p.gid, ...(p.groups.length ? { additionalGids: [...p.groups] } : {}) },
      args: [...p.args],
      env: Object.entries(p.env).map(([k, v]) => `${k}=${v}`),
      cwd: p.cwd,
      capabilities: { bounding: [...caps.bounding], effective: [...caps.effective], permitted: [...caps.permitted], inheritable: [...caps.inheritable], ambient: [...caps.ambient] },
      rlimits: spec.rlimits.map((r) => ({ type: r.type, soft: lim(r.soft), hard: lim(r.hard) })),
      noNewPrivileges: spec.noNewPrivs,
      ...(spec.oomScoreAdj !== undefined ? { oomScoreAdj: spec.oomScoreAdj } : {}),
    },
    root: { path: rootPath, readonly: spec.readonlyRoot },
    ...(spec.hostname !== undefined ? { hostname: spec.hostname } : {}),
    ...(spec.domainname !== undefined ? { domainname: spec.domainname } : {}),
    mounts,
    annotations: { ...spec.annotations, 'org.niwa.name': spec.name, 'org.niwa.spec': spec.file },
    linux: {
      namespaces: namespaces(spec, plan),
      cgroupsPath: `/niwa/${plan.project}/${plan.id}`,
      resources: resources(spec, notes),
      ...(devices.length ? { devices: devices.map((d) => ({ path: d.target, type: d.type, major: d.major, minor: d.minor })) } : {}),
      // niwa makes every mount private before anything else (runc's default would be rslave).
      rootfsPropagation: 'rprivate',
      maskedPaths: spec.namespaces.mount ? [...spec.maskedPaths] : [],
      readonlyPaths: spec.namespaces.mount ? [...spec.readonlyPaths] : [],
    },
  };
  if (spec.namespaces.user?.mode === 'new') {
    config.linux.uidMappings = spec.uidMap.map(idMap);
    config.linux.gidMappings = spec.gidMap.map(idMap);
  }
  const time = spec.namespaces.time;
  if (time?.mode === 'new') {
    config.linux.timeOffsets = { monotonic: { secs: time.offsets?.monotonic ?? 0, nanosecs: 0 }, boottime: { secs: time.offsets?.boottime ?? 0, nanosecs: 0 } };
    notes.push('namespaces.time: the time namespace and linux.timeOffsets are runtime-spec 1.1 fields (runc ≥ 1.2); older runtimes reject the config');
  }
  if (spec.domainname !== undefined) notes.push('domainname is a runtime-spec 1.1 field; runc < 1.2 ignores it');
  if (Object.keys(spec.sysctls).length) config.linux.sysctl = { ...spec.sysctls };
  if (spec.seccomp) config.linux.seccomp = seccomp(spec.seccomp, arch);

  const hooks: Record<string, OciHook[]> = {};
  for (const h of spec.hooks) {
    const name = HOOK_NAME[h.point];
    if (!h.command || !name) { notes.push(`${h.field}: ${h.command ? `no OCI hook point for ${h.point}` : 'a function hook cannot be exported'}; left out`); continue; }
    if (!h.command[0].startsWith('/')) { notes.push(`${h.field}: OCI hooks need an absolute path (${h.command[0]}); left out`); continue; }
    (hooks[name] ??= []).push({ path: h.command[0], args: [...h.command], timeout: h.timeout });
  }
  if (Object.keys(hooks).length) {
    config.hooks = hooks;
    notes.push('hooks: OCI hooks get the container state as JSON on stdin, niwa\'s get NIWA_* environment variables');
  }
  let rootfsOwner: OciExport['rootfsOwner'];
  if (spec.namespaces.user?.mode === 'new' && spec.rootfs.kind === 'default') {
    const hostOf = (m: { container_id: number; host_id: number; size: number }[]) => m.find((r) => r.container_id === 0)?.host_id;
    const uid = hostOf(spec.uidMap);
    const gid = hostOf(spec.gidMap);
    if (uid !== undefined && gid !== undefined) {
      rootfsOwner = { uid, gid };
      notes.push(`user namespace: the root directory is owned by host ${uid}:${gid} (root inside), so that runc can create mount points in it`);
    }
  }
  return { config, rootfs, rootfsOwner, notes };
}

/** config.json text; RLIM_INFINITY becomes the literal 18446744073709551615 that runtimes expect. */
export function ociJson(config: OciConfig): string {
  return JSON.stringify(config, null, 2).replace(new RegExp(`"${RLIM_INFINITY}"`, 'g'), '18446744073709551615') + '\n';
}

const DEVICES = new Set(['/dev/null', '/dev/zero', '/dev/full', '/dev/random', '/dev/urandom', '/dev/tty']);
const lim = (n: number) => (n < 0 ? RLIM_INFINITY : n);
const idMap = (m: { container_id: number; host_id: number; size: number }): OciIdMapping => ({ containerID: m.container_id, hostID: m.host_id, size: m.size });

function namespaces(spec: CanonicalSpec, plan: LaunchPlan): { type: string; path?: string }[] {
  const out: { type: string; path?: string }[] = [];
  for (const kind of Object.keys(NS_TYPE) as NamespaceKind[]) {
    const ns = spec.namespaces[kind];
    if (!ns) continue;
    if (ns.mode === 'new') out.push({ type: NS_TYPE[kind] });
    else if (ns.mode === 'join') out.push({ type: NS_TYPE[kind], path: ns.path });
    else {
      // `container:` joins were resolved to /proc/PID/ns/... by the compiler when that container runs.
      const step = plan.steps.find((s) => s.op === 'setns' && s.ns === kind);
      out.push({ type: NS_TYPE[kind], path: step && step.op === 'setns' ? step.path : `/proc/<pid of ${ns.container}>/ns/${kind}` });
    }
  }
  return out;
}

/** The plan's mounts inside the root, as OCI mounts (remounts and propagation changes folded in). */
export function mountsFromPlan(plan: LaunchPlan): OciMount[] {
  const out: OciMount[] = [];
  const last = (target: string) => [...out].reverse().find((m) => m.destination === target);
  for (const s of plan.steps) {
    if (s.phase !== 'child' || s.op !== 'mount' || s.inRoot !== plan.rootDir) continue;
    const flagOpts = s.flags.map((f) => FLAG_OPTION[f]).filter((x): x is string => x !== undefined);
    const prop = PROPAGATION.find(([f]) => s.flags.includes(f));
    if (s.flags.includes('MS_REMOUNT')) {
      const m = last(s.target);
      if (m) for (const o of flagOpts) if (!m.options.includes(o)) m.options.push(o);
      continue;
    }
    if (s.source === null && prop) {
      const m = last(s.target);
      if (m) m.options.push((s.flags.includes('MS_REC') ? 'r' : '') + prop[1]);
      continue;
    }
    const bind = s.flags.includes('MS_BIND');
    out.push({
      destination: s.target,
      type: bind ? 'bind' : s.fstype ?? 'none',
      source: s.source ?? 'none',
      options: [...(bind ? [s.flags.includes('MS_REC') ? 'rbind' : 'bind'] : []), ...flagOpts, ...(s.data ? s.data.split(',') : [])],
    });
  }
  return out;
}

function resources(spec: CanonicalSpec, notes: string[]): Record<string, unknown> {
  const cg = spec.cgroup;
  const r: Record<string, unknown> = {};
  // The same allowlist niwa's device cgroup enforces: deny all, then Docker's default list and spec.devices.
  r.devices = [{ allow: false, access: 'rwm' }, ...deviceRules(spec).map((d) => ({
    allow: true, type: d.type, ...(d.major >= 0 ? { major: d.major } : {}), ...(d.minor >= 0 ? { minor: d.minor } : {}), access: d.access,
  }))];
  const memory: Record<string, number> = {};
  if (cg.memory !== undefined) memory.limit = cg.memory;
  if (cg.memoryReservation !== undefined) memory.reservation = cg.memoryReservation;
  if (cg.memorySwap !== undefined) memory.swap = cg.memorySwap;
  if (Object.keys(memory).length) r.memory = memory;
  const cpu: Record<string, number | string> = {};
  const period = cg.cpuPeriod ?? 100000;
  if (cg.cpus !== undefined) { cpu.quota = Math.max(1000, Math.round(cg.cpus * period)); cpu.period = period; }
  else if (cg.cpuPeriod !== undefined) cpu.period = cg.cpuPeriod;
  if (cg.cpuShares !== undefined) cpu.shares = cg.cpuShares;
  else if (cg.cpuWeight !== undefined) {
    cpu.shares = weightToShares(cg.cpuWeight);
    notes.push(`cgroup.cpu_weight ${cg.cpuWeight} is written as cpu.shares ${cpu.shares} (runtime-spec 1.0 has shares; runc converts back on cgroup v2)`);
  }
  if (cg.cpusetCpus !== undefined) cpu.cpus = cg.cpusetCpus;
  if (cg.cpusetMems !== undefined) cpu.mems = cg.cpusetMems;
  if (Object.keys(cpu).length) r.cpu = cpu;
  if (cg.pids !== undefined) r.pids = { limit: cg.pids };
  const blockIO: Record<string, unknown> = {};
  if (cg.ioWeight !== undefined) blockIO.weight = rescale(cg.ioWeight, [1, 100, 10000], [10, 500, 1000]);
  const throttle: Record<string, { major: number; minor: number; rate: number }[]> = {};
  for (const [dev, l] of Object.entries(cg.ioMax ?? {})) {
    const [major, minor] = dev.split(':').map(Number);
    for (const [k, oci] of [['readBps', 'throttleReadBpsDevice'], ['writeBps', 'throttleWriteBpsDevice'], ['readIops', 'throttleReadIOPSDevice'], ['writeIops', 'throttleWriteIOPSDevice']] as const) {
      if (l[k] !== undefined) (throttle[oci] ??= []).push({ major, minor, rate: l[k]! });
    }
  }
  Object.assign(blockIO, throttle);
  if (Object.keys(blockIO).length) r.blockIO = blockIO;
  const huge = Object.entries(cg.hugetlb ?? {});
  if (huge.length) r.hugepageLimits = huge.map(([pageSize, limit]) => ({ pageSize: hugetlbSizeName(pageSize) ?? pageSize, limit }));
  if (Object.keys(cg.raw).length) {
    r.unified = { ...cg.raw };
    notes.push('cgroup.raw: written to linux.resources.unified (cgroup v2 files only: runc refuses unified on a v1 or hybrid host)');
  }
  return r;
}

function errnoRet(e: string | number | undefined): number | undefined {
  if (e === undefined) return undefined;
  return typeof e === 'number' ? e : errnoNumber(e);
}

/** niwa's seccomp profile in the runtime-spec's (libseccomp's) terms. */
export function seccomp(profile: SeccompProfile, arch: 'x86_64' | 'aarch64'): OciSeccomp {
  const out: OciSeccomp = {
    defaultAction: SECCOMP_ACTION[profile.default_action],
    architectures: [SCMP_ARCH[arch]],
    syscalls: [],
  };
  if (profile.default_action === 'errno') out.defaultErrnoRet = errnoRet(profile.default_errno) ?? 1;
  for (const rule of profile.syscalls ?? []) {
    const sc: OciSyscall = { names: [...rule.names], action: SECCOMP_ACTION[rule.action] };
    if (rule.action === 'errno') sc.errnoRet = errnoRet(rule.errno) ?? 1;
    if (rule.args?.length) {
      sc.args = rule.args.map((a) => ({ index: a.index, value: a.value, ...(a.op === 'masked_eq' ? { valueTwo: a.value_two ?? 0 } : {}), op: SECCOMP_OP[a.op] }));
    }
    out.syscalls.push(sc);
  }
  return out;
}

/** Shell commands creating the default root's entries under `dir` (printed when no bundle is written). */
export function rootfsCommands(entries: RootfsEntry[], dir: string, owner?: { uid: number; gid: number }): string[] {
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  return [`mkdir -p ${q(dir)}`, ...entries.map((e) => {
    const p = q(dir + e.path);
    if (e.kind === 'dir') return `mkdir -p -m ${e.mode.toString(8)} ${p}`;
    if (e.kind === 'symlink') return `ln -sfn ${q(e.target)} ${p}`;
    return `printf %s ${q(e.data)} > ${p}`;
  }), ...(owner ? [`chown -hR ${owner.uid}:${owner.gid} ${q(dir)}`] : [])];
}
