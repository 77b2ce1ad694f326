// Owns the cgroup part of the launch plan: spec.cgroup + host layout → mkdir/write/rmdir steps (pure).
//
// Friendly keys live in KEY_RULES (key → file per cgroup version + converter); raw controller files are
// routed to the hierarchy that owns their controller, translated between v1 and v2 names through
// RAW_V1_TO_V2 / RAW_V2_TO_V1 when the host mounts that controller on the other version.
// Hybrid hosts: controllers mounted as v1 are used there; the rest (e.g. hugetlb) on the cgroup2 mount,
// where a cgroup is always created too so cgroup.kill / cgroup.events / cgroup.freeze are available.
import type { CanonicalSpec } from '../../spec/types.js';
import type { CgroupLayout, StepDraft } from '../types.js';
import { UserError, type ErrorDetail } from '../../errors.js';
import { deviceProgram, deviceRules, ruleText } from './devices.js';

export type CgroupVersion = 'v1' | 'v2';
type Cg = CanonicalSpec['cgroup'];

export interface CgroupStepsResult {
  prepare: StepDraft[];
  /** Stage phase, first: the v2 device program attached to the container's cgroup. */
  stage: StepDraft[];
  parent: StepDraft[];
  cleanup: StepDraft[];
  /** Absolute paths of the container's leaf cgroups (v1 hierarchies first, then the v2 one). */
  cgroups: string[];
  warnings: string[];
}

/** One file write resolved to a hierarchy. `controller` is the v1 controller or the v2 controller name. */
interface FileWrite { version: CgroupVersion; controller: string; file: string; data: string; field: string; why: string }
/** What a rule produces for one version: files to write, or a reason it cannot. */
type Out = { file: string; data: string }[];

const MAN = 'cgroups(7)';
const V1_NAME: Record<string, string> = { io: 'blkio' };
const V2_NAME: Record<string, string> = { blkio: 'io', cpuacct: 'cpu' };
/** Controllers every container gets (when the host has them) for stats, freezing and killing. */
const BASE_V1 = ['memory', 'pids', 'cpu', 'cpuacct', 'freezer'];
const BASE_V2 = ['memory', 'pids', 'cpu'];

// ---------------------------------------------------------------------------------------------
// Conversions (documented in docs/cgroups.md).

/** v1 cpu.shares (2..262144, default 1024) → v2 cpu.weight (1..10000, default 100), the log-quadratic
 *  mapping crun and runc ≥ 1.3.2 use: ends and defaults map onto each other. */
export function sharesToWeight(shares: number): number {
  const l = Math.log2(Math.min(262144, Math.max(2, shares)));
  return clamp(Math.round(10 ** ((l * l + 125 * l) / 612 - 7 / 34)), 1, 10000);
}
/** Inverse of sharesToWeight. */
export function weightToShares(weight: number): number {
  const e = Math.log10(clamp(weight, 1, 10000));
  const l = (-125 + Math.sqrt(125 * 125 + 4 * 612 * (e + 7 / 34))) / 2;
  return clamp(Math.round(2 ** l), 2, 262144);
}
const clamp = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, v));
/** Piecewise-linear map between ranges given as [min, default, max]: ends and defaults correspond. */
export function rescale(v: number, from: [number, number, number], to: [number, number, number]): number {
  const x = clamp(v, from[0], from[2]);
  const [a, b, c, d] = x <= from[1] ? [from[0], from[1], to[0], to[1]] : [from[1], from[2], to[1], to[2]];
  return Math.round(b === a ? c : c + ((x - a) * (d - c)) / (b - a));
}
/** io_weight is given on the v2 io.weight scale; the other weight files have other ranges. */
const IO_WEIGHT: [number, number, number] = [1, 100, 10000];
const BLKIO_WEIGHT: [number, number, number] = [10, 500, 1000];
const BFQ_WEIGHT: [number, number, number] = [1, 100, 1000];

const maxToMinus1 = (v: string) => (v.trim() === 'max' ? '-1' : v.trim());
const minus1ToMax = (v: string) => (v.trim() === '-1' ? 'max' : v.trim());
const DEVICE = /^\d+:\d+$/;

// ---------------------------------------------------------------------------------------------
// Friendly keys.

