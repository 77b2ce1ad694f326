// Owns cgroup layout detection: parse /proc/self/mountinfo (pure) and probe the mounted hierarchies (read-only).
import { RuntimeFailure } from '../../errors.js';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { CgroupLayout, CgroupLayoutKind } from '../../plan/types.js';

/** One line of /proc/PID/mountinfo (see proc(5)). */
export interface MountEntry {
  mountPoint: string;
  /** Root of the mount within its filesystem (a sub-cgroup when mounted inside a container). */
  root: string;
  fstype: string;
  superOptions: string[];
}

/** Controllers a cgroup-v1 mount may carry (cgroups(7)); `name=X` marks a named hierarchy. */
export const V1_CONTROLLERS = [
  'cpuset', 'cpu', 'cpuacct', 'blkio', 'memory', 'devices', 'freezer', 'net_cls', 'perf_event',
  'net_prio', 'hugetlb', 'pids', 'rdma', 'misc',
] as const;

/** Decode the octal escapes (\040 = space, \011, \012, \134) that proc(5) uses in mountinfo paths. */
const unescape = (s: string) => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));

/** Parse mountinfo text into entries; lines that do not parse are skipped. Pure. */
export function parseMountinfo(text: string): MountEntry[] {
  const out: MountEntry[] = [];
  for (const line of text.split('\n')) {
    const f = line.trim().split(' ');
    const sep = f.indexOf('-', 6);
    if (f.length < 10 || sep < 0 || sep + 3 > f.length) continue;
    out.push({
      root: unescape(f[3]),
      mountPoint: unescape(f[4]),
      fstype: f[sep + 1],
      superOptions: (f[sep + 3] ?? '').split(','),
    });
  }
  return out;
}

export interface MountLayout {
  kind: CgroupLayoutKind;
  unified?: string;
  /** v1 controller (or `name=X`) → mount point. Co-mounted controllers share a mount point. */
  v1: Record<string, string>;
}

/** Which layout the mounts describe. Pure: no file system access. Throws when no cgroup fs is mounted. */
export function layoutFromMounts(entries: MountEntry[], root = '/sys/fs/cgroup'): MountLayout {
  const under = (p: string) => p === root || p.startsWith(root + '/');
  // Prefer mounts under `root`, then the first one seen (containers may bind the same hierarchy twice).
  const ordered = [...entries.filter((e) => under(e.mountPoint)), ...entries.filter((e) => !under(e.mountPoint))];
  let unified: string | undefined;
  const v1: Record<string, string> = {};
  for (const e of ordered) {
    if (e.fstype === 'cgroup2') unified ??= e.mountPoint;
    if (e.fstype !== 'cgroup') continue;
    for (const opt of e.superOptions) {
      const isController = (V1_CONTROLLERS as readonly string[]).includes(opt) || opt.startsWith('name=');
      if (isController && !(opt in v1)) v1[opt] = e.mountPoint;
    }
  }
  const realV1 = Object.keys(v1).some((c) => !c.startsWith('name='));
  let kind: CgroupLayoutKind;
  if (unified !== undefined && unified === root && !realV1) kind = 'v2';
  else if (realV1 && unified !== undefined) kind = 'hybrid';
  else if (realV1 || Object.keys(v1).length) kind = 'v1';
  else if (unified !== undefined) kind = 'v2';
  else throw new RuntimeFailure('E_NO_CGROUPFS', 'no cgroup file system is mounted (looked for cgroup and cgroup2 in /proc/self/mountinfo)', { hint: 'mount cgroup2 at /sys/fs/cgroup (mount -t cgroup2 none /sys/fs/cgroup), or run niwa on a host with cgroups' });
  return { kind, unified, v1 };
}

/**
 * Files that every non-root cgroup of a v1 controller has but the hierarchy's root lacks; added to a
 * root listing so `files` can stand for "what a niwa cgroup will have" when no child cgroup exists yet.
 */
