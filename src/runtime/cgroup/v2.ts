// Owns cgroup v2 specifics for one cgroup directory: freeze/thaw, kill, events and stats files.
import { RuntimeFailure } from '../../errors.js';
import { join } from 'node:path';
import type { CgroupFs } from './types.js';
import { sleep } from './remove.js';

/** Parse a flat-keyed file ("key value" per line, e.g. cgroup.events, memory.events, cpu.stat). */
export function parseFlatKeyed(text: string | undefined): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of (text ?? '').split('\n')) {
    const [k, v] = line.trim().split(/\s+/);
    if (k && v !== undefined && /^-?\d+$/.test(v)) out[k] = Number(v);
  }
  return out;
}

/** A number from a single-value file; "max" (or a v1 'unlimited' near 2^63) → null; missing → undefined. */
export function readLimit(fs: CgroupFs, path: string): number | null | undefined {
  const t = fs.read(path)?.trim().split(/\s+/)[0];
  if (t === undefined || t === '') return undefined;
  if (t === 'max' || t === '-1') return null;
  const n = Number(t);
  return Number.isFinite(n) ? (n >= 2 ** 62 ? null : n) : undefined;
}
export const readNumber = (fs: CgroupFs, path: string): number | undefined => {
  const v = readLimit(fs, path);
  return v === null ? undefined : v;
};

/** Freeze or thaw with cgroup.freeze and wait (bounded) until cgroup.events reports it. */
export async function v2Freeze(fs: CgroupFs, dir: string, frozen: boolean, timeoutMs = 2000): Promise<void> {
  fs.write(join(dir, 'cgroup.freeze'), frozen ? '1' : '0');
  const deadline = Date.now() + timeoutMs;
  while ((parseFlatKeyed(fs.read(join(dir, 'cgroup.events'))).frozen === 1) !== frozen) {
    if (Date.now() > deadline) throw new RuntimeFailure('E_CGROUP_FREEZE', `cgroup.freeze \`${dir}\`: still ${frozen ? 'not frozen' : 'frozen'} after ${timeoutMs} ms`, { hint: 'a process in the container may be stuck in the kernel (uninterruptible I/O); try again, or stop it' });
    await sleep(5);
  }
}

/** cgroup.kill (kernel ≥ 5.14) SIGKILLs every process in the subtree; false when the kernel lacks it. */
export function v2Kill(fs: CgroupFs, dir: string): boolean {
  const f = join(dir, 'cgroup.kill');
  if (!fs.exists(f)) return false;
  fs.write(f, '1');
  return true;
}

export function v2Events(fs: CgroupFs, dir: string) {
  const ev = parseFlatKeyed(fs.read(join(dir, 'cgroup.events')));
  const mem = parseFlatKeyed(fs.read(join(dir, 'memory.events')));
  const pids = parseFlatKeyed(fs.read(join(dir, 'pids.events')));
  return {
    populated: ev.populated === undefined ? undefined : ev.populated === 1,
    frozen: ev.frozen === undefined ? undefined : ev.frozen === 1,
    oom: mem.oom ?? 0, oomKill: mem.oom_kill ?? 0, pidsMax: pids.max ?? 0,
  };
}

/** Stats files of a v2 cgroup, read per controller (a missing controller leaves its fields undefined). */
export const v2Stats = {
  memory: (fs: CgroupFs, dir: string) => ({
    current: readNumber(fs, join(dir, 'memory.current')),
    peak: readNumber(fs, join(dir, 'memory.peak')),
    limit: readLimit(fs, join(dir, 'memory.max')),
  }),
  oomKills: (fs: CgroupFs, dir: string) => parseFlatKeyed(fs.read(join(dir, 'memory.events'))).oom_kill,
  cpu: (fs: CgroupFs, dir: string) => {
    const s = parseFlatKeyed(fs.read(join(dir, 'cpu.stat')));
    return { usageNs: s.usage_usec === undefined ? undefined : s.usage_usec * 1000, nrThrottled: s.nr_throttled };
  },
  pids: (fs: CgroupFs, dir: string) => ({ current: readNumber(fs, join(dir, 'pids.current')), limit: readLimit(fs, join(dir, 'pids.max')) }),
};
