// Cross-field rules on a CanonicalSpec: things the schema cannot say (pivot_root needs a mount
// namespace, hostname needs uts, …) and host paths that must exist. One table row per rule.
import { existsSync } from 'node:fs';
import type { ErrorDetail } from '../errors.js';
import { detail } from '../spec/load/context.js';
import type { CanonicalSpec, NamespaceKind } from '../spec/types.js';

export interface ConsistencyOptions {
  /** Cgroup controllers the host offers (from validate/host.ts). Omitted: cgroup keys are not checked. */
  hostCgroupControllers?: string[];
  /** Existence check for host paths; default fs.existsSync. */
  exists?: (path: string) => boolean;
  /** The host's online CPUs and memory nodes as cpuset lists ("0-3"). Omitted: not checked. */
  hostCpus?: string;
  hostMems?: string;
}

/** "0-2,5" → [0, 1, 2, 5]; undefined when it is not a CPU list. */
export function parseCpuList(s: string): number[] | undefined {
  const out: number[] = [];
  for (const part of s.trim().split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (!m) return undefined;
    const [a, b] = [Number(m[1]), Number(m[2] ?? m[1])];
    if (b < a || b - a > 65536) return undefined;
    for (let i = a; i <= b; i++) out.push(i);
  }
  return out;
}

/** Linux's PID_MAX_LIMIT: pids.max takes no more. */
const PID_MAX_LIMIT = 4194304;

interface Problem { field: string; message: string; hint?: string }
type Rule = (s: CanonicalSpec, o: Required<Pick<ConsistencyOptions, 'exists'>> & ConsistencyOptions) => Problem[];

const isNew = (s: CanonicalSpec, k: NamespaceKind) => s.namespaces[k]?.mode === 'new';
const addNs = (k: NamespaceKind) => `add ${k} to namespaces`;

/** Sysctl prefixes → the namespace that makes them per-container (namespaced sysctls only). */
const SYSCTL_NAMESPACES: [RegExp, NamespaceKind][] = [
  [/^net\./, 'net'],
  [/^kernel\.(shm(all|max|mni)|shm_rmid_forced|msg(max|mnb|mni)|sem)$/, 'ipc'],
  [/^fs\.mqueue\./, 'ipc'],
  [/^kernel\.(hostname|domainname)$/, 'uts'],
];

/** Spec cgroup key → the controller(s) that implement it (v2 name first). */
const CGROUP_CONTROLLERS: Record<string, string[]> = {
  memory: ['memory'], memoryReservation: ['memory'], memorySwap: ['memory'],
  cpus: ['cpu'], cpuPeriod: ['cpu'], cpuShares: ['cpu'], cpuWeight: ['cpu'],
  cpusetCpus: ['cpuset'], cpusetMems: ['cpuset'], pids: ['pids'],
  ioWeight: ['io', 'blkio'], ioMax: ['io', 'blkio'], hugetlb: ['hugetlb'],
};
const CGROUP_FIELDS: Record<string, string> = {
  memoryReservation: 'memory_reservation', memorySwap: 'memory_swap', cpuPeriod: 'cpu_period', cpuShares: 'cpu_shares',
  cpuWeight: 'cpu_weight', cpusetCpus: 'cpuset_cpus', cpusetMems: 'cpuset_mems', ioWeight: 'io_weight', ioMax: 'io_max',
};

