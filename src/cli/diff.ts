// `niwa diff SPEC_A SPEC_B`: compares two specs primitive by primitive (after loading, so
// shorthands and defaults do not count as differences) and says what each difference changes
// for the process inside. Exit 0 when equal, 1 when different (like diff(1)), 2 on bad input.
import type { Verb } from './main.js';
import { parseArgs } from './args.js';
import { UserError } from '../errors.js';
import { loadChecked } from './spec.js';
import { genericHost, probeHost } from '../validate/host.js';
import type { CanonicalMount, CanonicalNamespace, CanonicalSpec, NamespaceKind, SeccompProfile } from '../spec/types.js';
import { NAMESPACE_KINDS } from '../spec/types.js';

export interface SpecDifference {
  /** The primitive: namespaces, root, rootfs, mounts, capabilities, cgroup, seccomp, rlimits, user, ... */
  primitive: string;
  /** Dotted field, e.g. namespaces.pid or cgroup.memory. */
  field: string;
  /** The values as text ('—' when absent). */
  a: string;
  b: string;
  /** One sentence: what the difference changes, said of B. */
  effect: string;
}

const NONE = '—';

const NS_WITHOUT: Record<NamespaceKind, string> = {
  pid: 'the process sees every host process, and is not PID 1',
  net: 'it shares the host\'s network interfaces, addresses and ports',
  mount: 'its mounts would be the host\'s, so no private /proc, /dev or root switch other than chroot',
  uts: 'it shares the host\'s hostname; setting one would rename the host',
  ipc: 'it shares System V IPC objects and POSIX message queues with the host',
  user: 'root inside is root on the host (no uid mapping limits it)',
  cgroup: '/proc/self/cgroup shows the host\'s cgroup paths',
  time: 'its monotonic and boot clocks are the host\'s',
};
const NS_WITH: Record<NamespaceKind, string> = {
  pid: 'the process is PID 1 and sees only its own descendants',
  net: 'only a loopback device: no route to the host network',
  mount: 'its mounts are invisible to the host',
  uts: 'it gets its own hostname and domain name',
  ipc: 'System V IPC and POSIX message queues are private',
  user: 'uid 0 inside maps to an unprivileged uid outside, and capabilities apply only to what the namespace owns',
  cgroup: 'the container\'s cgroup appears as / in /proc/self/cgroup',
  time: 'CLOCK_MONOTONIC and CLOCK_BOOTTIME can be offset',
};

/** What a capability allows, for the capabilities students meet first. */
const CAP_WHAT: Record<string, string> = {
  CAP_SYS_ADMIN: 'mount, sethostname, setns and much more — nearly root',
  CAP_NET_ADMIN: 'configure interfaces, routes and firewalls',
  CAP_NET_RAW: 'open raw and packet sockets (ping, packet sniffing)',
  CAP_NET_BIND_SERVICE: 'bind ports below 1024',
  CAP_SYS_PTRACE: 'trace and inspect any process it can see',
  CAP_CHOWN: 'change the owner of any file',
  CAP_DAC_OVERRIDE: 'read and write files regardless of their permissions',
  CAP_SETUID: 'change its uid to anyone',
  CAP_SETGID: 'change its gid and groups to any',
  CAP_KILL: 'signal processes of other users',
  CAP_SYS_CHROOT: 'chroot',
  CAP_MKNOD: 'create device nodes',
  CAP_SYS_TIME: 'set the system clock',
  CAP_SYS_MODULE: 'load kernel modules',
  CAP_SYS_RESOURCE: 'raise resource limits beyond the hard limit',
  CAP_SYS_NICE: 'raise priorities and change other processes\' scheduling',
  CAP_FOWNER: 'bypass owner checks (chmod, utime) on any file',
  CAP_SETPCAP: 'change capability sets and drop from the bounding set',
};

