// Starting and cleaning up a plan as two separate calls, for the supervisor (which starts a
// container, returns, and reaps it later): prepare steps + native stage, and the cleanup steps.
// A failed start is rolled back here, so the caller never sees a half-started container.
import type { CanonicalSpec } from '../../spec/types.js';
import type { LaunchPlan, Step } from '../../plan/types.js';
import type { EventSink } from '../../events/types.js';
import type { Sys } from '../sys/types.js';
import { RuntimeFailure } from '../../errors.js';
import { runHostStep } from './host-steps.js';
import { startStage, type StageHandle, type StageStdio } from './stage.js';

export interface StartOptions {
  sys: Sys;
  spec: CanonicalSpec;
  emit?: EventSink;
  stdio: StageStdio;
  /** Called with the stage handle as soon as it exists (before the container has exec'd). */
  onStage?: (h: StageHandle) => void;
  startStage?: typeof startStage;
}

export interface StartedContainer {
  handle: StageHandle;
  pid: number;
  /** Milliseconds from spawning the stage to the container's execve. */
  ms: number;
}

export async function startPlan(plan: LaunchPlan, opts: StartOptions): Promise<StartedContainer> {
  const emit = opts.emit ?? (() => {});
  const c = plan.name;
  let prepared = 0;
  let handle: StageHandle | undefined;
  try {
    emit({ type: 'phase', container: c, phase: 'prepare' });
    for (const step of plan.steps.filter((s) => s.phase === 'prepare')) {
      try {
        await runHostStep(step, opts.sys, opts.spec, plan);
        prepared++;
        emit({ type: 'step', container: c, index: step.index, op: step.op, ok: true });
      } catch (e) {
        emit({ type: 'step', container: c, index: step.index, op: step.op, ok: false, error: (e as Error).message });
        throw stepFailure(step, e);
      }
    }
    const t0 = performance.now();
    emit({ type: 'phase', container: c, phase: 'stage' });
    handle = (opts.startStage ?? startStage)(plan, { stdio: opts.stdio });
    opts.onStage?.(handle);
    await handle.started;
    const pid = await handle.pid;
    const ms = performance.now() - t0;
    emit({ type: 'started', container: c, pid, ms });
    return { handle, pid, ms };
  } catch (e) {
    if (handle) {
      await Promise.race([handle.exited.catch(() => undefined), new Promise((r) => setTimeout(r, 2000))]);
      handle.kill('SIGKILL');
    }
    await cleanupPlan(plan, { sys: opts.sys, spec: opts.spec, emit, hooks: prepared > 0 });
    throw e;
  }
}

/**
 * The plan's cleanup steps (cgroups, teardown hooks, and whatever else the plan undoes). Every
 * step is idempotent, so this can run after a failed start, after an exit, or again from `rm -f`.
 * Never throws: what could not be undone is reported in the result (and the cleanup event).
 */
export async function cleanupPlan(plan: LaunchPlan, opts: { sys: Sys; spec: CanonicalSpec; emit?: EventSink; hooks?: boolean }): Promise<{ removed: string[]; failed: string[] }> {
  const removed: string[] = [];
  const failed: string[] = [];
  for (const step of plan.steps.filter((s) => s.phase === 'cleanup')) {
    if (step.op === 'hook' && opts.hooks === false) continue;
    try {
      await runHostStep(step, opts.sys, opts.spec, plan);
      if (step.op === 'rmdir') removed.push(step.path);
    } catch (e) {
      failed.push(`${step.op} ${'path' in step ? step.path : ''}: ${(e as Error).message}`);
    }
  }
  opts.emit?.({ type: 'cleanup', container: plan.name, removed, failed });
  return { removed, failed };
}

function stepFailure(step: Step, e: unknown): RuntimeFailure {
  const msg = (e as Error).message;
  return new RuntimeFailure('E_STEP', `${msg} — spec field ${step.field || '(default)'} (step ${step.index}, ${step.phase})`, { cause: e, field: step.field });
}