/** The rules, keyed by the dotted path they report on. */
export const RULES: Record<string, Rule> = {
  root: (s) => (s.root === 'pivot_root' && !isNew(s, 'mount')
    ? [{ field: 'root', message: 'pivot_root needs a new mount namespace', hint: `${addNs('mount')}, or use root: chroot` }] : []),
  rootfs: (s, o) => {
    if (s.rootfs.kind === 'default' && !isNew(s, 'mount')) return [{ field: 'rootfs', message: 'the default rootfs is assembled in a new mount namespace, and there is none', hint: `${addNs('mount')}, or give rootfs a directory` }];
    if (s.rootfs.kind === 'dir' && !o.exists(s.rootfs.path)) return [{ field: 'rootfs', message: `rootfs directory ${s.rootfs.path} does not exist`, hint: 'relative paths are resolved against the spec file\'s directory' }];
    return [];
  },
  mounts: (s, o) => {
    const out: Problem[] = [];
    if (s.mounts.length && !isNew(s, 'mount')) out.push({ field: 'mounts', message: 'mounts need a new mount namespace (they would land on the host)', hint: addNs('mount') });
    const seen = new Map<string, string>();
    for (const m of s.mounts) {
      if (m.target === '/') out.push({ field: `${m.field}.target`, message: 'cannot mount over the container\'s root', hint: 'use rootfs to choose the root file system' });
      if (m.target.split('/').includes('..')) out.push({ field: `${m.field}.target`, message: `${m.target} leaves the container's root with '..'` });
      const prev = seen.get(m.target);
      if (prev) out.push({ field: `${m.field}.target`, message: `${m.target} is already a mount target (${prev})`, hint: 'the second mount would hide the first; remove one' });
      else seen.set(m.target, m.field);
      if (m.type === 'bind' && !o.exists(m.source)) out.push({ field: `${m.field}.source`, message: `bind source ${m.source} does not exist`, hint: 'relative sources are resolved against the spec file\'s directory' });
      if (m.type === 'proc' && !isNew(s, 'pid')) out.push({ field: m.field, message: 'a proc mount without a new pid namespace shows the host\'s processes', hint: addNs('pid') });
    }
    return out;
  },
  uid_map: (s) => (s.uidMap.length && !isNew(s, 'user') ? [{ field: 'uid_map', message: 'uid_map needs a new user namespace', hint: addNs('user') }] : []),
  gid_map: (s) => (s.gidMap.length && !isNew(s, 'user') ? [{ field: 'gid_map', message: 'gid_map needs a new user namespace', hint: addNs('user') }] : []),
  hostname: (s) => (s.hostname !== undefined && !isNew(s, 'uts') ? [{ field: 'hostname', message: 'setting the hostname needs a new uts namespace (it would rename the host)', hint: addNs('uts') }] : []),
  domainname: (s) => (s.domainname !== undefined && !isNew(s, 'uts') ? [{ field: 'domainname', message: 'setting the domainname needs a new uts namespace', hint: addNs('uts') }] : []),
  namespaces: (s, o) => Object.entries(s.namespaces).flatMap(([k, ns]) =>
    ns && ns.mode === 'join' && !o.exists(ns.path) ? [{ field: `namespaces.${k}.path`, message: `namespace file ${ns.path} does not exist`, hint: 'a namespace is joined through /proc/PID/ns/KIND of a running process' }] : []),
  sysctls: (s) => Object.keys(s.sysctls).flatMap((k): Problem[] => {
    const row = SYSCTL_NAMESPACES.find(([re]) => re.test(k));
    if (!row) return [{ field: `sysctls.${k}`, message: `${k} is not a namespaced sysctl: setting it would change the host`, hint: 'only net.*, kernel.shm*/msg*/sem, fs.mqueue.* and kernel.hostname/domainname can be set per container' }];
    return isNew(s, row[1]) ? [] : [{ field: `sysctls.${k}`, message: `${k} needs a new ${row[1]} namespace`, hint: addNs(row[1]) }];
  }),
  'process.init': (s) => {
    const out: Problem[] = [];
    if (s.process.init && s.process.tty) out.push({ field: 'process.init', message: 'init and tty cannot be combined', hint: 'the tiny init does not pass on the terminal; drop one of them' });
    if (s.process.init && !isNew(s, 'pid')) out.push({ field: 'process.init', message: 'an init as PID 1 needs a new pid namespace', hint: addNs('pid') });
    return out;
  },
  cgroup: (s, o) => {
    const out: Problem[] = [];
    const c = s.cgroup;
    if (c.memorySwap !== undefined && c.memorySwap !== -1) {
      if (c.memory === undefined) out.push({ field: 'cgroup.memory_swap', message: 'memory_swap needs memory to be set too', hint: 'memory_swap is memory + swap, like Docker\'s --memory-swap' });
      else if (c.memorySwap < c.memory) out.push({ field: 'cgroup.memory_swap', message: `memory_swap (${c.memorySwap}) is below memory (${c.memory})`, hint: 'memory_swap counts memory plus swap, so it must be at least memory' });
    }
    if (c.memoryReservation !== undefined && c.memory !== undefined && c.memoryReservation > c.memory) {
      out.push({ field: 'cgroup.memory_reservation', message: 'memory_reservation is above memory', hint: 'the soft limit must be below the hard limit' });
    }
    for (const [key, field, host, what] of [['cpusetCpus', 'cpuset_cpus', o.hostCpus, 'CPUs'], ['cpusetMems', 'cpuset_mems', o.hostMems, 'memory nodes']] as const) {
      const v = c[key];
      if (v === undefined) continue;
      const want = parseCpuList(v);
      if (!want) { out.push({ field: `cgroup.${field}`, message: `${JSON.stringify(v)} is not a list like 0-1,3`, hint: 'numbers and ranges, separated by commas' }); continue; }
      const have = host === undefined ? undefined : parseCpuList(host);
      const missing = have ? want.filter((x) => !have.includes(x)) : [];
      if (missing.length) out.push({ field: `cgroup.${field}`, message: `this host has no ${what} ${missing.slice(0, 8).join(', ')}${missing.length > 8 ? ', …' : ''}`, hint: `${what} here: ${host!.trim()}` });
    }
    const nCpus = o.hostCpus === undefined ? undefined : parseCpuList(o.hostCpus)?.length;
    if (c.cpus !== undefined && nCpus !== undefined && c.cpus > nCpus) out.push({ field: 'cgroup.cpus', message: `${c.cpus} CPUs asked for, and this host has ${nCpus}`, hint: `at most ${nCpus}` });
    if (c.pids !== undefined && c.pids > PID_MAX_LIMIT) out.push({ field: 'cgroup.pids', message: `${c.pids} is above the kernel's limit of ${PID_MAX_LIMIT} processes`, hint: 'use a smaller number, or leave pids out for no limit' });
    if (o.hostCgroupControllers) {
      const have = new Set(o.hostCgroupControllers);
      for (const [key, ctrls] of Object.entries(CGROUP_CONTROLLERS)) {
        if ((c as Record<string, unknown>)[key] === undefined || ctrls.some((x) => have.has(x))) continue;
        out.push({ field: `cgroup.${CGROUP_FIELDS[key] ?? key}`, message: `this host has no ${ctrls[0]} cgroup controller`, hint: `controllers here: ${[...have].join(', ') || 'none'}` });
      }
      for (const k of Object.keys(c.raw)) {
        const ctrl = k.split('.')[0];
        if (ctrl !== 'cgroup' && !have.has(ctrl)) out.push({ field: `cgroup.raw.${k}`, message: `this host has no ${ctrl} cgroup controller`, hint: `controllers here: ${[...have].join(', ') || 'none'}` });
      }
    }
    return out;
  },
  capabilities: (s) => {
    const c = s.capabilities;
    const out: Problem[] = [];
    const missing = (a: string[], b: string[]) => a.filter((x) => !b.includes(x));
    const notPermitted = missing(c.effective, c.permitted);
    if (notPermitted.length) out.push({ field: 'capabilities.sets.effective', message: `effective capabilities must also be permitted: ${notPermitted.join(', ')}` });
    const amb = [...missing(c.ambient, c.permitted), ...missing(c.ambient, c.inheritable)];
    if (amb.length) out.push({ field: 'capabilities.sets.ambient', message: `ambient capabilities must be permitted and inheritable: ${[...new Set(amb)].join(', ')}`, hint: 'list them in sets.permitted and sets.inheritable too' });
    return out;
  },
};

/** Every cross-field problem of a canonical spec (empty = consistent). */
export function checkConsistency(spec: CanonicalSpec, opts: ConsistencyOptions = {}): ErrorDetail[] {
  const o = { ...opts, exists: opts.exists ?? existsSync };
  const ctx = { file: spec.file, positions: spec.positions ?? {} };
  return Object.values(RULES).flatMap((rule) => rule(spec, o).map((p) => detail(ctx, p.field, p.message, p.hint)));
}