interface KeyCtx { cg: Cg; files: (version: CgroupVersion, controller: string) => string[] | undefined; warn: (m: string) => void; fail: (m: string, hint?: string) => void }
interface KeyRule {
  /** Canonical key (CanonicalSpec.cgroup). */
  key: keyof Cg;
  /** Spec key, for `field` (cgroup.<spec>). */
  spec: string;
  /** v2 controller name. */
  controller: string;
  why: string;
  v2: (v: any, c: KeyCtx) => Out;
  v1: (v: any, c: KeyCtx) => Out;
}

const period = (cg: Cg) => cg.cpuPeriod ?? 100000;
const quota = (cg: Cg) => Math.max(1000, Math.round((cg.cpus ?? 0) * period(cg)));

/** Pick the first candidate file the host has (unknown host = the first); warn when a converter changes the number. */
function firstPresent(c: KeyCtx, version: CgroupVersion, controller: string, cands: { file: string; data: string; note?: string }[], what: string): Out {
  const have = c.files(version, controller);
  const pick = have ? cands.find((x) => have.includes(x.file)) : cands[0];
  if (!pick) { c.fail(`this host's ${controller} controller has none of ${cands.map((x) => x.file).join(', ')}`, `no weight-based I/O scheduler (bfq) is active; remove ${what} or choose a raw file`); return []; }
  if (pick.note) c.warn(pick.note);
  return [{ file: pick.file, data: pick.data }];
}

