// Owns reading a container's resource usage from its cgroups on any layout: readCgroupStats and oomKilled.
import type { CgroupLayout } from '../../plan/types.js';
import type { CgroupFs, CgroupStats } from './types.js';
import { controllerOwner } from '../../plan/steps/cgroup.js';
import { nodeCgroupFs } from './remove.js';
import { v2Stats } from './v2.js';
import { v1Stats } from './v1.js';

/** The container's cgroup directory that carries `controller` on this host (v1 mount or the v2 one). */
export function dirFor(cgroups: string[], layout: CgroupLayout, controller: string): { version: 'v1' | 'v2'; dir: string } | undefined {
  const owner = controllerOwner(layout, controller);
  if (!owner) return undefined;
  const mount = owner.version === 'v1' ? layout.v1[owner.controller] : layout.unified;
  const dir = mount === undefined ? undefined : cgroups.find((c) => c.startsWith(mount + '/'));
  return dir ? { version: owner.version, dir } : undefined;
}

/** The container's cgroup on the cgroup2 mount (pure v2 or hybrid), if it has one. */
export function unifiedDir(cgroups: string[], layout: CgroupLayout): string | undefined {
  return layout.unified === undefined ? undefined : cgroups.find((c) => c.startsWith(layout.unified + '/'));
}

/** Memory, CPU, pids and OOM-kill figures for `niwa stats` and the UI; fields the host lacks stay undefined. */
export function readCgroupStats(cgroups: string[], layout: CgroupLayout, fs: CgroupFs = nodeCgroupFs): CgroupStats {
  const stats: CgroupStats = { memory: {}, cpu: {}, pids: {}, oomKills: 0 };
  const mem = dirFor(cgroups, layout, 'memory');
  if (mem) {
    const s = mem.version === 'v2' ? v2Stats : v1Stats;
    stats.memory = s.memory(fs, mem.dir);
    stats.oomKills = s.oomKills(fs, mem.dir) ?? 0;
  }
  const cpu = dirFor(cgroups, layout, 'cpu');
  const acct = dirFor(cgroups, layout, 'cpuacct');
  if (cpu?.version === 'v2') stats.cpu = v2Stats.cpu(fs, cpu.dir);
  else {
    if (cpu) stats.cpu.nrThrottled = v1Stats.cpu(fs, cpu.dir).nrThrottled;
    if (acct?.version === 'v1') stats.cpu.usageNs = v1Stats.cpuacct(fs, acct.dir).usageNs;
    // Without cpuacct, the cgroup2 mount's cpu.stat (a core file) still counts usage.
    const u = unifiedDir(cgroups, layout);
    if (stats.cpu.usageNs === undefined && u) stats.cpu.usageNs = v2Stats.cpu(fs, u).usageNs;
  }
  const pids = dirFor(cgroups, layout, 'pids');
  if (pids) stats.pids = (pids.version === 'v2' ? v2Stats : v1Stats).pids(fs, pids.dir);
  return stats;
}

/** True when the OOM killer has killed a process in the container's memory cgroup. */
export function oomKilled(cgroups: string[], layout: CgroupLayout, fs: CgroupFs = nodeCgroupFs): boolean {
  const mem = dirFor(cgroups, layout, 'memory');
  if (!mem) return false;
  return ((mem.version === 'v2' ? v2Stats : v1Stats).oomKills(fs, mem.dir) ?? 0) > 0;
}
