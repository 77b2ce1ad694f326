// Executes the host-side steps of a plan (phases prepare and cleanup) through Sys, and says
// how to undo each one, so that a failed start can be rolled back exactly.
import type { CanonicalSpec } from '../../spec/types.js';
import type { LaunchPlan, Step } from '../../plan/types.js';
import { SysError, type Sys } from '../sys/types.js';
import { runHook } from './hooks.js';

export async function runHostStep(step: Step, sys: Sys, spec: CanonicalSpec, plan: LaunchPlan): Promise<void> {
  switch (step.op) {
    case 'mkdir':
      sys.mkdir(step.path, step.mode, step.parents ?? false);
      return;
    case 'write':
      sys.writeFile(step.path, step.data);
      return;
    case 'rmdir':
      removeDir(sys, step.path, plan);
      return;
    case 'hook':
      await runHook(step, spec, plan);
      return;
    default:
      throw new Error(`step ${step.index}: op '${step.op}' cannot run on the host (phase ${step.phase})`);
  }
}

/** Undo of a prepare step, or null when it needs none (writes into a dir that is removed anyway). */
export function undoFor(step: Step, plan: LaunchPlan): Step | null {
  if (step.op === 'mkdir' && step.path !== `${plan.rootDir}`) {
    return { op: 'rmdir', path: step.path, phase: 'cleanup', index: -1, field: step.field, why: `undo of step ${step.index}` };
  }
  return null;
}

/**
 * rmdir with the cgroup rules: a cgroup that still holds processes cannot be removed, so its
 * processes are killed first (cgroup.kill on v2, SIGKILL to each pid on v1); a parent that is
 * still used by another container (ENOTEMPTY/EBUSY) is left alone; a missing dir is fine.
 */
export function removeDir(sys: Sys, path: string, plan: LaunchPlan): void {
  const isCgroup = plan.cgroups.some((c) => c === path || c.startsWith(path + '/'));
  const isLeaf = plan.cgroups.includes(path);
  if (!sys.exists(path)) return;
  if (isCgroup && isLeaf) {
    for (let i = 0; i < 50; i++) {
      const procs = readProcs(sys, path);
      if (!procs.length) break;
      if (sys.exists(`${path}/cgroup.kill`)) sys.writeFile(`${path}/cgroup.kill`, '1');
      else for (const pid of procs) sys.kill(pid, 'SIGKILL');
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
    }
  }
  for (let i = 0; ; i++) {
    try {
      sys.rmdir(path);
      return;
    } catch (e) {
      const errno = e instanceof SysError ? e.errno : '';
      if (errno === 'ENOENT') return;
      if ((errno === 'ENOTEMPTY' || errno === 'EBUSY') && !isLeaf) return; // shared parent still in use
      if (errno === 'EBUSY' && i < 100) { Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10); continue; }
      throw e;
    }
  }
}

function readProcs(sys: Sys, path: string): number[] {
  try {
    return sys.readFile(`${path}/cgroup.procs`).split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}