const KEY_RULES: KeyRule[] = [
  { key: 'memory', spec: 'memory', controller: 'memory', why: 'Caps the memory the container may use; past it the kernel reclaims, then OOM-kills inside the cgroup.',
    v2: (v: number) => [{ file: 'memory.max', data: String(v) }],
    v1: (v: number) => [{ file: 'memory.limit_in_bytes', data: String(v) }] },
  { key: 'memoryReservation', spec: 'memory_reservation', controller: 'memory', why: 'Soft limit: memory below it is protected from reclaim when the host is short of memory.',
    v2: (v: number) => [{ file: 'memory.low', data: String(v) }],
    v1: (v: number) => [{ file: 'memory.soft_limit_in_bytes', data: String(v) }] },
  { key: 'memorySwap', spec: 'memory_swap', controller: 'memory', why: 'Caps memory plus swap (Docker semantics); written after the memory limit, which it must not undercut.',
    v2: (v: number, c) => {
      if (v !== -1 && c.cg.memory === undefined) { c.fail('memory_swap needs memory to be set too (it is memory + swap)', 'add cgroup.memory'); return []; }
      if (v !== -1 && v < (c.cg.memory ?? 0)) { c.fail(`memory_swap (${v}) is below memory (${c.cg.memory})`, 'memory_swap counts memory + swap, so it must be ≥ memory'); return []; }
      const have = c.files('v2', 'memory');
      if (have && !have.includes('memory.swap.max')) { c.warn('cgroup.memory_swap: this kernel has no swap accounting (memory.swap.max is missing); swap stays unlimited'); return []; }
      return [{ file: 'memory.swap.max', data: v === -1 ? 'max' : String(v - (c.cg.memory ?? 0)) }];
    },
    v1: (v: number, c) => {
      if (v !== -1 && v < (c.cg.memory ?? Infinity)) { c.fail(`memory_swap (${v}) is below memory (${c.cg.memory})`, 'memory_swap counts memory + swap, so it must be ≥ memory'); return []; }
      const have = c.files('v1', 'memory');
      if (have && !have.includes('memory.memsw.limit_in_bytes')) { c.warn('cgroup.memory_swap: swap accounting is off on this host (no memory.memsw.limit_in_bytes; boot with swapaccount=1); swap stays unlimited'); return []; }
      return [{ file: 'memory.memsw.limit_in_bytes', data: String(v) }];
    } },
  { key: 'cpus', spec: 'cpus', controller: 'cpu', why: 'CFS bandwidth: the container may run `quota` µs of CPU time per `period` µs (cpus × period).',
    v2: (_: number, c) => [{ file: 'cpu.max', data: `${quota(c.cg)} ${period(c.cg)}` }],
    v1: (_: number, c) => [{ file: 'cpu.cfs_period_us', data: String(period(c.cg)) }, { file: 'cpu.cfs_quota_us', data: String(quota(c.cg)) }] },
  { key: 'cpuPeriod', spec: 'cpu_period', controller: 'cpu', why: 'CFS bandwidth period in µs (no quota given: unlimited).',
    v2: (v: number, c) => (c.cg.cpus !== undefined ? [] : [{ file: 'cpu.max', data: `max ${v}` }]),
    v1: (v: number, c) => (c.cg.cpus !== undefined ? [] : [{ file: 'cpu.cfs_period_us', data: String(v) }]) },
  { key: 'cpuShares', spec: 'cpu_shares', controller: 'cpu', why: 'Relative CPU weight against sibling cgroups when the CPUs are busy.',
    v2: (v: number, c) => {
      if (c.cg.cpuWeight !== undefined) { c.warn('cgroup.cpu_shares is ignored on cgroup v2 because cpu_weight is set'); return []; }
      const w = sharesToWeight(v);
      c.warn(`cgroup.cpu_shares: ${v} shares written as cpu.weight ${w} (cgroup v2 has no cpu.shares)`);
      return [{ file: 'cpu.weight', data: String(w) }];
    },
    v1: (v: number) => [{ file: 'cpu.shares', data: String(v) }] },
  { key: 'cpuWeight', spec: 'cpu_weight', controller: 'cpu', why: 'Relative CPU weight against sibling cgroups when the CPUs are busy.',
    v2: (v: number) => [{ file: 'cpu.weight', data: String(v) }],
    v1: (v: number, c) => {
      if (c.cg.cpuShares !== undefined) { c.warn('cgroup.cpu_weight is ignored on cgroup v1 because cpu_shares is set'); return []; }
      const s = weightToShares(v);
      c.warn(`cgroup.cpu_weight: weight ${v} written as cpu.shares ${s} (cgroup v1 has no cpu.weight)`);
      return [{ file: 'cpu.shares', data: String(s) }];
    } },
  { key: 'cpusetCpus', spec: 'cpuset_cpus', controller: 'cpuset', why: 'Pins the container to these CPUs.',
    v2: (v: string) => [{ file: 'cpuset.cpus', data: v }], v1: (v: string) => [{ file: 'cpuset.cpus', data: v }] },
  { key: 'cpusetMems', spec: 'cpuset_mems', controller: 'cpuset', why: 'Restricts memory allocation to these NUMA nodes.',
    v2: (v: string) => [{ file: 'cpuset.mems', data: v }], v1: (v: string) => [{ file: 'cpuset.mems', data: v }] },
  { key: 'pids', spec: 'pids', controller: 'pids', why: 'Caps the number of processes and threads, so a fork bomb stops at the limit.',
    v2: (v: number) => [{ file: 'pids.max', data: String(v) }], v1: (v: number) => [{ file: 'pids.max', data: String(v) }] },
  { key: 'ioWeight', spec: 'io_weight', controller: 'io', why: 'Relative share of block I/O against sibling cgroups (needs a weight-based I/O scheduler).',
    v2: (v: number, c) => firstPresent(c, 'v2', 'io', [
      { file: 'io.weight', data: `default ${v}` },
      { file: 'io.bfq.weight', data: `default ${rescale(v, IO_WEIGHT, BFQ_WEIGHT)}`, note: `cgroup.io_weight: ${v} (1..10000) written as io.bfq.weight ${rescale(v, IO_WEIGHT, BFQ_WEIGHT)} (1..1000)` },
    ], 'cgroup.io_weight'),
    v1: (v: number, c) => firstPresent(c, 'v1', 'blkio', [
      { file: 'blkio.weight', data: String(rescale(v, IO_WEIGHT, BLKIO_WEIGHT)), note: `cgroup.io_weight: ${v} (v2 scale 1..10000) written as blkio.weight ${rescale(v, IO_WEIGHT, BLKIO_WEIGHT)} (10..1000)` },
      { file: 'blkio.bfq.weight', data: String(rescale(v, IO_WEIGHT, BFQ_WEIGHT)), note: `cgroup.io_weight: ${v} (v2 scale 1..10000) written as blkio.bfq.weight ${rescale(v, IO_WEIGHT, BFQ_WEIGHT)} (1..1000)` },
    ], 'cgroup.io_weight') },
];

const IO_MAX_KEYS = [
  { k: 'readBps', v2: 'rbps', v1: 'blkio.throttle.read_bps_device' },
  { k: 'writeBps', v2: 'wbps', v1: 'blkio.throttle.write_bps_device' },
  { k: 'readIops', v2: 'riops', v1: 'blkio.throttle.read_iops_device' },
  { k: 'writeIops', v2: 'wiops', v1: 'blkio.throttle.write_iops_device' },
] as const;

