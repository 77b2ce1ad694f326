// Runs hook steps on the host: a TS function from a .container.ts spec (called with its typed
// HookContext) or a command (env NIWA_CONTAINER, NIWA_HOOK, NIWA_PID, NIWA_STATE_DIR; at OCI points
// the OCI state JSON on stdin), each bounded by its timeout. Where a hook runs is the plan's
// business (compile.ts HOOK_PLACE); at pauses of the native stage, stageHookRunner is the callback.
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import type { CanonicalSpec, HookPoint } from '../../spec/types.js';
import type { LaunchPlan, Step } from '../../plan/types.js';
import { RuntimeFailure } from '../../errors.js';
import { defaultStateRoot } from '../../validate/host.js';

export type HookStep = Extract<Step, { op: 'hook' }>;

export interface HookRunContext {
  /** The container's host pid, once it exists. */
  pid?: number;
  /** The container's state directory (default: ${NIWA_STATE_ROOT or /run/niwa}/${project}/${name}). */
  stateDir?: string;
  /** Told about a failed optional hook (the start goes on). */
  warn?: (message: string) => void;
}

/** OCI hook points and the container status their state JSON carries (runtime-spec, runc). */
export const OCI_STATUS: Partial<Record<HookPoint, 'creating' | 'created' | 'running' | 'stopped'>> = {
  prestart: 'creating', create_runtime: 'creating', create_container: 'creating',
  start_container: 'created', poststart: 'running', poststop: 'stopped',
};

export function stateDirOf(plan: LaunchPlan): string {
  return join(defaultStateRoot(), plan.project, plan.name);
}

/** The OCI runtime-spec state of the container, as hooks at OCI points get it on stdin. */
export function ociState(point: HookPoint, spec: CanonicalSpec, plan: LaunchPlan, ctx: HookRunContext): object {
  return {
    ociVersion: '1.0.2',
    id: plan.id,
    status: OCI_STATUS[point] ?? 'creating',
    ...(ctx.pid ? { pid: ctx.pid } : {}),
    bundle: spec.file.startsWith('/') ? dirname(spec.file) : ctx.stateDir ?? stateDirOf(plan),
    annotations: spec.annotations,
  };
}

/** Runs one hook step. Throws a RuntimeFailure naming the hook unless the hook is optional. */
export async function runHook(step: HookStep, spec: CanonicalSpec, plan: LaunchPlan, ctx: HookRunContext = {}): Promise<void> {
  const hook = spec.hooks[step.hook];
  const point = step.point as HookPoint;
  const stateDir = ctx.stateDir ?? stateDirOf(plan);
  const timeoutMs = (hook?.timeout ?? 30) * 1000;
  try {
    if (hook?.fn) {
      const fn = hook.fn;
      await withTimeout(Promise.resolve().then(() => fn({ point, name: spec.name, pid: ctx.pid, stateDir, spec })), timeoutMs);
    } else if (step.command?.length) {
      const oci = OCI_STATUS[point] !== undefined;
      await runCommand(step.command, {
        timeoutMs,
        input: oci ? JSON.stringify(ociState(point, spec, plan, { ...ctx, stateDir })) + '\n' : undefined,
        env: {
          ...process.env, NIWA_CONTAINER: spec.name, NIWA_HOOK: point, NIWA_STATE_DIR: stateDir,
          ...(ctx.pid ? { NIWA_PID: String(ctx.pid) } : {}),
        },
      });
    } else if (!hook) {
      throw new RuntimeFailure('E_HOOK', `the spec has no hook ${step.hook} (was the plan compiled from another spec?)`, { field: step.field, hint: 'the spec file changed since the container was created: recreate it (niwa rm -f, then niwa run -d)' });
    }
  } catch (e) {
    const message = `hook ${point} (${step.field}) failed: ${(e as Error).message}`;
    if (step.optional) { ctx.warn?.(`${message} (optional: going on)`); return; }
    throw new RuntimeFailure('E_HOOK', message, { cause: e, field: step.field, hint: 'mark the hook optional: true if its failure should not stop the container' });
  }
}

/** The onHook callback for startStage: runs the hook the stage paused at, with the container's pid. */
export function stageHookRunner(spec: CanonicalSpec, plan: LaunchPlan, ctx: Omit<HookRunContext, 'pid'> = {}): (step: HookStep, pid: number) => Promise<void> {
  return (step, pid) => runHook(step, spec, plan, { ...ctx, pid });
}

/** Runs the hooks of phase `started` (after_start, poststart) in order; the first failure throws. */
export async function runStartedHooks(spec: CanonicalSpec, plan: LaunchPlan, ctx: HookRunContext, onStep?: (s: Step, ok: boolean, error?: string) => void): Promise<void> {
  for (const step of plan.steps) {
    if (step.phase !== 'started' || step.op !== 'hook') continue;
    try {
      await runHook(step, spec, plan, ctx);
      onStep?.(step, true);
    } catch (e) {
      onStep?.(step, false, (e as Error).message);
      throw e;
    }
  }
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  const timer = new Promise<never>((_, reject) => { t = setTimeout(() => reject(new Error(`timed out after ${ms / 1000}s`)), ms); });
  return Promise.race([p, timer]).finally(() => clearTimeout(t));
}

/** A command with stdout/stderr passed through, optional stdin text, killed at the timeout. */
function runCommand(argv: string[], o: { timeoutMs: number; input?: string; env: NodeJS.ProcessEnv }): Promise<void> {
  return new Promise((resolve, reject) => {
    const cp = spawn(argv[0], argv.slice(1), { stdio: [o.input === undefined ? 'ignore' : 'pipe', 'inherit', 'inherit'], env: o.env });
    let timedOut = false;
    const t = setTimeout(() => { timedOut = true; cp.kill('SIGKILL'); }, o.timeoutMs);
    cp.stdin?.on('error', () => {}); // a hook that does not read its stdin
    cp.stdin?.end(o.input);
    cp.on('error', (e) => { clearTimeout(t); reject(e); });
    cp.on('close', (code, sig) => {
      clearTimeout(t);
      if (timedOut) reject(new Error(`timed out after ${o.timeoutMs / 1000}s`));
      else if (code === 0) resolve();
      else reject(new Error(code !== null ? `exited with ${code}` : `killed by ${sig}`));
    });
  });
}
