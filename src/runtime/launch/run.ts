// Runs a LaunchPlan in the foreground: host-side prepare steps, the native stage for the
// container's side, waiting, and cleanup — which also runs after any failure, so a failed
// start leaves nothing behind.
import type { CanonicalSpec } from '../../spec/types.js';
import type { LaunchPlan, Step } from '../../plan/types.js';
import type { EventSink } from '../../events/types.js';
import type { Sys } from '../sys/types.js';
import { RuntimeFailure } from '../../errors.js';
import { runHostStep } from './host-steps.js';
import { startStage, type StageHandle, type StageStdio } from './stage.js';
import { runHook, runStartedHooks, stageHookRunner } from './hooks.js';

export interface RunOptions {
  sys: Sys;
  spec: CanonicalSpec;
  emit?: EventSink;
  /** stdio of the container: inherit the caller's (default) or explicit fds. */
  stdio?: StageStdio;
  /** Forward these signals received by this process to the container. */
  forwardSignals?: NodeJS.Signals[];
  /** Called once the container process exists. */
  onStarted?: (h: StageHandle) => void;
  /** Reads whether the cgroup saw an OOM kill (runtime/cgroup), before the cgroup is removed. */
  oomCheck?: (plan: LaunchPlan) => boolean;
  /** The stage launcher (tests pass a fake). */
  startStage?: typeof startStage;
  /** The container's state directory, for hooks (default: under NIWA_STATE_ROOT). */
  stateDir?: string;
}

export interface RunResult {
  code: number | null;
  signal: number | null;
  oomKilled: boolean;
  /** Exit status as a shell reports it: code, or 128 + signal. */
  status: number;
}

export const DEFAULT_FORWARD: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH'];

export async function runPlan(plan: LaunchPlan, opts: RunOptions): Promise<RunResult> {
  const emit = opts.emit ?? (() => {});
  const c = plan.name;
  let prepared = 0;
  let handle: StageHandle | undefined;
  let failed = false;
  let pid: number | undefined;
  const hookCtx = { stateDir: opts.stateDir, warn: (message: string) => emit({ type: 'warning', container: c, message }) };
  const handlers: [NodeJS.Signals, () => void][] = [];
  try {
    emit({ type: 'plan', container: c, steps: plan.steps.length, warnings: plan.warnings });
    for (const w of plan.warnings) emit({ type: 'warning', container: c, message: w });
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
    handle = (opts.startStage ?? startStage)(plan, { stdio: opts.stdio ?? 'inherit', onHook: stageHookRunner(opts.spec, plan, hookCtx) });
    // Keyboard signals (Ctrl-C, Ctrl-\) reach a container that shares our terminal directly
    // from the kernel; forwarding them too would deliver them twice. Catch them (so this process
    // lives on to clean up) without forwarding. With a pty the terminal is raw: no such signals.
    const fromKeyboard = (sig: NodeJS.Signals) => (sig === 'SIGINT' || sig === 'SIGQUIT') && !plan.tty && Boolean(process.stdin.isTTY) && opts.stdio === 'inherit';
    for (const sig of opts.forwardSignals ?? []) {
      const h = fromKeyboard(sig) ? () => {} : () => handle?.kill(sig);
      process.on(sig, h);
      handlers.push([sig, h]);
    }
    await handle.started;
    pid = await handle.pid;
    emit({ type: 'started', container: c, pid, ms: performance.now() - t0 });
    // after_start / poststart hooks: a failing one stops the container (the start did not complete)
    await runStartedHooks(opts.spec, plan, { ...hookCtx, pid }, (s, ok, error) => emit({ type: 'step', container: c, index: s.index, op: s.op, ok, error }))
      .catch((e) => { handle?.kill('SIGKILL'); throw e; });
    opts.onStarted?.(handle);
    const ex = await handle.exited;
    const oomKilled = opts.oomCheck ? safe(() => opts.oomCheck!(plan), false) : false;
    emit({ type: 'exited', container: c, code: ex.code, signal: ex.signal, oomKilled });
    return { ...ex, oomKilled, status: ex.signal !== null ? 128 + ex.signal : (ex.code ?? 1) };
  } catch (e) {
    failed = true;
    if (handle) {
      // The stage reports a failed start and exits by itself; make sure before cleanup.
      await Promise.race([handle.exited.catch(() => undefined), new Promise((r) => setTimeout(r, 2000))]);
      handle.kill('SIGKILL');
    }
    throw e;
  } finally {
    for (const [sig, h] of handlers) process.off(sig, h);
    await cleanup(plan, opts, prepared, emit, { failed, pid, stateDir: opts.stateDir });
  }
}

/**
 * Cleanup: the plan's cleanup steps, also after a failed start. Removing a cgroup that was never
 * created is a no-op (removeCgroup is idempotent), and the leaf cgroup is unique to this run, so
 * running every step is exact; only teardown hooks are skipped when nothing was prepared.
 */
async function cleanup(plan: LaunchPlan, opts: RunOptions, prepared: number, emit: EventSink, run: { failed: boolean; pid?: number; stateDir?: string }): Promise<void> {
  const removed: string[] = [];
  const failed: string[] = [];
  for (const step of plan.steps.filter((s) => s.phase === 'cleanup')) {
    // system_failure hooks: only after a failed start; teardown hooks: only if something was prepared
    if (step.op === 'hook' && (step.point === 'system_failure' ? !run.failed : prepared === 0)) continue;
    try {
      if (step.op === 'hook') await runHook(step, opts.spec, plan, { pid: run.pid, stateDir: run.stateDir });
      else await runHostStep(step, opts.sys, opts.spec, plan);
      if (step.op === 'rmdir') removed.push(step.path);
    } catch (e) {
      failed.push(`${step.op} ${'path' in step ? step.path : ''}: ${(e as Error).message}`);
    }
  }
  emit({ type: 'cleanup', container: plan.name, removed, failed });
}

function stepFailure(step: Step, e: unknown): RuntimeFailure {
  const msg = (e as Error).message;
  return new RuntimeFailure('E_STEP', `${msg} — spec field ${step.field || '(default)'} (step ${step.index}, ${step.phase})`, { cause: e, field: step.field });
}

function safe<T>(f: () => T, d: T): T {
  try { return f(); } catch { return d; }
}