/** "2M", "2mb", "2MB" → "2MB"; "1G" → "1GB"; "64k" → "64KB". */
export function hugetlbSizeName(s: string): string | undefined {
  const m = /^(\d+)\s*([kmg])(?:i?b)?$/i.exec(s.trim());
  return m ? `${m[1]}${m[2].toUpperCase()}B` : undefined;
}

// ---------------------------------------------------------------------------------------------
// Raw keys: v1 ↔ v2 translations. A null entry has no equivalent (the hint says what to use).

type RawTo = ((v: string) => Out) | { none: string };
const throttleToIoMax = (k: string) => (v: string): Out => {
  const [dev, n] = v.trim().split(/\s+/);
  return [{ file: 'io.max', data: `${dev} ${k}=${n === '0' ? 'max' : n}` }];
};
const RAW_V1_TO_V2: Record<string, RawTo> = {
  'memory.limit_in_bytes': (v) => [{ file: 'memory.max', data: minus1ToMax(v) }],
  'memory.soft_limit_in_bytes': (v) => [{ file: 'memory.low', data: minus1ToMax(v) }],
  'memory.memsw.limit_in_bytes': { none: 'use cgroup.memory_swap, which niwa converts to memory.swap.max' },
  'memory.swappiness': { none: 'cgroup v2 has no per-cgroup swappiness' },
  'memory.kmem.limit_in_bytes': { none: 'cgroup v2 counts kernel memory in memory.max' },
  'memory.oom_control': { none: 'use memory.oom.group on cgroup v2' },
  'cpu.shares': (v) => [{ file: 'cpu.weight', data: String(sharesToWeight(Number(v))) }],
  'cpu.cfs_quota_us': (v) => [{ file: 'cpu.max', data: minus1ToMax(v) }],
  'cpu.cfs_period_us': (v) => [{ file: 'cpu.max', data: `max ${v.trim()}` }],
  'blkio.weight': (v) => [{ file: 'io.weight', data: `default ${rescale(Number(v), BLKIO_WEIGHT, IO_WEIGHT)}` }],
  'blkio.throttle.read_bps_device': throttleToIoMax('rbps'),
  'blkio.throttle.write_bps_device': throttleToIoMax('wbps'),
  'blkio.throttle.read_iops_device': throttleToIoMax('riops'),
  'blkio.throttle.write_iops_device': throttleToIoMax('wiops'),
};
const RAW_V2_TO_V1: Record<string, RawTo> = {
  'memory.max': (v) => [{ file: 'memory.limit_in_bytes', data: maxToMinus1(v) }],
  'memory.low': (v) => [{ file: 'memory.soft_limit_in_bytes', data: maxToMinus1(v) }],
  'memory.high': { none: 'cgroup v1 has no throttling limit: use cgroup.memory (hard limit) or cgroup.memory_reservation (soft limit)' },
  'memory.min': { none: 'cgroup v1 has no hard memory protection: cgroup.memory_reservation is the nearest' },
  'memory.swap.max': { none: 'use cgroup.memory_swap, which niwa converts to memory.memsw.limit_in_bytes' },
  'memory.oom.group': { none: 'cgroup v1 has no group OOM kill' },
  'cpu.weight': (v) => [{ file: 'cpu.shares', data: String(weightToShares(Number(v))) }],
  'cpu.max': (v) => {
    const [q, p] = v.trim().split(/\s+/);
    return [...(p ? [{ file: 'cpu.cfs_period_us', data: p }] : []), { file: 'cpu.cfs_quota_us', data: maxToMinus1(q) }];
  },
  'io.weight': (v) => [{ file: 'blkio.weight', data: String(rescale(Number(v.replace(/^default\s+/, '')), IO_WEIGHT, BLKIO_WEIGHT)) }],
  'io.max': (v) => {
    const [dev, ...kv] = v.trim().split(/\s+/);
    return kv.map((x) => x.split('=')).flatMap(([k, n]) => {
      const f = IO_MAX_KEYS.find((r) => r.v2 === k);
      return f ? [{ file: f.v1, data: `${dev} ${n === 'max' ? '0' : n}` }] : [];
    });
  },
};
const HUGETLB_V1 = /^hugetlb\.([^.]+)\.limit_in_bytes$/;
const HUGETLB_V2 = /^hugetlb\.([^.]+)\.max$/;

