// The parent side of the native stage: finds the executable, spawns it with the encoded
// plan on fd 3, reads its reports from fd 4 and turns them into promises and typed errors.
// The stage itself (native/stage.c) does clone..execve and stays as the container's shim.
import { errnoName } from '../../plan/errno.js';
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Readable, Stream, Writable } from 'node:stream';
import type { LaunchPlan, Step } from '../../plan/types.js';
import { RuntimeFailure } from '../../errors.js';
import { encodePlan } from './encode.js';

/** One line of the stage's report pipe. */
export type StageEvent =
  | { type: 'pid'; pid: number }
  | { type: 'exec' }
  /** The stage pauses at hook step `index` until answered (pid 0: from the child, see `pid`). */
  | { type: 'hook'; index: number; pid: number }
  | { type: 'error'; index: number; errno: number }
  | { type: 'exit'; code: number }
  | { type: 'signal'; signal: number };

export type StageStdio = 'inherit' | 'pipe' | 'ignore' | Array<'inherit' | 'pipe' | 'ignore' | number | Stream>;

export interface StageOptions {
  /** The container's fds 0, 1, 2 (the stage's own). 'inherit' is the normal case. */
  stdio: StageStdio;
  /** Environment of the stage process itself (the container's comes from the plan). */
  env?: NodeJS.ProcessEnv;
  /** Called for every report line, in order. */
  onEvent?: (e: StageEvent) => void;
  /** An open file (fd) the stage also writes its final `exit N`/`signal N` line to (its fd 6). */
  statusFd?: number;
  /**
   * Runs a hook step of phase parent/child while the stage waits (see runtime/launch/hooks.ts,
   * stageHookRunner). Resolving lets the stage go on; rejecting fails the start with that error.
   * Without it, a plan with such a step fails there (hooks are never skipped silently).
   */
  onHook?: (step: Extract<Step, { op: 'hook' }>, pid: number) => Promise<void>;
}

export interface StageExit { code: number | null; signal: number | null }

export interface StageHandle {
  /** The stage process (the container's shim). */
  process: ChildProcess;
  /** The container process's host pid, once the parent-side steps are done. */
  pid: Promise<number>;
  /** Resolves when the container's execve succeeded; rejects with a RuntimeFailure naming the failed step. */
  started: Promise<void>;
  /** How the container ended (or, if the stage died without saying, how the stage ended). Never rejects. */
  exited: Promise<StageExit>;
  /** The container's stdio when stdio is 'pipe' (same as process.stdin/stdout/stderr). */
  stdin: Writable | null;
  stdout: Readable | null;
  stderr: Readable | null;
  /**
   * Send a signal. Signals the stage forwards (INT TERM HUP QUIT USR1 USR2 CONT WINCH) go to
   * the stage; others (KILL, STOP, ...) go straight to the container once its pid is known
   * (the stage then reaps it and reports), else to the stage. Never throws.
   */
  kill(sig?: NodeJS.Signals | number): void;
}

const FORWARDED = new Set<string>(['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2', 'SIGCONT', 'SIGWINCH']);

/** The package root: the nearest directory above this file holding niwa's package.json. */
export function packageRoot(): string {
  let d = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pj = join(d, 'package.json');
    if (existsSync(pj)) {
      try {
        if (JSON.parse(readFileSync(pj, 'utf8')).name === 'niwa') return d;
      } catch { /* keep looking */ }
    }
    const up = dirname(d);
    if (up === d) throw new RuntimeFailure('E_NO_PACKAGE_ROOT', 'cannot find the niwa package root (package.json)');
    d = up;
  }
}

/** Path of the native stage executable; a clear error when it was not built. */
export function stagePath(): string {
  const p = join(packageRoot(), 'native', 'build', 'niwa-stage');
  if (!existsSync(p)) {
    throw new RuntimeFailure('E_NO_STAGE', `the native stage is missing (${p})`, {
      hint: 'run npm install (or node scripts/build.mjs) to build it; it needs a C compiler, e.g. apt-get install gcc',
    });
  }
  return p;
}

const SIGNAL_NAMES: Map<number, string> = new Map(Object.entries(osConstants.signals).map(([k, v]) => [v, k]));

export { errnoName };
export function signalName(n: number): string {
  return SIGNAL_NAMES.get(n) ?? `signal ${n}`;
}

/** The argument that identifies a step in a message, e.g. the target of a mount. */
export function keyArgument(s: Step): string | undefined {
  switch (s.op) {
    case 'mkdir': case 'rmdir': case 'write': case 'touch': case 'symlink': case 'mask': case 'readonly':
    case 'chroot': case 'chdir': case 'setns': case 'rmtree': case 'copyroot':
      return s.path;
    case 'mount': case 'umount2': return s.target;
    case 'pivot_root': return s.newRoot;
    case 'sethostname': case 'setdomainname': case 'ifup': return s.name;
    case 'setrlimit': return s.resource;
    case 'execve': return s.path;
    case 'hook': return s.point;
    case 'openpty': return s.path;
    case 'device_filter': return s.cgroup;
    case 'probe': return `${s.address}:${s.port}`;
    case 'setresuid': return String(s.uid);
    case 'setresgid': return String(s.gid);
    case 'unshare': case 'clone': return s.flags.join('|');
    default: return undefined;
  }
}

