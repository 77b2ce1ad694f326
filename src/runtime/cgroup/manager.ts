// Owns the CgroupManager: one container's cgroups on v2, v1 or hybrid hosts (hybrid = v1 controllers + v2 mount).
import { join } from 'node:path';
import type { CgroupLayout } from '../../plan/types.js';
import type { CgroupEvents, CgroupFs, CgroupManager, CgroupStats, CgroupWrite } from './types.js';
import { RuntimeFailure } from '../../errors.js';
import { nodeCgroupFs, readProcs, removeCgroup } from './remove.js';
import { dirFor, oomKilled, readCgroupStats, unifiedDir } from './stats.js';
import { v2Events, v2Freeze, v2Kill } from './v2.js';
import { v1Events, v1Freeze, v1KillAll } from './v1.js';

export interface ManagerOptions {
  fs?: CgroupFs;
  /** The container's path below each hierarchy (niwa/<project>/<id>): remove() then also prunes niwa's empty parents. */
  relPath?: string;
  /** Send SIGKILL to a pid (tests inject a fake). */
  signal?: (pid: number) => void;
}

/** Paths are the container's leaf cgroups, as in LaunchPlan.cgroups (one per v1 mount used, plus the v2 one). */
export function createCgroupManager(layout: CgroupLayout, paths: string[], opts: ManagerOptions = {}): CgroupManager {
  const fs = opts.fs ?? nodeCgroupFs;
  const signal = opts.signal ?? ((pid: number) => { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } });
  const unified = () => unifiedDir(paths, layout);
  const freezer = () => dirFor(paths, layout, 'freezer');
  const canFreezeV2 = () => { const u = unified(); return u !== undefined && fs.exists(join(u, 'cgroup.freeze')) ? u : undefined; };
  const fail = (what: string, path: string, e: unknown, field?: string) => {
    const code = (e as NodeJS.ErrnoException)?.code ?? String(e);
    return new RuntimeFailure('CGROUP_WRITE', `${what} \`${path}\`: ${code}`, { cause: e, field,
      hint: code === 'EINVAL' ? 'the kernel rejected the value; check its unit and range for this cgroup version' : code === 'ENOENT' ? 'this cgroup file does not exist on this kernel' : undefined });
  };

  const freeze = async (on: boolean) => {
    const u = canFreezeV2();
    if (u) return v2Freeze(fs, u, on);
    const f = freezer();
    if (f) return v1Freeze(fs, f.dir, on);
    throw new RuntimeFailure('CGROUP_NO_FREEZER', 'cannot freeze: this host has neither cgroup.freeze (v2) nor the v1 freezer controller');
  };

  const mgr: CgroupManager = {
    paths,
    create() {
      for (const p of paths) { try { fs.mkdirp(p); } catch (e) { throw fail('mkdir', p, e, 'cgroup'); } }
    },
    apply(writes: CgroupWrite[]) {
      for (const w of writes) { try { fs.write(w.path, w.data); } catch (e) { throw fail(`write ${JSON.stringify(w.data)} to`, w.path, e, w.field); } }
    },
    place(pid: number) {
      for (const p of paths) { try { fs.write(join(p, 'cgroup.procs'), String(pid)); } catch (e) { throw fail(`write ${pid} to`, join(p, 'cgroup.procs'), e, 'cgroup'); } }
    },
    pids: () => [...new Set(paths.flatMap((p) => readProcs(fs, p)))].sort((a, b) => a - b),
    freeze: () => freeze(true),
    thaw: () => freeze(false),
    async kill() {
      const u = unified();
      if (u && fs.exists(u) && v2Kill(fs, u)) {
        // cgroup.kill covers every process: they are all in the v2 cgroup too (hybrid included).
        const deadline = Date.now() + 3000;
        while (mgr.pids().length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
        if (!mgr.pids().length) return;
      }
      const canFreeze = canFreezeV2() ?? (freezer() && fs.exists(freezer()!.dir));
      await v1KillAll(fs, paths.filter((p) => fs.exists(p)), canFreeze ? freeze : undefined, signal);
    },
    async remove() {
      const existing = paths.filter((p) => fs.exists(p));
      if (existing.length && mgr.pids().length) await mgr.kill();
      const errors: unknown[] = [];
      for (const p of [...paths].reverse()) {
        try { await removeCgroup(p, { fs, signal }); } catch (e) { errors.push(e); }
      }
      if (opts.relPath) {
        const rel = opts.relPath.replace(/^\/+|\/+$/g, '');
        const ancestors = rel.split('/').slice(0, -1).map((_, i, a) => a.slice(0, i + 1).join('/')).reverse();
        for (const p of paths) {
          if (!p.endsWith('/' + rel)) continue;
          const base = p.slice(0, p.length - rel.length - 1);
          for (const a of ancestors) await removeCgroup(`${base}/${a}`, { fs, bestEffort: true });
        }
      }
      if (errors.length) throw new RuntimeFailure('CGROUP_REMOVE', `could not remove ${errors.length} cgroup(s): ${errors.map((e) => (e as Error).message).join('; ')}`, { cause: errors[0] });
    },
    stats: (): CgroupStats => readCgroupStats(paths, layout, fs),
    oomKilled: () => oomKilled(paths, layout, fs),
    events(): CgroupEvents {
      const mem = dirFor(paths, layout, 'memory');
      const pids = dirFor(paths, layout, 'pids');
      const u = unified();
      const v2 = u ? v2Events(fs, u) : undefined;
      const v1 = v1Events(fs, mem?.version === 'v1' ? mem.dir : undefined, pids?.version === 'v1' ? pids.dir : undefined, freezer()?.dir);
      const memV2 = mem?.version === 'v2' ? v2Events(fs, mem.dir) : undefined;
      return {
        populated: v2?.populated,
        frozen: v2?.frozen ?? v1.frozen,
        oom: memV2?.oom ?? v1.oom, oomKill: memV2?.oomKill ?? v1.oomKill,
        pidsMax: pids?.version === 'v2' ? v2Events(fs, pids.dir).pidsMax : v1.pidsMax,
      };
    },
  };
  return mgr;
}
