// Owns cgroup v1 specifics: freezer.state freeze/thaw, freeze+SIGKILL+thaw kill, and the v1 stats files.
import { RuntimeFailure } from '../../errors.js';
import { join } from 'node:path';
import type { CgroupFs } from './types.js';
import { parseFlatKeyed, readLimit, readNumber } from './v2.js';
import { readProcs, sleep } from './remove.js';

/** Freeze or thaw with freezer.state; FREEZING is transitional, so wait (bounded) for FROZEN. */
export async function v1Freeze(fs: CgroupFs, freezerDir: string, frozen: boolean, timeoutMs = 2000): Promise<void> {
  const f = join(freezerDir, 'freezer.state');
  const want = frozen ? 'FROZEN' : 'THAWED';
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    fs.write(f, want);
    if (fs.read(f)?.trim() === want) return;
    if (Date.now() > deadline) throw new RuntimeFailure('E_CGROUP_FREEZE', `freezer.state \`${freezerDir}\`: not ${want} after ${timeoutMs} ms`, { hint: 'a process in the container may be stuck in the kernel (uninterruptible I/O); try again, or stop it' });
    await sleep(5);
  }
}

/**
 * Kill every process of the container on v1: freeze (v1 freezer or v2 cgroup.freeze, so nothing forks meanwhile), SIGKILL each pid in
 * every hierarchy's cgroup.procs, thaw (a frozen task cannot die), and repeat until all are empty.
 */
export async function v1KillAll(fs: CgroupFs, dirs: string[], freeze: ((on: boolean) => Promise<void>) | undefined,
  signal: (pid: number) => void, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const pids = [...new Set(dirs.flatMap((d) => readProcs(fs, d)))];
    if (!pids.length) return;
    if (Date.now() > deadline) throw new RuntimeFailure('E_CGROUP_KILL', `could not kill every process in ${dirs.join(', ')}: left ${pids.join(' ')}`, { hint: 'processes in uninterruptible sleep (state D in /proc/PID/stat) die once their I/O ends; try niwa rm -f again' });
    if (freeze) await freeze(true).catch(() => undefined);
    for (const p of pids) signal(p);
    if (freeze) await freeze(false).catch(() => undefined);
    await sleep(10);
  }
}

export function v1Events(fs: CgroupFs, memoryDir?: string, pidsDir?: string, freezerDir?: string) {
  const oc = memoryDir ? parseFlatKeyed(fs.read(join(memoryDir, 'memory.oom_control'))) : {};
  const pe = pidsDir ? parseFlatKeyed(fs.read(join(pidsDir, 'pids.events'))) : {};
  const state = freezerDir ? fs.read(join(freezerDir, 'freezer.state'))?.trim() : undefined;
  return { frozen: state === undefined ? undefined : state === 'FROZEN', oom: oc.under_oom ?? 0, oomKill: oc.oom_kill ?? 0, pidsMax: pe.max ?? 0 };
}

export const v1Stats = {
  memory: (fs: CgroupFs, dir: string) => ({
    current: readNumber(fs, join(dir, 'memory.usage_in_bytes')),
    peak: readNumber(fs, join(dir, 'memory.max_usage_in_bytes')),
    limit: readLimit(fs, join(dir, 'memory.limit_in_bytes')),
  }),
  /** memory.oom_control has an oom_kill line since Linux 4.13. */
  oomKills: (fs: CgroupFs, dir: string) => parseFlatKeyed(fs.read(join(dir, 'memory.oom_control'))).oom_kill,
  cpuacct: (fs: CgroupFs, dir: string) => ({ usageNs: readNumber(fs, join(dir, 'cpuacct.usage')) }),
  cpu: (fs: CgroupFs, dir: string) => ({ nrThrottled: parseFlatKeyed(fs.read(join(dir, 'cpu.stat'))).nr_throttled }),
  pids: (fs: CgroupFs, dir: string) => ({ current: readNumber(fs, join(dir, 'pids.current')), limit: readLimit(fs, join(dir, 'pids.max')) }),
};
