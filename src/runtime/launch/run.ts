// Runs a LaunchPlan in the foreground: start (start.ts: prepare steps, the native stage, hooks),
// forward signals, wait, clean up. A failed start is rolled back by startPlan.
import type { CanonicalSpec } from '../../spec/types.js';
import type { LaunchPlan } from '../../plan/types.js';
import type { EventSink } from '../../events/types.js';
import type { Sys } from '../sys/types.js';
import { signalName, startStage, type StageHandle, type StageStdio } from './stage.js';
import { startPlan, cleanupPlan } from './start.js';
import type { PortHolder } from '../net/container.js';

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
  /** Holds the plan's published ports while the container runs (src/runtime/net/container.ts ownPorts). */
  ports?: PortHolder;
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
  const handlers: [NodeJS.Signals, () => void][] = [];
  emit({ type: 'plan', container: plan.name, steps: plan.steps.length, warnings: plan.warnings });
  // Keyboard signals (Ctrl-C, Ctrl-\) reach a container that shares our terminal directly
  // from the kernel; forwarding them too would deliver them twice. Catch them (so this process
  // lives on to clean up) without forwarding. With a pty the terminal is raw: no such signals.
  // (Without a pty the container stays in our process group whatever its stdin is.)
  const fromKeyboard = (sig: NodeJS.Signals) => (sig === 'SIGINT' || sig === 'SIGQUIT') && !plan.tty && Boolean(process.stdin.isTTY) && opts.stdio !== 'pipe';
  try {
    const { handle, pid } = await startPlan(plan, {
      sys: opts.sys, spec: opts.spec, emit, stdio: opts.stdio ?? 'inherit', startStage: opts.startStage, stateDir: opts.stateDir, ports: opts.ports,
      onStage: (h) => {
        for (const sig of opts.forwardSignals ?? []) {
          const f = fromKeyboard(sig) ? () => {} : () => h.kill(sig);
          process.on(sig, f);
          handlers.push([sig, f]);
        }
      },
    });
    opts.onStarted?.(handle);
    const ex = await handle.exited;
    if (ex.shimKilled) emit({ type: 'warning', container: plan.name, message: `the container's shim (the niwa stage, pid ${handle.process.pid}) was killed by ${signalName(ex.signal!)}: the container is killed with it` });
    const oomKilled = opts.oomCheck ? safe(() => opts.oomCheck!(plan), false) : false;
    emit({ type: 'exited', container: plan.name, code: ex.code, signal: ex.signal, oomKilled });
    await cleanupPlan(plan, { sys: opts.sys, spec: opts.spec, emit, pid, stateDir: opts.stateDir, ports: opts.ports });
    return { ...ex, oomKilled, status: ex.signal !== null ? 128 + ex.signal : (ex.code ?? 1) };
  } finally {
    for (const [sig, h] of handlers) process.off(sig, h);
  }
}

function safe<T>(f: () => T, d: T): T {
  try { return f(); } catch { return d; }
}
