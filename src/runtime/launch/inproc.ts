// EXPERIMENT, not used by niwa: launching a container from inside this Node process through the
// native stage's core built as a shared library (native/lib/inproc.c → native/build/libniwa-stage.so),
// instead of spawning the stage executable (stage.ts). DESIGN.md, "The launcher", names it as an
// optional fast path for a long-running supervisor, to be measured first: bench/inproc.mjs measures
// it against the executable, native/README.md has the numbers and the decision.
//
// Exception to DESIGN's "only src/runtime/sys/real.ts imports koffi": this experiment binds its own
// library here so that the Sys interface does not grow calls niwa does not use. If the in-process
// path is ever adopted, the binding moves behind Sys (real.ts) like mount/umount2.
//
// What runs where: the C function decodes the plan, clones (fork-like, CLONE_PIDFD) with every
// signal blocked, runs the parent-phase writes and release in the calling thread, and returns
// once the container's execve succeeded. Node never calls unshare/setns/capset/chdir itself: the
// child does, and it runs only C. By default the call runs on a koffi worker thread (`async`), so
// the event loop is not blocked while the child sets itself up; `sync` runs it on the main thread.
// Node then is the reaper: SIGCHLD (plus a slow timer that also keeps the loop alive while a
// container runs) triggers a non-blocking waitid(P_PIDFD) for every running container; no thread
// is parked per container.
import { existsSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { join } from 'node:path';
import type { LaunchPlan } from '../../plan/types.js';
import { RuntimeFailure } from '../../errors.js';
import { encodePlan } from './encode.js';
import { packageRoot, stepError } from './stage.js';

export interface InProcessExit { code: number | null; signal: number | null }

export interface InProcessContainer {
  /** Host pid of the container process (its execve has succeeded). */
  pid: number;
  /** How the container ended; never rejects ({null, null} if something else in this process reaped it). */
  exited: Promise<InProcessExit>;
  /** Signal the container through its pidfd (no pid reuse race); false once it was reaped. */
  kill(sig?: NodeJS.Signals | number): boolean;
}

export interface InProcessOptions {
  /** The container's fds 0, 1, 2 (fds of this process; -1: /dev/null). Default: all /dev/null. */
  stdio?: [number, number, number];
  /** 'async' (default): the launch runs on a koffi worker thread; 'sync': on this thread, blocking it until execve. */
  mode?: 'async' | 'sync';
}

/** Path of the experimental shared library (built by scripts/build.mjs, step 1a). */
export function inProcessLibPath(): string {
  return join(packageRoot(), 'native', 'build', 'libniwa-stage.so');
}

/** Why `plan` cannot be launched in-process, or undefined when it can. */
export function inProcessUnsupported(plan: LaunchPlan): string | undefined {
  if (plan.tty) return 'a plan with a terminal (tty) needs the stage executable: relaying the pty is the shim\'s job';
  for (const s of plan.steps) {
    if (s.phase === 'stage' && s.op !== 'device_filter') {
      return `step ${s.index} (${s.op}) is in the stage phase: it would act on this Node process's own thread; use the stage executable (startStage)`;
    }
    if (s.op === 'hook' && (s.phase === 'parent' || s.phase === 'child')) {
      return `step ${s.index} is a hook inside the launch: hooks talk to the stage over fds 4 and 5, which only the stage executable has`;
    }
    if (s.phase === 'parent' && s.op !== 'write' && s.op !== 'release_child') {
      return `step ${s.index} (${s.op}) in the parent phase: in-process, the parent phase may only write files and release the child`;
    }
    if (s.phase === 'child' && s.op === 'setgroups' && s.gids.length > SMALL_GROUPS) {
      return `step ${s.index}: more than ${SMALL_GROUPS} supplementary groups (the child may not allocate memory in-process)`;
    }
  }
  return undefined;
}
/** SMALL_GROUPS in native/stage.h. */
const SMALL_GROUPS = 64;

interface Lib {
  launch: ((buf: Buffer, len: number, fd0: number, fd1: number, fd2: number, out: Int32Array) => number) & {
    async: (buf: Buffer, len: number, fd0: number, fd1: number, fd2: number, out: Int32Array, cb: (err: unknown, r: number) => void) => void;
  };
  reap: (pidfd: number, out: Int32Array) => number;
  kill: (pidfd: number, sig: number) => number;
}
let lib: Lib | undefined;

async function loadLib(): Promise<Lib> {
  if (lib) return lib;
  const path = inProcessLibPath();
  if (!existsSync(path)) {
    throw new RuntimeFailure('E_NO_STAGE_LIB', `the experimental in-process stage library is missing (${path})`, {
      hint: 'node scripts/build.mjs builds it from native/lib/ (needs a C compiler)',
    });
  }
  const koffi = (await import('koffi')).default;
  const l = koffi.load(path);
  lib = {
    launch: l.func('int niwa_inproc_launch(const uint8_t *buf, size_t len, int fd0, int fd1, int fd2, _Inout_ int32_t *out)') as Lib['launch'],
    reap: l.func('int niwa_inproc_reap(int pidfd, _Inout_ int32_t *out)'),
    kill: l.func('int niwa_inproc_kill(int pidfd, int sig)'),
  };
  return lib;
}

// ---- the reaper: every container launched here and not yet reaped, by pidfd
const running = new Map<number, (e: InProcessExit) => void>();
let listening = false;
let timer: NodeJS.Timeout | undefined;

function sweep(): void {
  if (!lib) return;
  const out = new Int32Array(2);
  for (const [pidfd, done] of running) {
    const r = lib.reap(pidfd, out);
    if (r === 0) continue;
    running.delete(pidfd);
    done(r === 1 ? { code: out[0] >= 0 ? out[0] : null, signal: out[1] >= 0 ? out[1] : null } : { code: null, signal: null });
  }
  if (running.size === 0 && timer) { clearInterval(timer); timer = undefined; }
}

function watch(pidfd: number, done: (e: InProcessExit) => void): void {
  running.set(pidfd, done);
  // The timer keeps the event loop alive while a container runs (Node's signal listeners do
  // not) and sweeps in case a SIGCHLD was taken by someone else; SIGCHLD makes it prompt.
  timer ??= setInterval(sweep, 1000);
  sweep(); // it may have ended already
}

/**
 * Launches `plan` (its clone/parent/child steps; prepare steps are the caller's, as with
 * startStage) from inside this process. Resolves once the container's execve succeeded;
 * rejects with the same RuntimeFailure as the stage executable when a step fails (the container
 * is then already killed and reaped), or with E_INPROC_UNSUPPORTED for plans it cannot run.
 */
export async function launchInProcess(plan: LaunchPlan, opts: InProcessOptions = {}): Promise<InProcessContainer> {
  const why = inProcessUnsupported(plan);
  if (why) throw new RuntimeFailure('E_INPROC_UNSUPPORTED', `cannot launch '${plan.name}' in-process: ${why}`);
  const l = await loadLib();
  if (!listening) {
    // Before the first clone, so no SIGCHLD is missed. Harmless for child_process: libuv keeps
    // its own SIGCHLD watcher, and reaps only the pids it spawned.
    process.on('SIGCHLD', sweep);
    listening = true;
  }
  const buf = encodePlan(plan.steps, { tty: plan.tty });
  const [fd0, fd1, fd2] = opts.stdio ?? [-1, -1, -1];
  const out = new Int32Array(4); // pid, pidfd, failed step index, errno
  const r = opts.mode === 'sync'
    ? l.launch(buf, buf.length, fd0, fd1, fd2, out)
    : await new Promise<number>((res, rej) => l.launch.async(buf, buf.length, fd0, fd1, fd2, out, (e, v) => (e ? rej(e) : res(v))));
  if (r !== 0) throw stepError(plan, out[2], out[3]);
  const [pid, pidfd] = [out[0], out[1]];
  const exited = new Promise<InProcessExit>((res) => watch(pidfd, res));
  return {
    pid,
    exited,
    kill(sig: NodeJS.Signals | number = 'SIGTERM') {
      if (!running.has(pidfd)) return false;
      const n = typeof sig === 'number' ? sig : signalNumber(sig);
      return l.kill(pidfd, n) === 0;
    },
  };
}

const signalNumber = (s: NodeJS.Signals): number => osConstants.signals[s];