/** Translate a raw key written for one version into the other's file(s); undefined = same name on both. */
function translateRaw(key: string, value: string, target: CgroupVersion): Out | { none: string } | undefined {
  const [table, hug, hugTo] = target === 'v2' ? [RAW_V1_TO_V2, HUGETLB_V1, 'max'] : [RAW_V2_TO_V1, HUGETLB_V2, 'limit_in_bytes'];
  const h = hug.exec(key);
  if (h) return [{ file: `hugetlb.${h[1]}.${hugTo}`, data: target === 'v2' ? minus1ToMax(value) : maxToMinus1(value) }];
  const t = table[key];
  if (!t) return undefined;
  return typeof t === 'function' ? t(value) : t;
}
const isNativeTo = (key: string, v: CgroupVersion) =>
  !(v === 'v2' ? key in RAW_V1_TO_V2 || HUGETLB_V1.test(key) : key in RAW_V2_TO_V1 || HUGETLB_V2.test(key));

// ---------------------------------------------------------------------------------------------

/** Where a (v1 or v2 named) controller lives on this host: v1 mounts win (hybrid), then the v2 mount. */
export function controllerOwner(layout: CgroupLayout, name: string): { version: CgroupVersion; controller: string } | undefined {
  if (layout.v1[name] && !name.startsWith('name=')) return { version: 'v1', controller: name };
  const v2 = V2_NAME[name] ?? name;
  const v1 = V1_NAME[v2] ?? v2;
  if (layout.v1[v1]) return { version: 'v1', controller: v1 };
  if (layout.unified && layout.v2Controllers.includes(v2)) return { version: 'v2', controller: v2 };
  return undefined;
}