const show = (v: unknown): string => (v === undefined || v === null ? NONE : typeof v === 'string' ? v : JSON.stringify(v));
const eq = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
const nsText = (n: CanonicalNamespace | undefined) => (!n ? NONE : n.mode === 'new' ? (n.offsets ? `new ${JSON.stringify(n.offsets)}` : 'new') : n.mode === 'join' ? `join ${n.path}` : `container ${n.container}`);
const mountText = (m: CanonicalMount) => `${m.type}${m.type === 'bind' ? ' ' + m.source : ''}${m.readonly ? ' ro' : ''}${m.size !== undefined ? ` size=${m.size}` : ''}${m.options.length ? ' ' + m.options.join(',') : ''}`;
const bytes = (n: number | undefined) => (n === undefined ? 'unlimited' : n === -1 ? 'unlimited' : n >= 1 << 20 && n % (1 << 20) === 0 ? `${n / (1 << 20)}M` : String(n));

/** Every difference between two canonical specs, in a fixed order of primitives. */
export function diffSpecs(a: CanonicalSpec, b: CanonicalSpec): SpecDifference[] {
  const out: SpecDifference[] = [];
  const add = (primitive: string, field: string, av: unknown, bv: unknown, effect: string) => out.push({ primitive, field, a: show(av), b: show(bv), effect });

  // namespaces
  for (const k of NAMESPACE_KINDS) {
    const na = a.namespaces[k];
    const nb = b.namespaces[k];
    if (eq(na, nb)) continue;
    let effect: string;
    if (!nb) effect = `B has no ${k} namespace: ${NS_WITHOUT[k]}.`;
    else if (!na) effect = `B has a ${nb.mode === 'new' ? 'new' : 'shared'} ${k} namespace: ${nb.mode === 'new' ? NS_WITH[k] : `it joins ${nsText(nb).replace(/^join |^container /, '')} and shares it with what runs there`}.`;
    else if (nb.mode === 'new' && na.mode === 'new') effect = `B's ${k} namespace has other clock offsets.`;
    else if (nb.mode === 'new') effect = `B creates its own ${k} namespace instead of joining one: ${NS_WITH[k]}.`;
    else effect = `B joins an existing ${k} namespace instead of creating one: it shares it with what runs there.`;
    add('namespaces', `namespaces.${k}`, nsText(na), nsText(nb), effect);
  }
  if (!eq(a.uidMap, b.uidMap)) add('user', 'uid_map', a.uidMap, b.uidMap, 'B maps container uids to other host uids: files it creates are owned by those.');
  if (!eq(a.gidMap, b.gidMap)) add('user', 'gid_map', a.gidMap, b.gidMap, 'B maps container gids to other host gids.');

  // root and rootfs
  if (a.root !== b.root) {
    add('root', 'root', a.root, b.root, b.root === 'chroot'
      ? 'B uses chroot: the old root stays mounted, and a process with CAP_SYS_CHROOT can escape to the host file system.'
      : 'B uses pivot_root: the old root is detached, no path leads back to the host file system.');
  }
  if (!eq(a.rootfs, b.rootfs)) {
    const t = (r: CanonicalSpec['rootfs']) => (r.kind === 'default' ? 'embedded default' : r.kind === 'dir' ? r.path : `image ${r.ref}`);
    add('rootfs', 'rootfs', t(a.rootfs), t(b.rootfs), b.rootfs.kind === 'default'
      ? 'B runs on the embedded default root: a fresh tmpfs with the host\'s /usr, /lib* and a few /etc files bound read-only.'
      : `B runs on another root file system (${t(b.rootfs)}): other programs and libraries.`);
  }
  if (a.readonlyRoot !== b.readonlyRoot) add('rootfs', 'rootfs.readonly', a.readonlyRoot, b.readonlyRoot, b.readonlyRoot ? 'B\'s root is read-only: writes outside its tmpfs and bind mounts fail with EROFS.' : 'B\'s root is writable.');

  // identity
  if (a.hostname !== b.hostname) add('uts', 'hostname', a.hostname, b.hostname, b.hostname === undefined ? 'B keeps the hostname it inherits.' : `B's hostname (uname -n) is ${b.hostname}.`);
  if (a.domainname !== b.domainname) add('uts', 'domainname', a.domainname, b.domainname, `B's NIS domain name is ${b.domainname ?? 'inherited'}.`);

  // process
  const pa = a.process;
  const pb = b.process;
  if (!eq(pa.args, pb.args)) add('process', 'process.args', pa.args, pb.args, 'B runs another program.');
  for (const k of new Set([...Object.keys(pa.env), ...Object.keys(pb.env)])) {
    if (pa.env[k] !== pb.env[k]) add('process', `process.env.${k}`, pa.env[k], pb.env[k], pb.env[k] === undefined ? `B's program has no ${k} variable.` : `B's program sees ${k}=${pb.env[k]}.`);
  }
  if (pa.cwd !== pb.cwd) add('process', 'process.cwd', pa.cwd, pb.cwd, `B starts in ${pb.cwd}.`);
  if (pa.uid !== pb.uid) add('user', 'process.user', pa.uid, pb.uid, pb.uid === 0 ? 'B runs as root (uid 0) in its user namespace.' : `B runs as uid ${pb.uid}: file permissions are checked as for that user, and only ambient capabilities survive execve.`);
  if (pa.gid !== pb.gid) add('user', 'process.group', pa.gid, pb.gid, `B runs with gid ${pb.gid}.`);
  if (!eq(pa.groups, pb.groups)) add('user', 'process.groups', pa.groups, pb.groups, 'B has other supplementary groups, so other group permissions apply.');
  if (pa.tty !== pb.tty) add('process', 'process.tty', pa.tty, pb.tty, pb.tty ? 'B gets a pseudo-terminal (job control, line editing).' : 'B uses plain stdio, no terminal.');
  if (pa.init !== pb.init) add('process', 'process.init', pa.init, pb.init, pb.init ? 'B runs a tiny init as PID 1 that reaps zombies and forwards signals.' : 'B\'s program is PID 1 itself: it must reap orphans and handle signals.');

  // mounts, by target
  const ma = new Map(a.mounts.map((m) => [m.target, m]));
  const mb = new Map(b.mounts.map((m) => [m.target, m]));
  for (const t of new Set([...ma.keys(), ...mb.keys()])) {
    const x = ma.get(t);
    const y = mb.get(t);
    const key = (m?: CanonicalMount) => m && { ...m, field: '' };
    if (eq(key(x), key(y))) continue;
    add('mounts', `mounts[${t}]`, x && mountText(x), y && mountText(y), !y ? `B has no mount at ${t}.`
      : !x ? `B mounts ${y.type === 'bind' ? `the host's ${y.source}` : `a ${y.type}`} at ${t}${y.readonly ? ' read-only' : ''}.`
        : x.readonly !== y.readonly ? `B's ${t} is ${y.readonly ? 'read-only' : 'writable'}.` : `B mounts something else at ${t}.`);
  }
  setDiff(out, 'paths', 'masked_paths', a.maskedPaths, b.maskedPaths, (p) => `B hides ${p}.`, (p) => `B can read ${p}.`);
  setDiff(out, 'paths', 'readonly_paths', a.readonlyPaths, b.readonlyPaths, (p) => `B can no longer write ${p}.`, (p) => `B can write ${p} (with the capabilities it needs).`);

  // capabilities
  for (const set of ['bounding', 'effective', 'permitted', 'inheritable', 'ambient'] as const) {
    setDiff(out, 'capabilities', `capabilities.${set}`, a.capabilities[set], b.capabilities[set],
      (c) => `B's ${set} set has ${c}${set === 'effective' || set === 'bounding' ? `: it ${set === 'bounding' ? 'may gain' : 'can'} ${CAP_WHAT[c] ?? 'use it'}` : ''}.`,
      (c) => `B's ${set} set lacks ${c}${set === 'effective' || set === 'bounding' ? `: it cannot ${CAP_WHAT[c] ?? 'use it'}` : ''}.`);
  }
  if (a.noNewPrivs !== b.noNewPrivs) add('capabilities', 'no_new_privs', a.noNewPrivs, b.noNewPrivs, b.noNewPrivs ? 'B cannot gain privileges through setuid binaries or file capabilities.' : 'B can gain privileges by executing a setuid binary or one with file capabilities.');

  // cgroup
  const ca = a.cgroup as Record<string, unknown>;
  const cb = b.cgroup as Record<string, unknown>;
  const CG_EFFECT: Record<string, (v: unknown) => string> = {
    memory: (v) => (v === undefined ? 'B has no memory limit: it can use all the host\'s memory.' : `B is OOM-killed past ${bytes(v as number)} of memory.`),
    memoryReservation: (v) => `B's memory below ${bytes(v as number)} is protected from reclaim.`,
    memorySwap: (v) => `B may use ${bytes(v as number)} of memory plus swap.`,
    cpus: (v) => (v === undefined ? 'B has no CPU quota: it can use every CPU fully.' : `B gets at most ${v} CPU${v === 1 ? '' : 's'} worth of time.`),
    cpuPeriod: (v) => `B's CPU quota is measured over ${v ?? 100000} µs periods.`,
    cpuShares: () => 'B gets another share of CPU time when CPUs are busy.',
    cpuWeight: () => 'B gets another share of CPU time when CPUs are busy.',
    cpusetCpus: (v) => (v === undefined ? 'B may run on every CPU.' : `B runs only on CPUs ${v}.`),
    cpusetMems: (v) => `B allocates memory on NUMA nodes ${v ?? 'any'}.`,
    pids: (v) => (v === undefined ? 'B has no process limit: a fork bomb can exhaust the host.' : `B can have at most ${v} processes and threads: a fork bomb stops there.`),
    ioWeight: () => 'B gets another share of block I/O.',
  };
  for (const k of new Set([...Object.keys(ca), ...Object.keys(cb)])) {
    if (eq(ca[k], cb[k]) || (k === 'raw' && !Object.keys(ca.raw ?? {}).length && !Object.keys(cb.raw ?? {}).length)) continue;
    const field = `cgroup.${k.replace(/[A-Z]/g, (c) => '_' + c.toLowerCase())}`;
    add('cgroup', field, ca[k], cb[k], (CG_EFFECT[k] ?? (() => `B's ${field} differs.`))(cb[k]));
  }

  // rlimits
  const ra = new Map(a.rlimits.map((r) => [r.type, r]));
  const rb = new Map(b.rlimits.map((r) => [r.type, r]));
  const rl = (r?: { soft: number; hard: number }) => r && `${r.soft < 0 ? 'unlimited' : r.soft}/${r.hard < 0 ? 'unlimited' : r.hard}`;
  for (const t of new Set([...ra.keys(), ...rb.keys()])) {
    if (eq(ra.get(t), rb.get(t))) continue;
    add('rlimits', `rlimits.${t.replace(/^RLIMIT_/, '').toLowerCase()}`, rl(ra.get(t)), rl(rb.get(t)), rb.get(t) ? `B's ${t} is ${rl(rb.get(t))} (soft/hard): setrlimit beyond the hard limit fails.` : `B inherits ${t} from niwa.`);
  }

  // seccomp
  if (!eq(a.seccomp, b.seccomp)) {
    if (!b.seccomp) add('seccomp', 'seccomp', 'profile', 'unconfined', 'B is unconfined: every system call reaches the kernel.');
    else if (!a.seccomp) add('seccomp', 'seccomp', 'unconfined', seccompText(b.seccomp), `B filters system calls: default ${b.seccomp.default_action}.`);
    else {
      if (a.seccomp.default_action !== b.seccomp.default_action || a.seccomp.default_errno !== b.seccomp.default_errno) {
        add('seccomp', 'seccomp.default_action', a.seccomp.default_action, b.seccomp.default_action, `In B a system call no rule names gets: ${b.seccomp.default_action}${b.seccomp.default_errno ? ' ' + b.seccomp.default_errno : ''}.`);
      }
      const byName = (p: SeccompProfile) => {
        const m = new Map<string, string>();
        for (const r of p.syscalls ?? []) for (const n of r.names) if (!m.has(n)) m.set(n, `${r.action}${r.errno !== undefined ? ' ' + r.errno : ''}${r.args?.length ? ' (with argument rules)' : ''}`);
        return m;
      };
      const sa = byName(a.seccomp);
      const sb = byName(b.seccomp);
      for (const n of new Set([...sa.keys(), ...sb.keys()])) {
        if (sa.get(n) === sb.get(n)) continue;
        add('seccomp', `seccomp.syscalls[${n}]`, sa.get(n), sb.get(n), `In B ${n}(2) gets: ${sb.get(n) ?? `the default action (${b.seccomp.default_action})`}.`);
      }
    }
  }

  // kernel settings and the rest
  for (const k of new Set([...Object.keys(a.sysctls), ...Object.keys(b.sysctls)])) {
    if (a.sysctls[k] !== b.sysctls[k]) add('sysctls', `sysctls.${k}`, a.sysctls[k], b.sysctls[k], `In B ${k} is ${b.sysctls[k] ?? 'the namespace\'s default'}.`);
  }
  if (a.oomScoreAdj !== b.oomScoreAdj) add('process', 'oom_score_adj', a.oomScoreAdj, b.oomScoreAdj, `B is ${(b.oomScoreAdj ?? 0) > (a.oomScoreAdj ?? 0) ? 'more' : 'less'} likely to be chosen by the OOM killer.`);
  const hooks = (s: CanonicalSpec) => s.hooks.map((h) => `${h.point}: ${h.command ? h.command.join(' ') : '(function)'}`);
  setDiff(out, 'hooks', 'hooks', hooks(a), hooks(b), (h) => `B runs the hook ${h}.`, (h) => `B does not run the hook ${h}.`);
  if (!eq(a.annotations, b.annotations)) add('annotations', 'annotations', a.annotations, b.annotations, 'Only labels differ: nothing changes for the process.');
  if (!eq(a.lifecycle, b.lifecycle)) add('lifecycle', 'lifecycle', a.lifecycle, b.lifecycle, 'B is restarted, stopped or health-checked differently; its isolation is the same.');
  return out;
}