const V1_ROOT_ABSENT: Record<string, string[]> = {
  pids: ['pids.max', 'pids.current', 'pids.events'],
  freezer: ['freezer.state', 'freezer.self_freezing', 'freezer.parent_freezing'],
  memory: [], cpu: [], cpuacct: [], cpuset: [], devices: [], hugetlb: [],
};

const readText = (p: string): string | undefined => {
  try { return readFileSync(p, 'utf8'); } catch { return undefined; }
};
const listFiles = (dir: string): string[] => {
  try { return readdirSync(dir, { withFileTypes: true }).filter((d) => d.isFile()).map((d) => d.name); } catch { return []; }
};
const firstChildDir = (dir: string): string | undefined => {
  try {
    const d = readdirSync(dir, { withFileTypes: true }).find((x) => x.isDirectory());
    return d ? join(dir, d.name) : undefined;
  } catch { return undefined; }
};

/** Page-size names the kernel uses in hugetlb file names (2048kB → 2MB, 1048576kB → 1GB). */
export function hugepageSizeName(kb: number): string {
  if (kb % (1024 * 1024) === 0) return `${kb / (1024 * 1024)}GB`;
  if (kb % 1024 === 0) return `${kb / 1024}MB`;
  return `${kb}KB`;
}

export interface DetectOptions {
  /** mountinfo text to use instead of /proc/self/mountinfo (tests). */
  mountinfo?: string;
  /** Skip the read-only probes of the mounted trees (controllers, files, hugepage sizes). */
  noProbe?: boolean;
}

/** Detect v2 / v1 / hybrid and probe what each hierarchy offers. Reads only; never creates cgroups. */
export function detectCgroupLayout(root = '/sys/fs/cgroup', opts: DetectOptions = {}): CgroupLayout {
  const text = opts.mountinfo ?? readFileSync('/proc/self/mountinfo', 'utf8');
  const m = layoutFromMounts(parseMountinfo(text), root);
  const layout: CgroupLayout = { kind: m.kind, unified: m.unified, v2Controllers: [], v1: m.v1 };
  if (opts.noProbe) return layout;
  const files: Record<string, string[]> = {};
  if (m.unified) {
    layout.v2Controllers = (readText(join(m.unified, 'cgroup.controllers')) ?? '').trim().split(/\s+/).filter(Boolean);
    // v2 roots lack controller files; a child with the controller enabled shows what a niwa cgroup will get.
    const enabled = (readText(join(m.unified, 'cgroup.subtree_control')) ?? '').trim().split(/\s+/);
    const child = firstChildDir(m.unified);
    if (child) {
      const names = listFiles(child);
      for (const c of layout.v2Controllers) if (enabled.includes(c)) files[c] = names.filter((n) => n.startsWith(c + '.'));
    }
  }
  for (const [c, mount] of Object.entries(m.v1)) {
    if (c.startsWith('name=')) continue;
    const child = firstChildDir(mount);
    const names = new Set([...listFiles(mount), ...(child ? listFiles(child) : V1_ROOT_ABSENT[c] ?? [])]);
    // blkio weight files depend on the I/O scheduler and exist only below the root: unknown without a child.
    if (c === 'blkio' && !child) continue;
    files[c] = [...names].filter((n) => n.startsWith(c + '.')).sort();
  }
  layout.files = files;
  try {
    layout.hugepageSizes = readdirSync('/sys/kernel/mm/hugepages')
      .map((d) => /^hugepages-(\d+)kB$/.exec(d))
      .filter((x): x is RegExpExecArray => !!x)
      .map((x) => hugepageSizeName(Number(x[1])));
  } catch { /* no hugetlb support */ }
  const cpuset = m.v1.cpuset;
  if (cpuset) {
    const cpus = readText(join(cpuset, 'cpuset.cpus'))?.trim();
    const mems = readText(join(cpuset, 'cpuset.mems'))?.trim();
    if (cpus !== undefined && mems !== undefined) layout.v1CpusetRoot = { cpus, mems };
  }
  return layout;
}