/** Build the cgroup steps for one container; `relPath` is its cgroup below each hierarchy, e.g. niwa/default/web. */
export function cgroupSteps(spec: CanonicalSpec, layout: CgroupLayout, relPath: string): CgroupStepsResult {
  const cg = spec.cgroup;
  const warnings: string[] = [];
  const problems: ErrorDetail[] = [];
  const writes: FileWrite[] = [];
  const rel = relPath.replace(/^\/+|\/+$/g, '');
  if (!rel || rel.split('/').some((p) => p === '..' || p === '.')) throw new Error(`bad cgroup path ${relPath}`);
  const files = (version: CgroupVersion, controller: string) => layout.files?.[controller] && (controllerOwner(layout, controller)?.version === version) ? layout.files[controller] : undefined;
  const fileMissing = (version: CgroupVersion, controller: string, file: string) => {
    const have = files(version, controller);
    return !!have && !have.includes(file);
  };

  for (const rule of KEY_RULES) {
    const value = cg[rule.key];
    if (value === undefined) continue;
    const field = `cgroup.${rule.spec}`;
    const owner = controllerOwner(layout, rule.controller);
    const fail = (message: string, hint?: string) => problems.push({ file: spec.file, field, message, hint });
    if (!owner) { fail(`this host has no ${rule.controller} controller (not on a cgroup v1 mount nor on the cgroup2 mount)`, `remove ${field}, or enable the ${rule.controller} controller on the host`); continue; }
    const out = rule[owner.version](value, { cg, files, warn: (m) => warnings.push(m), fail });
    for (const o of out) writes.push({ version: owner.version, controller: owner.controller, ...o, field, why: rule.why });
  }

  for (const [dev, lim] of Object.entries(cg.ioMax ?? {})) {
    const field = `cgroup.io_max.${dev}`;
    const owner = controllerOwner(layout, 'io');
    if (!DEVICE.test(dev)) { problems.push({ file: spec.file, field, message: `"${dev}" is not a device number MAJ:MIN`, hint: 'see `lsblk -o NAME,MAJ:MIN` (e.g. 8:0)' }); continue; }
    if (!owner) { problems.push({ file: spec.file, field, message: 'this host has no io/blkio controller', hint: 'remove cgroup.io_max' }); continue; }
    const why = 'Throttles this block device (bytes or I/O operations per second).';
    if (owner.version === 'v2') {
      const parts = IO_MAX_KEYS.filter((r) => lim[r.k] !== undefined).map((r) => `${r.v2}=${lim[r.k]}`);
      if (parts.length) writes.push({ version: 'v2', controller: 'io', file: 'io.max', data: `${dev} ${parts.join(' ')}`, field, why });
    } else {
      for (const r of IO_MAX_KEYS) if (lim[r.k] !== undefined) writes.push({ version: 'v1', controller: owner.controller, file: r.v1, data: `${dev} ${lim[r.k]}`, field, why });
    }
  }

  for (const [size, bytes] of Object.entries(cg.hugetlb ?? {})) {
    const field = `cgroup.hugetlb.${size}`;
    const owner = controllerOwner(layout, 'hugetlb');
    const name = hugetlbSizeName(size);
    if (!name) { problems.push({ file: spec.file, field, message: `"${size}" is not a huge page size`, hint: 'write it like 2MB or 1GB' }); continue; }
    if (!owner) { problems.push({ file: spec.file, field, message: 'this host has no hugetlb controller', hint: 'remove cgroup.hugetlb' }); continue; }
    if (layout.hugepageSizes && !layout.hugepageSizes.includes(name)) {
      problems.push({ file: spec.file, field, message: `this kernel has no ${name} huge pages`, hint: `available: ${layout.hugepageSizes.join(', ') || 'none'}` });
      continue;
    }
    const file = owner.version === 'v2' ? `hugetlb.${name}.max` : `hugetlb.${name}.limit_in_bytes`;
    writes.push({ version: owner.version, controller: 'hugetlb', file, data: String(bytes), field, why: `Caps the ${name} huge pages the container may fault in.` });
  }

  // Raw keys. cfs_quota_us + cfs_period_us together become one cpu.max write on v2.
  const raw = { ...cg.raw };
  if (raw['cpu.cfs_quota_us'] !== undefined && raw['cpu.cfs_period_us'] !== undefined && controllerOwner(layout, 'cpu')?.version === 'v2') {
    raw['cpu.cfs_quota_us'] = `${minus1ToMax(raw['cpu.cfs_quota_us'])} ${raw['cpu.cfs_period_us'].trim()}`;
    delete raw['cpu.cfs_period_us'];
  }
  for (const [key, value] of Object.entries(raw)) {
    const field = `cgroup.raw.${key}`;
    const fail = (message: string, hint?: string) => problems.push({ file: spec.file, field, message, hint });
    const why = 'Raw controller file from the spec, written as given.';
    const prefix = key.split('.')[0];
    if (!/^[a-z_]+\.[A-Za-z0-9_.]+$/.test(key)) { fail(`"${key}" is not a cgroup interface file name`, 'write it like memory.high or pids.max'); continue; }
    if (prefix === 'cgroup') {
      if (!layout.unified) { fail(`${key} is a cgroup v2 core file and this host has no cgroup2 mount`); continue; }
      writes.push({ version: 'v2', controller: 'cgroup', file: key, data: value, field, why });
      continue;
    }
    const owner = controllerOwner(layout, prefix);
    if (!owner) { fail(`this host has no ${prefix} controller`, `remove ${field}, or run on a host with the ${prefix} controller`); continue; }
    let out: Out = [{ file: key, data: value }];
    if (!isNativeTo(key, owner.version)) {
      const t = translateRaw(key, value, owner.version);
      const where = `this host's ${owner.controller} controller is cgroup ${owner.version}${layout.kind === 'hybrid' ? ' (hybrid layout)' : ''}`;
      if (!t || 'none' in t) { fail(`${key} exists only in cgroup ${owner.version === 'v2' ? 'v1' : 'v2'}, and ${where}; it has no equivalent there`, t && 'none' in t ? t.none : undefined); continue; }
      out = t;
      warnings.push(`${field}: ${where}, so ${key}=${value} is written as ${t.map((x) => `${x.file}=${x.data}`).join(', ')}`);
    }
    const missing = out.find((o) => fileMissing(owner.version, owner.controller, o.file));
    if (missing) { fail(`this host's ${owner.controller} controller (cgroup ${owner.version}) has no ${missing.file}`, 'check the file name; see the kernel\'s cgroup documentation for this version'); continue; }
    for (const o of out) writes.push({ version: owner.version, controller: owner.controller, ...o, field, why });
  }

  const devices = deviceWrites(spec, layout, warnings);
  writes.push(...devices);

  if (problems.length) throw new UserError('CGROUP_SPEC', `${problems.length === 1 ? 'a cgroup limit' : `${problems.length} cgroup limits`} cannot be applied on this host (${layout.kind} cgroups)`, problems, 'see docs/cgroups.md for how each key maps to v1 and v2 files');

  return buildSteps(spec, layout, rel, writes, warnings, !devices.length && !!layout.unified);
}