function seccompText(p: SeccompProfile): string {
  return `default ${p.default_action}, ${(p.syscalls ?? []).length} rules`;
}

function setDiff(out: SpecDifference[], primitive: string, field: string, a: string[], b: string[], added: (x: string) => string, removed: (x: string) => string): void {
  const sa = new Set(a);
  const sb = new Set(b);
  for (const x of b) if (!sa.has(x)) out.push({ primitive, field, a: NONE, b: x, effect: added(x) });
  for (const x of a) if (!sb.has(x)) out.push({ primitive, field, a: x, b: NONE, effect: removed(x) });
}

export function formatDiff(a: string, b: string, diffs: SpecDifference[]): string {
  if (!diffs.length) return `A ${a} and B ${b} isolate the same way.\n`;
  const out = [`A ${a}`, `B ${b}`, `${diffs.length} difference${diffs.length === 1 ? '' : 's'}:`];
  let prim = '';
  for (const d of diffs) {
    if (d.primitive !== prim) { prim = d.primitive; out.push('', `${prim}:`); }
    out.push(`  ${d.field}: A ${d.a}  →  B ${d.b}`, `      ${d.effect}`);
  }
  return out.join('\n') + '\n';
}

export const verb: Verb = {
  summary: 'compare two specs primitive by primitive and say what each difference changes',
  usage: 'niwa diff SPEC_A SPEC_B [--json] [--host this|generic]\n\n  Exit 0 when both isolate the same way, 1 when they differ (like diff(1)), 2 on an invalid spec.\n  Names and file paths are not compared; defaults are applied first, so `namespaces: [pid]` and\n  `namespaces: {pid: {}}` are equal.\n  --json   the differences as data: [{primitive, field, a, b, effect}]',
  async run(argv) {
    const p = parseArgs(argv, { values: { host: '' }, booleans: { json: '' } }, 'diff');
    if (p.positionals.length !== 2) throw new UserError('E_USAGE', 'diff: expected two SPEC files', [], 'usage: niwa diff SPEC_A SPEC_B [--json]');
    const host = p.flags.host === 'generic' ? genericHost() : probeHost();
    const [a, b] = await Promise.all(p.positionals.map((f) => loadChecked(f, host)));
    const diffs = diffSpecs(a, b);
    if (p.flags.json) process.stdout.write(JSON.stringify(diffs, null, 2) + '\n');
    else process.stdout.write(formatDiff(p.positionals[0], p.positionals[1], diffs));
    return diffs.length ? 1 : 0;
  },
};
