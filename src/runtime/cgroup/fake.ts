// Owns a fake cgroupfs for unit tests: a temp-dir tree whose CgroupFs behaves like the kernel's
// (new cgroups get their interface files, cgroup.procs/kill/freeze/subtree_control have effects,
// rmdir refuses busy cgroups) for v2, v1 and hybrid layouts.
import { mkdtempSync, mkdirSync, writeFileSync, readFileSync, existsSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import type { CgroupLayout, CgroupLayoutKind } from '../../plan/types.js';
import type { CgroupFs } from './types.js';
import { detectCgroupLayout } from './detect.js';

type Files = Record<string, string>;
const V2_CORE: Files = { 'cgroup.procs': '', 'cgroup.events': 'populated 0\nfrozen 0\n', 'cgroup.freeze': '0', 'cgroup.kill': '', 'cgroup.subtree_control': '', 'cgroup.controllers': '', 'cgroup.max.descendants': 'max', 'cpu.stat': 'usage_usec 0\nuser_usec 0\nsystem_usec 0\n' };
const V2_FILES: Record<string, Files> = {
  memory: { 'memory.max': 'max', 'memory.low': '0', 'memory.high': 'max', 'memory.min': '0', 'memory.swap.max': 'max', 'memory.current': '0', 'memory.peak': '0', 'memory.events': 'low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n' },
  cpu: { 'cpu.max': 'max 100000', 'cpu.weight': '100', 'cpu.stat': 'usage_usec 0\nuser_usec 0\nsystem_usec 0\nnr_periods 0\nnr_throttled 0\nthrottled_usec 0\n' },
  pids: { 'pids.max': 'max', 'pids.current': '0', 'pids.events': 'max 0\n' },
  cpuset: { 'cpuset.cpus': '', 'cpuset.mems': '', 'cpuset.cpus.effective': '0-1', 'cpuset.mems.effective': '0' },
  io: { 'io.max': '', 'io.weight': 'default 100', 'io.stat': '' },
  hugetlb: { 'hugetlb.2MB.max': 'max', 'hugetlb.2MB.current': '0', 'hugetlb.1GB.max': 'max', 'hugetlb.1GB.current': '0' },
};
const V1_CORE: Files = { 'cgroup.procs': '', tasks: '', 'cgroup.clone_children': '0', notify_on_release: '0' };
const V1_FILES: Record<string, Files> = {
  memory: { 'memory.limit_in_bytes': '9223372036854771712', 'memory.soft_limit_in_bytes': '9223372036854771712', 'memory.memsw.limit_in_bytes': '9223372036854771712', 'memory.usage_in_bytes': '0', 'memory.max_usage_in_bytes': '0', 'memory.oom_control': 'oom_kill_disable 0\nunder_oom 0\noom_kill 0\n', 'memory.swappiness': '60' },
  cpu: { 'cpu.shares': '1024', 'cpu.cfs_quota_us': '-1', 'cpu.cfs_period_us': '100000', 'cpu.stat': 'nr_periods 0\nnr_throttled 0\nthrottled_time 0\n' },
  cpuacct: { 'cpuacct.usage': '0', 'cpuacct.stat': 'user 0\nsystem 0\n' },
  pids: { 'pids.max': 'max', 'pids.current': '0', 'pids.events': 'max 0\n' },
  cpuset: { 'cpuset.cpus': '', 'cpuset.mems': '' },
  freezer: { 'freezer.state': 'THAWED' },
  blkio: { 'blkio.weight': '500', 'blkio.throttle.read_bps_device': '', 'blkio.throttle.write_bps_device': '', 'blkio.throttle.read_iops_device': '', 'blkio.throttle.write_iops_device': '' },
  hugetlb: { 'hugetlb.2MB.limit_in_bytes': '9223372036854771712', 'hugetlb.2MB.usage_in_bytes': '0' },
};

export interface FakeCgroupTree {
  root: string;
  layout: CgroupLayout;
  fs: CgroupFs;
  /** Pids the fake "killed" (cgroup.kill or signal), in order. */
  killed: number[];
  /** Use as a manager's `signal`: removes the pid from every cgroup.procs, as its exit would. */
  signal: (pid: number) => void;
  /** Set a file's content as the kernel would (usage counters, events) — for stats tests. */
  set(path: string, data: string): void;
  cleanup(): void;
}

export interface FakeOptions {
  /** v1 controllers to mount (default: cpu,cpuacct co-mounted, cpuset, memory, pids, blkio, freezer, name=systemd). */
  v1Mounts?: string[][];
  /** v2 controllers available (pure v2 default: cpu cpuset io memory pids hugetlb; hybrid: hugetlb). */
  v2Controllers?: string[];
  /** Leave out these files from new cgroups (e.g. memory.memsw.limit_in_bytes for no swap accounting). */
  without?: string[];
}

/** Build a fake host cgroup tree for `kind` under a new temp dir; the layout comes from detect on a fabricated mountinfo. */
export function createFakeCgroupTree(kind: CgroupLayoutKind, opts: FakeOptions = {}): FakeCgroupTree {
  const root = mkdtempSync(join(tmpdir(), 'niwa-fakecg-'));
  const killed: number[] = [];
  const v1Mounts = kind === 'v2' ? [] : opts.v1Mounts ?? [['cpu', 'cpuacct'], ['cpuset'], ['memory'], ['pids'], ['blkio'], ['freezer'], ['name=systemd']];
  const v2Ctrls = opts.v2Controllers ?? (kind === 'v2' ? ['cpuset', 'cpu', 'io', 'memory', 'hugetlb', 'pids'] : kind === 'hybrid' ? ['hugetlb'] : []);
  const unified = kind === 'v2' ? root : kind === 'hybrid' ? join(root, 'unified') : undefined;
  const mountOf = new Map<string, { version: 'v1' | 'v2'; ctrls: string[] }>();
  const lines: string[] = [`30 1 0:27 / ${root} rw - tmpfs tmpfs rw`];
  let id = 31;
  for (const ctrls of v1Mounts) {
    const m = join(root, ctrls.map((c) => c.replace('name=', '')).join(','));
    mountOf.set(m, { version: 'v1', ctrls });
    lines.push(`${id++} 30 0:${id} / ${m} rw,relatime - cgroup cgroup rw,${ctrls.join(',')}`);
  }
  if (unified) {
    mountOf.set(unified, { version: 'v2', ctrls: v2Ctrls });
    lines.push(`${id++} 30 0:${id} / ${unified} rw,relatime - cgroup2 cgroup2 rw`);
  }
  const template = (m: { version: 'v1' | 'v2'; ctrls: string[] }, isRoot: boolean): Files => {
    const base = m.version === 'v2' ? { ...V2_CORE } : { ...V1_CORE };
    if (isRoot && m.version === 'v2') return { ...base, 'cgroup.controllers': m.ctrls.join(' ') };
    const files: Files = Object.assign(base, ...m.ctrls.map((c) => (m.version === 'v2' ? V2_FILES : V1_FILES)[c] ?? {}));
    // A v1 root has its controller's files except these (as on a real host).
    if (isRoot) for (const f of ['pids.max', 'pids.current', 'pids.events', 'freezer.state']) delete files[f];
    if (m.version === 'v2') files['cgroup.controllers'] = m.ctrls.join(' ');
    for (const w of opts.without ?? []) delete files[w];
    return files;
  };
  const populate = (dir: string, files: Files) => { for (const [f, v] of Object.entries(files)) writeFileSync(join(dir, f), v); };
  for (const [m, info] of mountOf) { mkdirSync(m, { recursive: true }); populate(m, template(info, true)); }
  if (kind !== 'v2' && v1Mounts.some((c) => c.includes('cpuset'))) {
    const cs = join(root, 'cpuset');
    writeFileSync(join(cs, 'cpuset.cpus'), '0-1'); writeFileSync(join(cs, 'cpuset.mems'), '0');
  }
  const mountFor = (p: string) => [...mountOf.keys()].filter((m) => p === m || p.startsWith(m + '/')).sort((a, b) => b.length - a.length)[0];
  const errno = (code: string, p: string) => Object.assign(new Error(`${code}: ${p}`), { code });
  const allProcs = (dir: string): string[] => [join(dir, 'cgroup.procs'), ...readdirSync(dir, { withFileTypes: true }).filter((d) => d.isDirectory()).flatMap((d) => allProcs(join(dir, d.name)))];
  const procsOf = (dir: string) => (existsSync(join(dir, 'cgroup.procs')) ? readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean) : []);
  const signal = (pid: number) => {
    killed.push(pid);
    for (const m of mountOf.keys()) for (const f of allProcs(m)) {
      const left = readFileSync(f, 'utf8').split('\n').filter((x) => x && Number(x) !== pid);
      writeFileSync(f, left.map((x) => x + '\n').join(''));
    }
  };

  const fs: CgroupFs = {
    mkdirp(p) {
      const m = mountFor(p);
      const missing: string[] = [];
      for (let d = p; !existsSync(d); d = dirname(d)) missing.unshift(d);
      for (const d of missing) { mkdirSync(d); if (m && d !== m) populate(d, template(mountOf.get(m)!, false)); }
    },
    write(p, data) {
      if (!existsSync(p)) throw errno('ENOENT', p);
      const dir = dirname(p);
      const m = mountFor(p);
      switch (basename(p)) {
        case 'cgroup.procs': {
          // Moving a pid: it leaves every other cgroup of the same hierarchy.
          for (const f of allProcs(m)) if (f !== p) writeFileSync(f, readFileSync(f, 'utf8').split('\n').filter((x) => x && x !== data.trim()).map((x) => x + '\n').join(''));
          const cur = procsOf(dir);
          if (!cur.includes(data.trim())) writeFileSync(p, [...cur, data.trim()].map((x) => x + '\n').join(''));
          return;
        }
        case 'cgroup.kill':
          for (const pid of procsOf(dir)) signal(Number(pid));
          return;
        case 'cgroup.freeze': {
          const frozen = data.trim() === '1' ? 1 : 0;
          writeFileSync(p, String(frozen));
          writeFileSync(join(dir, 'cgroup.events'), `populated ${procsOf(dir).length ? 1 : 0}\nfrozen ${frozen}\n`);
          return;
        }
        case 'cgroup.subtree_control': {
          const avail = readFileSync(join(dir, 'cgroup.controllers'), 'utf8').trim().split(/\s+/);
          const cur = new Set(readFileSync(p, 'utf8').trim().split(/\s+/).filter(Boolean));
          for (const t of data.trim().split(/\s+/)) {
            if (!avail.includes(t.slice(1))) throw errno('ENOENT', p);
            if (t[0] === '+') cur.add(t.slice(1)); else cur.delete(t.slice(1));
          }
          writeFileSync(p, [...cur].join(' '));
          return;
        }
        default:
          writeFileSync(p, data);
      }
    },
    read: (p) => (existsSync(p) ? readFileSync(p, 'utf8') : undefined),
    exists: (p) => existsSync(p),
    subdirs: (p) => (existsSync(p) ? readdirSync(p, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => join(p, d.name)) : []),
    rmdir(p) {
      if (!existsSync(p)) throw errno('ENOENT', p);
      if (fs.subdirs(p).length || procsOf(p).length) throw errno('EBUSY', p);
      rmSync(p, { recursive: true });
    },
    isCgroupFs: (p) => mountFor(p) !== undefined,
  };
  const layout = detectCgroupLayout(root, { mountinfo: lines.join('\n') + '\n' });
  return { root, layout, fs, killed, signal, set: (p, d) => writeFileSync(p, d), cleanup: () => rmSync(root, { recursive: true, force: true }) };
}
