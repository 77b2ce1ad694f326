// `niwa run --step`: pauses the launch at each phase boundary, says what just changed and how to
// look at it from another terminal (with the container's real PID), and goes on at Enter.
//
// The pauses are ordinary function hooks added to the spec before it is compiled, so they are
// steps of the plan like any other (`niwa run --step -v` lists them) and the native stage really
// waits at them (it reports `hook <index>` on fd 4 and blocks until niwa answers on fd 5):
//   before_fork    nothing exists yet                         (prepare, TypeScript)
//   after_fork     the process exists in its new namespaces, has its uid/gid maps and
//                  cgroups, and waits before running any of its own setup  (parent phase)
//   before_chroot  the mounts of the new root are in place, the root is not switched yet
//   after_chroot   pivot_root/chroot is done
//   before_start   hostname, limits, ids and capabilities are set; no_new_privs and a late
//                  seccomp filter come right before execve
//   teardown       the container is gone and its cgroups removed  (cleanup)
// Answers are read from the terminal; when stdin is not a terminal (scripts, tests) one line of
// stdin per pause, and the container then gets /dev/null as stdin.
import type { CanonicalHook, CanonicalSpec, HookContext, HookPoint } from '../../spec/types.js';
import type { LaunchPlan, Step } from '../../plan/types.js';
import { describeCall } from '../../plan/format.js';
import { lookFor } from '../../plan/explain.js';
import { sameProcessAlive } from '../proc.js';

const PAUSES: { point: HookPoint; title: string }[] = [
  { point: 'before_fork', title: 'nothing exists yet: niwa is about to prepare the host side (cgroups, hooks)' },
  { point: 'after_fork', title: 'the container process exists, inside its new namespaces, with its maps and cgroups; it waits before its own setup' },
  { point: 'before_chroot', title: 'the container\'s mounts are in place; its root is not switched yet' },
  { point: 'after_chroot', title: 'the root is switched: the container sees only its new root' },
  { point: 'before_start', title: 'identity, limits and capabilities are set; the program is executed next' },
  { point: 'teardown', title: 'the container has exited and its cgroups are removed' },
];

/** A day: a pause waits for the user, not for a timeout. */
const PAUSE_TIMEOUT_S = 24 * 3600;

export interface StepperOptions {
  /** Where the explanations go (default stderr). */
  out?: NodeJS.WritableStream;
  /** One line per pause (default: the terminal, or stdin). */
  readLine?: () => Promise<string | null>;
}

export interface Stepper {
  /** stdio for the container: stdin is /dev/null when the answers come from a non-terminal stdin. */
  stdio: 'inherit' | ['ignore', 'inherit', 'inherit'];
  /** Give the stepper the plan compiled from the spec it extended. */
  setPlan(plan: LaunchPlan): void;
  /** Release stdin (so a finished run does not wait for input). */
  close(): void;
}

/** Adds the pause hooks to `spec` (before compile) and returns the stepper that drives them. */
export function addStepPauses(spec: CanonicalSpec, opts: StepperOptions = {}): Stepper {
  const out = opts.out ?? process.stderr;
  const reader = opts.readLine ? { readLine: opts.readLine, close: () => {} } : stdinLines();
  let plan: LaunchPlan | undefined;
  /** spec.hooks index of each pause. */
  const mine = new Map<number, string>();
  let lastIndex = -1;
  let pid: number | undefined;

  const pause = async (title: string, hookIndex: number, ctx: HookContext) => {
    if (!plan) return;
    if (ctx.pid) pid = ctx.pid;
    const here = plan.steps.find((s) => s.op === 'hook' && s.hook === hookIndex);
    const at = here?.index ?? plan.steps.length;
    const done = plan.steps.filter((s) => s.index > lastIndex && s.index < at && !isPause(s));
    const next = nextSteps(plan, at);
    lastIndex = at;
    const w = (s: string) => out.write(s + '\n');
    w('');
    w(`── niwa --step: ${ctx.point}${here ? ` (step ${at} of ${plan.steps.length})` : ''} ───────────────────────────`);
    w(title + '.');
    // Commands on /proc/PID are suggested only while that process is there (not at teardown,
    // nor after the program has already exited or failed).
    const live = pid !== undefined && ctx.point !== 'teardown' && sameProcessAlive(pid, undefined) ? pid : undefined;
    if (live !== undefined) w(`container PID on the host: ${live}`);
    else if (pid !== undefined) w(`the container's process (PID ${pid}) has exited: nothing of it is left in /proc to look at`);
    if (done.length) {
      w('just done:');
      const shown = done.length > 14 ? [...done.slice(0, 7), undefined, ...done.slice(-6)] : done;
      for (const s of shown) w(s ? `  [${s.index}] ${describeCall(s)}` : `  … ${done.length - 13} more (niwa plan --explain shows them all)`);
    }
    const looks = inspect(done, live, ctx.point);
    if (looks.length) {
      w('look at it from another terminal (as root):');
      for (const l of looks) w(`  $ ${l}`);
    }
    if (next.length) {
      w('next:');
      for (const s of next.slice(0, 8)) w(`  [${s.index}] ${describeCall(s)}`);
      if (next.length > 8) w(`  … ${next.length - 8} more`);
    }
    w(ctx.point === 'teardown' ? 'press Enter to finish' : 'press Enter to continue');
    const line = await reader.readLine();
    if (line === null) w('(no more input: continuing without pauses)');
  };

  for (const { point, title } of PAUSES) {
    const index = spec.hooks.length;
    const hook: CanonicalHook = { point, fn: (ctx) => pause(title, index, ctx), optional: false, timeout: PAUSE_TIMEOUT_S, field: `run --step (${point})` };
    spec.hooks.push(hook);
    mine.set(index, point);
  }
  const isPause = (s: Step) => s.op === 'hook' && mine.has(s.hook);

  const fromStdin = !opts.readLine && !process.stdin.isTTY;
  return {
    stdio: fromStdin ? ['ignore', 'inherit', 'inherit'] : 'inherit',
    setPlan(p) { plan = p; },
    close() { reader.close(); },
  };
}