/**
 * The device allowlist on cgroup v1: `devices.deny a` empties the new cgroup's list (it starts with
 * everything its parent allows), then one `devices.allow` per rule. Without a v1 devices controller the
 * cgroup2 program of buildSteps enforces the same rules; with neither, only a warning is left.
 */
function deviceWrites(spec: CanonicalSpec, layout: CgroupLayout, warnings: string[]): FileWrite[] {
  if (!layout.v1.devices) {
    if (!layout.unified) warnings.push('devices: this host has neither a cgroup v1 devices controller nor a cgroup2 mount, so device access is not restricted (a container with CAP_MKNOD can open any device it creates)');
    return [];
  }
  const nDefault = deviceRules({ devices: [] }).length;
  const specDevices = spec.devices ?? [];
  return [
    { version: 'v1', controller: 'devices', file: 'devices.deny', data: 'a', field: '', why: 'A new devices cgroup allows what its parent allows (everything): deny all first, then allow the list below (Docker\'s default).' },
    ...deviceRules(spec).map((r, i): FileWrite => ({
      version: 'v1', controller: 'devices', file: 'devices.allow', data: ruleText(r),
      field: i < nDefault ? '' : specDevices[i - nDefault].field,
      why: i < nDefault ? DEFAULT_WHY[ruleText(r)] ?? 'Docker\'s default device allowlist.' : `${specDevices[i - nDefault].source} from the spec: allowed (and bound into the container at ${specDevices[i - nDefault].target}).`,
    })),
  ];
}

const DEFAULT_WHY: Record<string, string> = {
  'c *:* m': 'mknod of any character device is allowed (as Docker does); opening one needs its own rule.',
  'b *:* m': 'mknod of any block device is allowed (as Docker does); opening one needs its own rule.',
  'c 1:3 rwm': '/dev/null.', 'c 1:5 rwm': '/dev/zero.', 'c 1:7 rwm': '/dev/full.', 'c 1:8 rwm': '/dev/random.', 'c 1:9 rwm': '/dev/urandom.',
  'c 5:0 rwm': '/dev/tty.', 'c 5:1 rwm': '/dev/console.', 'c 5:2 rwm': '/dev/ptmx (the container\'s devpts instance).', 'c 136:* rwm': 'the pty slaves /dev/pts/N.',
};

