// Starting and cleaning up a plan as two calls: prepare steps + the native stage (+ hooks) in
// startPlan, the plan's cleanup steps in cleanupPlan. The foreground `niwa run` (run.ts) and
// the supervisor both use them. A failed start is rolled back here, so a caller never sees a
// half-started container and the host is left as it was.
import type { CanonicalSpec } from '../../spec/types.js';
import type { LaunchPlan, Step } from '../../plan/types.js';
import type { EventSink } from '../../events/types.js';
import type { Sys } from '../sys/types.js';
import { RuntimeFailure } from '../../errors.js';
import { ipBatchAt, runHostStep, runIpBatch } from './host-steps.js';
import type { PortHolder } from '../net/container.js';
import { startStage, type StageHandle, type StageStdio } from './stage.js';
import { runHook, runStartedHooks, stageHookRunner } from './hooks.js';

export interface StartOptions {
  sys: Sys;
  spec: CanonicalSpec;
  emit?: EventSink;
  stdio: StageStdio;
  /** Called with the stage handle as soon as it exists (before the container has exec'd). */
  onStage?: (h: StageHandle) => void;
  /** The stage launcher (tests pass a fake). */
  startStage?: typeof startStage;
  /** The container's state directory, for hooks (default: under NIWA_STATE_ROOT). */
  stateDir?: string;
  /** An open file the stage writes the container's final status to (see stage.ts). */
  statusFd?: number;
  /** Did the plan's memory cgroup see an OOM kill? (default: read the real cgroups) */
  oomCheck?: (plan: LaunchPlan) => boolean | Promise<boolean>;
  /** Holds the published ports of the plan's publish step (niwa run: this process; -d: the supervisor). */
  ports?: PortHolder;
}

export interface StartedContainer {
  handle: StageHandle;
  pid: number;
  /** Milliseconds from spawning the stage to the container's execve. */
  ms: number;
}

export interface CleanupOptions {
  sys: Sys;
  spec: CanonicalSpec;
  emit?: EventSink;
  /** Run teardown hooks (false when nothing was prepared, or they already ran). Default true. */
  hooks?: boolean;
  /** The start failed: run system_failure hooks. */
  failed?: boolean;
  pid?: number;
  stateDir?: string;
  /** Closes the published ports (the unpublish step); none: whoever held them is gone. */
  ports?: PortHolder;
}

export async function startPlan(plan: LaunchPlan, opts: StartOptions): Promise<StartedContainer> {
  const emit = opts.emit ?? (() => {});
  const c = plan.name;
  const hookCtx = { stateDir: opts.stateDir, warn: (message: string) => emit({ type: 'warning', container: c, message }) };
  let prepared = 0;
  let handle: StageHandle | undefined;
  let pid: number | undefined;
  try {
    for (const w of plan.warnings) emit({ type: 'warning', container: c, message: w });
    emit({ type: 'phase', container: c, phase: 'prepare' });
    const prepare = plan.steps.filter((s) => s.phase === 'prepare');
    const done = (s: Step) => { prepared++; emit({ type: 'step', container: c, index: s.index, op: s.op, ok: true }); };
    for (let i = 0; i < prepare.length;) {
      const step = prepare[i];
      // consecutive `ip` steps in one namespace run as one `ip -batch` process; each is still reported,
      // and a failure names the exact step that failed
      const batch = ipBatchAt(prepare, i);
      try {
        if (batch.length) {
          i += batch.length;
          await runIpBatch(batch, plan, done);
          continue;
        }
        i++;
        if (step.op === 'hook') await runHook(step, opts.spec, plan, hookCtx);
        else await runHostStep(step, opts.sys, opts.spec, plan, opts.ports);
        done(step);
      } catch (e) {
        const failed: Step = batch.find((s) => s === (e as { step?: unknown }).step) ?? step;
        for (const s of batch.slice(0, batch.findIndex((b) => b === failed))) done(s); // ip -batch ran the ones before it
        emit({ type: 'step', container: c, index: failed.index, op: failed.op, ok: false, error: (e as Error).message });
        throw e instanceof RuntimeFailure ? e : stepFailure(failed, e);
      }
    }
    const t0 = performance.now();
    emit({ type: 'phase', container: c, phase: 'stage' });
    handle = (opts.startStage ?? startStage)(plan, { stdio: opts.stdio, statusFd: opts.statusFd, onHook: stageHookRunner(opts.spec, plan, hookCtx) });
    opts.onStage?.(handle);
    await handle.started;
    pid = await handle.pid;
    const ms = performance.now() - t0;
    emit({ type: 'started', container: c, pid, ms });
    // after_start / poststart: a failing one stops the container (the start did not complete).
    await runStartedHooks(opts.spec, plan, { ...hookCtx, pid }, (s, ok, error) => emit({ type: 'step', container: c, index: s.index, op: s.op, ok, error }));
    return { handle, pid, ms };
  } catch (e) {
    if (handle) {
      // The stage reports a failed start and exits by itself; make sure before cleanup.
      handle.kill('SIGKILL');
      await Promise.race([handle.exited.catch(() => undefined), new Promise((r) => setTimeout(r, 2000))]);
    }
    // Whatever the stage saw (a step that could not reach a killed child), an OOM kill during setup is the cause.
    const oom = handle !== undefined && await Promise.resolve().then(() => (opts.oomCheck ?? realOomCheck)(plan)).catch(() => false);
    await cleanupPlan(plan, { sys: opts.sys, spec: opts.spec, emit, hooks: prepared > 0, failed: true, pid, stateDir: opts.stateDir, ports: opts.ports });
    if (oom) {
      throw new RuntimeFailure('E_OOM', `container '${c}' was killed by the OOM killer during setup (cgroup memory limit ${opts.spec.cgroup.memory ?? '?'} bytes)`, {
        cause: e, field: 'cgroup.memory', hint: 'raise cgroup.memory: setting up the container (its mounts, its first pages) is charged to its cgroup too',
      });
    }
    throw e;
  }
}

async function realOomCheck(plan: LaunchPlan): Promise<boolean> {
  if (!plan.cgroups.length) return false;
  const [{ oomKilled }, { detectCgroupLayout }] = await Promise.all([import('../cgroup/stats.js'), import('../cgroup/detect.js')]);
  return oomKilled(plan.cgroups, detectCgroupLayout());
}

/**
 * The plan's cleanup steps (cgroups, teardown hooks, and whatever else the plan undoes). Every
 * step is idempotent, so this can run after a failed start, after an exit, or again from `rm -f`.
 * system_failure hooks run only after a failed start. Never throws: what could not be undone is
 * reported in the result (and the cleanup event).
 */
export async function cleanupPlan(plan: LaunchPlan, opts: CleanupOptions): Promise<{ removed: string[]; failed: string[] }> {
  const removed: string[] = [];
  const failed: string[] = [];
  for (const step of plan.steps.filter((s) => s.phase === 'cleanup')) {
    if (step.op === 'hook' && (step.point === 'system_failure' ? !opts.failed : opts.hooks === false)) continue;
    try {
      if (step.op === 'hook') await runHook(step, opts.spec, plan, { pid: opts.pid, stateDir: opts.stateDir });
      else await runHostStep(step, opts.sys, opts.spec, plan, opts.ports);
      if (step.op === 'rmdir' || step.op === 'rmtree') removed.push(step.path);
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