/** The steps until the next pause. */
function nextSteps(plan: LaunchPlan, at: number): Step[] {
  const out: Step[] = [];
  const here = plan.steps[at]?.phase;
  for (const s of plan.steps.slice(at + 1)) {
    if (s.op === 'hook' && s.field.startsWith('run --step')) break;
    if (s.phase === 'cleanup' && here !== 'cleanup') break; // the program runs first
    out.push(s);
  }
  return out;
}

/** Commands (with the real PID) that show what the steps just done changed; host side only. */
function inspect(done: Step[], pid: number | undefined, point: HookPoint): string[] {
  const cmds: string[] = [];
  const add = (c: string) => { if (!cmds.includes(c)) cmds.push(c); };
  if (point === 'after_fork' && pid !== undefined) {
    add(`ls -l /proc/${pid}/ns /proc/self/ns   # the container's namespaces against this shell's`);
    add(`cat /proc/${pid}/uid_map /proc/${pid}/gid_map`);
    add(`cat /proc/${pid}/cgroup`);
  }
  const perOp = new Map<string, number>();
  for (const s of [...done].reverse()) {
    // the latest steps first, at most two of each kind (eleven masked paths need one example)
    const n = perOp.get(s.op) ?? 0;
    if (n >= 2) continue;
    perOp.set(s.op, n + 1);
    for (const l of lookFor(s)) {
      if (l.where !== 'host' || l.cmd.startsWith('#')) continue;
      if (pid === undefined && l.cmd.includes('$PID')) continue;
      add(pid === undefined ? l.cmd : l.cmd.split('$PID').join(String(pid)));
    }
  }
  if (point === 'before_chroot' && pid !== undefined) add(`cat /proc/${pid}/mountinfo`);
  return cmds.slice(0, 10);
}

/** One line of stdin per call (null at EOF). */
function stdinLines(): { readLine: () => Promise<string | null>; close: () => void } {
  let buf = '';
  let ended = false;
  let waiting: ((l: string | null) => void) | undefined;
  let started = false;
  const onData = (chunk: Buffer | string) => {
    buf += chunk.toString();
    flush();
  };
  const onEnd = () => { ended = true; flush(); };
  const flush = () => {
    if (!waiting) return;
    const nl = buf.indexOf('\n');
    if (nl >= 0) { const l = buf.slice(0, nl); buf = buf.slice(nl + 1); const w = waiting; waiting = undefined; w(l); }
    else if (ended) { const w = waiting; waiting = undefined; w(null); }
  };
  return {
    readLine() {
      if (!started) {
        started = true;
        process.stdin.on('data', onData);
        process.stdin.on('end', onEnd);
      }
      process.stdin.resume();
      return new Promise((res) => {
        waiting = (l) => { process.stdin.pause(); res(l); };
        flush();
      });
    },
    close() {
      process.stdin.off('data', onData);
      process.stdin.off('end', onEnd);
      process.stdin.pause();
      process.stdin.unref?.();
    },
  };
}