/** Hierarchies to create, then mkdir / subtree_control / cpuset / limit writes, placement and removal. */
function buildSteps(spec: CanonicalSpec, layout: CgroupLayout, rel: string, writes: FileWrite[], warnings: string[], v2Devices: boolean): CgroupStepsResult {
  const prepare: StepDraft[] = [];
  const stage: StepDraft[] = [];
  const parent: StepDraft[] = [];
  const cleanup: StepDraft[] = [];
  const cgroups: string[] = [];
  const ancestors = rel.split('/').slice(0, -1).map((_, i, a) => a.slice(0, i + 1).join('/'));

  // v1: one directory per mount point (co-mounted controllers such as cpu,cpuacct share one).
  const v1Ctrls = new Set([...BASE_V1.filter((c) => layout.v1[c]), ...writes.filter((w) => w.version === 'v1').map((w) => w.controller)]);
  const v1Mounts = new Map<string, string[]>();
  for (const c of v1Ctrls) v1Mounts.set(layout.v1[c], [...(v1Mounts.get(layout.v1[c]) ?? []), c]);
  for (const [mount, ctrls] of v1Mounts) {
    const leaf = `${mount}/${rel}`;
    cgroups.push(leaf);
    prepare.push({ op: 'mkdir', path: leaf, mode: 0o755, parents: true, field: 'cgroup', man: MAN,
      why: `Creates the container's cgroup in the v1 ${ctrls.join(',')} hierarchy (with niwa's parent cgroups).` });
    if (ctrls.includes('cpuset')) {
      // A new v1 cpuset is empty and cannot hold a process until cpus and mems are set, at every level.
      const root = layout.v1CpusetRoot;
      const leafCpus = spec.cgroup.cpusetCpus ?? root?.cpus;
      const leafMems = spec.cgroup.cpusetMems ?? root?.mems ?? '0';
      if (!root?.mems && !spec.cgroup.cpusetMems) warnings.push('cgroup.cpuset_cpus: the host cpuset root is unknown; using cpuset.mems 0');
      for (const a of ancestors) {
        for (const [f, v] of [['cpuset.cpus', root?.cpus ?? leafCpus], ['cpuset.mems', root?.mems ?? leafMems]] as const) {
          if (v !== undefined) prepare.push({ op: 'write', path: `${mount}/${a}/${f}`, data: v, field: 'cgroup', man: MAN, why: `A v1 cpuset starts empty; niwa's parent cgroup gets the root's ${f} so children can use them.` });
        }
      }
      if (spec.cgroup.cpusetMems === undefined) prepare.push({ op: 'write', path: `${leaf}/cpuset.mems`, data: leafMems, field: 'cgroup', man: MAN, why: 'A v1 cpuset cannot hold processes until cpuset.mems is set: copied from the root.' });
      if (spec.cgroup.cpusetCpus === undefined && leafCpus !== undefined) prepare.push({ op: 'write', path: `${leaf}/cpuset.cpus`, data: leafCpus, field: 'cgroup', man: MAN, why: 'A v1 cpuset cannot hold processes until cpuset.cpus is set: copied from the root.' });
    }
    for (const w of writes) if (w.version === 'v1' && ctrls.includes(w.controller)) prepare.push(writeStep(`${leaf}/${w.file}`, w));
  }

  // v2: always when a cgroup2 mount exists (cgroup.kill, cgroup.events, cgroup.freeze live there).
  if (layout.unified) {
    const u = layout.unified;
    const leaf = `${u}/${rel}`;
    const enable = [...new Set([
      ...(layout.kind === 'v2' ? BASE_V2.filter((c) => layout.v2Controllers.includes(c)) : []),
      ...writes.filter((w) => w.version === 'v2' && w.controller !== 'cgroup').map((w) => w.controller),
    ])];
    cgroups.push(leaf);
    prepare.push({ op: 'mkdir', path: leaf, mode: 0o755, parents: true, field: 'cgroup', man: MAN,
      why: `Creates the container's cgroup on the cgroup2 mount (with niwa's parent cgroups)${layout.kind === 'hybrid' ? ', for cgroup.kill, cgroup.events and the controllers only v2 has' : ''}.` });
    if (enable.length) {
      for (const dir of [u, ...ancestors.map((a) => `${u}/${a}`)]) {
        prepare.push({ op: 'write', path: `${dir}/cgroup.subtree_control`, data: enable.map((c) => `+${c}`).join(' '), field: 'cgroup', man: MAN,
          why: `Enables the ${enable.join(', ')} controller${enable.length > 1 ? 's' : ''} for the children of ${dir === u ? 'the root' : dir.slice(u.length + 1)}, down to the container's cgroup.` });
      }
    }
    for (const w of writes) if (w.version === 'v2') prepare.push(writeStep(`${leaf}/${w.file}`, w));
    if (v2Devices) {
      const rules = deviceRules(spec);
      stage.push({ op: 'device_filter', cgroup: leaf, rules: rules.map(ruleText), program: deviceProgram(rules), field: spec.devices?.length ? 'devices' : '', man: 'bpf(2)',
        why: 'cgroup v2 has no devices files: a BPF_CGROUP_DEVICE program attached to the container\'s cgroup allows only these devices (Docker\'s default list plus spec.devices); any other open or mknod fails with EPERM.' });
    }
  }

  for (const leaf of cgroups) {
    parent.push({ op: 'write', path: `${leaf}/cgroup.procs`, data: '{pid}', field: 'cgroup', man: MAN,
      why: 'Moves the container process into its cgroup before it runs any user code, so no moment runs unlimited.' });
  }
  for (const leaf of [...cgroups].reverse()) {
    cleanup.push({ op: 'rmdir', path: leaf, field: 'cgroup', man: MAN, why: "Removes the container's cgroup (leftover processes are killed first)." });
    const base = leaf.slice(0, leaf.length - rel.length - 1);
    for (const a of [...ancestors].reverse()) {
      cleanup.push({ op: 'rmdir', path: `${base}/${a}`, bestEffort: true, field: 'cgroup', man: MAN, why: "Removes niwa's parent cgroup if no other container uses it." });
    }
  }
  return { prepare, stage, parent, cleanup, cgroups, warnings };
}

function writeStep(path: string, w: FileWrite): StepDraft {
  return { op: 'write', path, data: w.data, field: w.field, why: w.why, man: MAN };
}