/** The RuntimeFailure for a failed step, e.g. "pivot_root `.`: EINVAL — spec field root". */
export function stepError(plan: LaunchPlan, index: number, errno: number): RuntimeFailure {
  const en = errnoName(errno);
  const step = plan.steps.find((s) => s.index === index);
  if (!step) {
    const what = index < 0 ? 'the native stage failed' : `step ${index} failed`;
    return new RuntimeFailure('E_STAGE', `${what}: ${en}`, {
      hint: index < 0 ? 'the plan buffer was rejected or the stage ran out of resources; this is likely a bug' : undefined,
    });
  }
  const arg = keyArgument(step);
  const field = step.field ? `spec field ${step.field}` : 'a built-in default';
  const msg = `${step.op}${arg !== undefined ? ` \`${arg}\`` : ''}: ${en} — ${field} (step ${index}, ${step.phase})`;
  const known = FAILURE_HINTS[`${step.op} ${en}`];
  const hint = [known ?? step.why, step.man ? `see ${step.man}` : ''].filter(Boolean).join('; ') || undefined;
  return new RuntimeFailure('E_STEP', msg, { field: step.field, hint, op: step.op, errno: en });
}

/** What a failure usually means, for the common ones ("op ERRNO" → hint); otherwise the step's why is shown. */
const FAILURE_HINTS: Record<string, string> = {
  'execve ENOENT': 'no such program inside the container: check process.args[0] (it is looked up in the container\'s root and PATH, not the host\'s), or a script\'s #! interpreter is missing there',
  'execve EACCES': 'the program is not executable inside the container (mode, noexec mount, or a directory)',
  'execve EPERM': 'the seccomp profile or no_new_privs forbids this program (e.g. a setuid binary under no_new_privs)',
  'pivot_root EINVAL': 'the new root must be a mount point in a private mount namespace and not the current root; a directory rootfs must be a real directory (not a symlink)',
  'chdir ENOENT': 'the directory does not exist inside the container: check process.cwd or the rootfs',
  'mount ENOENT': 'the mount source or target does not exist (for a bind: the host path; for a target in a read-only root: it cannot be created)',
  'mount EPERM': 'not permitted in this namespace: mounting this file system type needs the matching namespace (proc: pid, sysfs: net) or more capabilities',
  'mount EROFS': 'the target is on a read-only file system: create it in the rootfs beforehand, or mount a tmpfs above it',
  'write ENOENT': 'the kernel has no such file here: for sysctls, check the name (and that its namespace exists); for cgroups, the controller',
  'write EINVAL': 'the kernel rejected the value written',
  'sethostname EPERM': 'changing the hostname needs a new uts namespace',
  'setns EINVAL': 'the path is not a namespace of the expected kind, or it cannot be joined from here',
  'setresuid EINVAL': 'the uid is not mapped in the container\'s user namespace: check uid_map',
  'setresgid EINVAL': 'the gid is not mapped in the container\'s user namespace: check gid_map',
};

/** Parses one report line; undefined for lines it does not know (ignored, for forward compatibility). */
export function parseReport(line: string): StageEvent | undefined {
  const [w, a, b] = line.trim().split(' ');
  const n = (s: string | undefined) => (s !== undefined && /^-?\d+$/.test(s) ? Number(s) : NaN);
  switch (w) {
    case 'pid': return Number.isNaN(n(a)) ? undefined : { type: 'pid', pid: n(a) };
    case 'exec': return { type: 'exec' };
    case 'hook': return Number.isNaN(n(a)) ? undefined : { type: 'hook', index: n(a), pid: Number.isNaN(n(b)) ? 0 : n(b) };
    case 'error': return Number.isNaN(n(a)) || Number.isNaN(n(b)) ? undefined : { type: 'error', index: n(a), errno: n(b) };
    case 'exit': return Number.isNaN(n(a)) ? undefined : { type: 'exit', code: n(a) };
    case 'signal': return Number.isNaN(n(a)) ? undefined : { type: 'signal', signal: n(a) };
    default: return undefined;
  }
}

function deferred<T>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => { resolve = res; reject = rej; });
  promise.catch(() => {}); // a caller that never awaits it must not crash the process
  return { promise, resolve, reject };
}

/** Spawns the native stage for `plan` (its stage/clone/parent/child steps). */
export function startStage(plan: LaunchPlan, opts: StageOptions): StageHandle {
  const buf = encodePlan(plan.steps, { tty: plan.tty });
  const io: StdioOptions = typeof opts.stdio === 'string' ? [opts.stdio, opts.stdio, opts.stdio] : [...opts.stdio];
  // fd 3 plan, fd 4 reports, fd 5 answers to `hook` reports, fd 6 the optional status file (native/README.md)
  const extra: unknown[] = opts.statusFd !== undefined ? ['pipe', 'pipe', 'pipe', opts.statusFd] : ['pipe', 'pipe', 'pipe'];
  const child = spawn(stagePath(), [], { stdio: [...(io as unknown[]), ...extra] as StdioOptions, env: opts.env ?? {} });
  const pid = deferred<number>();
  const started = deferred<void>();
  const exited = deferred<StageExit>();
  let containerPid: number | undefined;
  let result: StageExit | undefined;
  let failure: RuntimeFailure | undefined;

  const planPipe = child.stdio[3] as Writable | null;
  const reportPipe = child.stdio[4] as Readable | null;
  planPipe?.on('error', () => {}); // EPIPE if the stage died early: the exit handler reports it
  planPipe?.end(buf);
  const answerPipe = (child.stdio as unknown as (Writable | null)[])[5] ?? null;
  answerPipe?.on('error', () => {});
  /** Errors of failed hooks by step index: the stage then reports `error <index> ECANCELED`. */
  const hookErrors = new Map<number, RuntimeFailure>();
  const runHookStep = async (index: number, hookPid: number) => {
    const step = plan.steps.find((s) => s.index === index);
    let ok = false;
    try {
      if (!step || step.op !== 'hook') throw new RuntimeFailure('E_STAGE', `the stage paused at step ${index}, which is not a hook`);
      if (!opts.onHook) throw new RuntimeFailure('E_HOOK', `hook ${step.point}[${step.hook}]: this launcher was given no hook runner`, { field: step.field, hint: 'pass onHook (stageHookRunner) to startStage' });
      await opts.onHook(step, hookPid || (await pid.promise));
      ok = true;
    } catch (e) {
      hookErrors.set(index, e instanceof RuntimeFailure ? e : new RuntimeFailure('E_HOOK', (e as Error).message, { cause: e }));
    }
    answerPipe?.write(ok ? 'y' : 'n');
  };

  const onEvent = (e: StageEvent) => {
    opts.onEvent?.(e);
    switch (e.type) {
      case 'pid': containerPid = e.pid; pid.resolve(e.pid); break;
      case 'exec': started.resolve(); break;
      case 'hook': void runHookStep(e.index, e.pid); break;
      case 'error':
        failure = hookErrors.get(e.index) ?? stepError(plan, e.index, e.errno);
        pid.reject(failure);
        started.reject(failure);
        break;
      case 'exit': result = { code: e.code, signal: null }; break;
      case 'signal': result = { code: null, signal: e.signal }; break;
    }
  };
  let pending = '';
  reportPipe?.setEncoding('utf8');
  reportPipe?.on('data', (chunk: string) => {
    pending += chunk;
    let nl: number;
    while ((nl = pending.indexOf('\n')) >= 0) {
      const ev = parseReport(pending.slice(0, nl));
      pending = pending.slice(nl + 1);
      if (ev) onEvent(ev);
    }
  });
  reportPipe?.on('error', () => {});

  // Done when the stage has exited *and* its report pipe is drained (only the stage holds
  // fd 4: it is close-on-exec in the container), whoever else holds the container's stdio.
  let stageExit: StageExit | undefined;
  let reportDone = reportPipe === null;
  let spawnError: Error | undefined;
  const finish = () => {
    if (!spawnError && (!stageExit || !reportDone)) return;
    const st = stageExit ?? { code: null, signal: null };
    const why = failure ?? new RuntimeFailure('E_STAGE', spawnError
      ? `could not start the native stage: ${spawnError.message}`
      : `the native stage ended before the container started (${st.signal !== null ? signalName(st.signal) : `exit ${st.code}`})`, { cause: spawnError });
    pid.reject(why);
    started.reject(why);
    exited.resolve(result ?? st);
  };
  reportPipe?.on('close', () => { reportDone = true; finish(); });
  child.on('error', (e) => { if (child.pid === undefined) { spawnError = e; finish(); } });
  child.on('exit', (code, sig) => {
    stageExit = { code, signal: sig ? osConstants.signals[sig] : null };
    finish();
  });

  return {
    process: child,
    pid: pid.promise,
    started: started.promise,
    exited: exited.promise,
    stdin: child.stdin,
    stdout: child.stdout,
    stderr: child.stderr,
    kill(sig: NodeJS.Signals | number = 'SIGTERM') {
      const name = typeof sig === 'number' ? signalName(sig) : sig;
      try {
        if (!FORWARDED.has(name) && containerPid !== undefined && result === undefined && child.exitCode === null && child.signalCode === null) {
          process.kill(containerPid, sig);
        } else if (child.exitCode === null && child.signalCode === null) {
          child.kill(sig);
        }
      } catch { /* already gone */ }
    },
  };
}
