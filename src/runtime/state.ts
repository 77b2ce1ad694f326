// Owns the on-disk state of containers that live on: the directory layout under the state root,
// atomic reads and writes of state.json / plan.json / spec.json, and how the truth about a
// container is derived from the host when no supervisor is there to say it.
//
//   ${stateRoot}/${project}/
//     _supervisor.sock      the supervisor's unix socket (line-delimited JSON, see supervisor/protocol.ts)
//     _supervisor.json      {pid, start}: which process is the supervisor (start time guards pid reuse)
//     _supervisor.log       the supervisor's own stdout/stderr
//     ${name}/
//       state.json          ContainerState (below), rewritten atomically on every change
//       plan.json           the compiled LaunchPlan: its cleanup steps are what `rm -f` runs without a supervisor
//       spec.json           the CanonicalSpec as JSON (hook functions cannot be stored; see docs/lifecycle.md)
//       container.log(.1)   timestamped stdout/stderr lines, rotated at a size cap
//       stdout.fifo, stderr.fifo   the container's stdout/stderr (named, so a new supervisor can read them again)
//
// Names start with a letter or digit (schema), so the `_supervisor.*` files never clash with a container.
//
// Permissions (docs/security.md): spec.json and plan.json hold the container's environment, which
// often holds secrets, and the logs hold whatever the container prints. So the state root is 0711
// (traversable, not listable: the default root's mount point `rootfs-mnt` below it must be reachable
// by a user namespace's unprivileged root), and everything else is 0700 directories and 0600 files,
// owned by root. Existing directories and files are tightened when they are used again.
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmdirSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CanonicalSpec } from '../spec/types.js';
import { NAME_RE } from '../spec/names.js';
import type { CgroupLayout, LaunchPlan } from '../plan/types.js';
import { isLive, type Health, type Status } from './status.js';
import { sameProcessAlive } from './proc.js';
import { createCgroupManager } from './cgroup/manager.js';
import { RuntimeFailure } from '../errors.js';

export interface ContainerState {
  version: 1;
  id: string;
  name: string;
  project: string;
  status: Status;
  /** Host pid of the container's process (the current run). */
  pid?: number;
  /** Pid of the native stage (the container's shim) and its start time (/proc/PID/stat field 22). */
  stagePid?: number;
  stageStart?: number;
  createdAt: string;
  startedAt?: string;
  finishedAt?: string;
  exitCode?: number | null;
  signal?: number | null;
  oomKilled: boolean;
  /** Restarts done by the restart policy. */
  restarts: number;
  health: Health;
  /** Last health check output (trimmed). */
  healthOutput?: string;
  specFile: string;
  cgroups: string[];
  restart: CanonicalSpec['lifecycle']['restart'];
  /** A user stopped it (stop, kill, rm): restart policies do not apply any more. */
  stopRequested?: boolean;
  /** The plan's cleanup steps ran after the last run (nothing but state and logs is left). */
  cleaned?: boolean;
  /** Why the last start failed. */
  error?: string;
  /** Next restart, when restarting. */
  restartAt?: string;
  /** Run by a foreground `niwa run` (that process supervises it; no supervisor adopts it). */
  foreground?: { ownerPid: number; ownerStart?: number };
  /**
   * The per-request token of the `run -d` that created this record: a client that lost its
   * supervisor mid-request and asks again recognises its own record by it (finished: its answer;
   * half-made: rolled back and made again) instead of calling it a name conflict.
   */
  token?: string;
  /** Made by `compose create` and deliberately not started (not a start that was interrupted): kept as `created` until started or removed. */
  createdOnly?: boolean;
  /**
   * Derived, never stored: the shim is gone (and with it whoever supervised the container) but
   * processes still run in the container's cgroups — `pids` lists them; stop and rm act on them.
   */
  unsupervised?: boolean;
  pids?: number[];
}

export { NAME_RE } from '../spec/names.js';

/** The state root: anyone may pass through it (to `rootfs-mnt`), nobody but root may list it. */
export const STATE_ROOT_MODE = 0o711;
/** Project and container directories, and every file in them. */
export const PRIVATE_DIR_MODE = 0o700;
export const PRIVATE_FILE_MODE = 0o600;

/** The project's directory (and the state root), created or tightened to their modes. */
export function ensureProjectDir(root: string, project: string): string {
  mkdirSync(root, { recursive: true, mode: STATE_ROOT_MODE });
  try { chmodSync(root, STATE_ROOT_MODE); } catch { /* not ours */ }
  const d = projectDir(root, project);
  mkdirSync(d, { recursive: true, mode: PRIVATE_DIR_MODE });
  chmodSync(d, PRIVATE_DIR_MODE);
  return d;
}

export const projectDir = (root: string, project: string) => join(root, project);
export const containerDir = (root: string, project: string, name: string) => join(root, project, name);
export const socketPath = (root: string, project: string) => join(root, project, '_supervisor.sock');
export const supervisorInfoPath = (root: string, project: string) => join(root, project, '_supervisor.json');
export const supervisorLogPath = (root: string, project: string) => join(root, project, '_supervisor.log');
export const logPath = (dir: string) => join(dir, 'container.log');
/** Where the stage writes the container's final `exit N` / `signal N` (native/README.md, fd 6). */
export const statusPath = (dir: string) => join(dir, 'exit.status');

/** The final status the stage recorded, if the run has ended. */
export function readExitStatus(dir: string): { exitCode: number | null; signal: number | null } | undefined {
  let text: string;
  try { text = readFileSync(statusPath(dir), 'utf8'); } catch { return undefined; }
  const m = /^(exit|signal) (\d+)$/m.exec(text);
  if (!m) return undefined;
  return m[1] === 'exit' ? { exitCode: Number(m[2]), signal: null } : { exitCode: null, signal: Number(m[2]) };
}

/** Errnos that mean the filesystem under the state root is full (blocks, inodes or a quota). */
const NO_SPACE = new Set(['ENOSPC', 'EDQUOT']);
export const isNoSpace = (e: unknown) => NO_SPACE.has((e as NodeJS.ErrnoException)?.code ?? '');

/** The error every full-disk failure under the state root becomes: what, where, and what to do. */
export function noSpaceError(path: string, cause?: unknown): RuntimeFailure {
  return new RuntimeFailure('E_NO_SPACE', `no space left on the state filesystem (${path})`, {
    cause,
    hint: 'free space there (niwa rm containers that have ended; their logs go with them), or point NIWA_STATE_ROOT / --state-root at a larger filesystem',
  });
}

/**
 * Runs a write under the state root; a full filesystem becomes noSpaceError(path), and any other
 * refusal of the host (read-only, permissions, a missing parent) a RuntimeFailure naming the path and
 * errno. EEXIST passes through as it is: callers read it as "the name is taken".
 */
export function stateWrite<T>(path: string, write: () => T): T {
  try { return write(); } catch (e) {
    if (isNoSpace(e)) throw noSpaceError(path, e);
    const code = (e as NodeJS.ErrnoException)?.code;
    if (!code || code === 'EEXIST' || !/^E[A-Z]+$/.test(code)) throw e;
    throw new RuntimeFailure('E_STATE_WRITE', `cannot write niwa's state at ${path}: ${code}`, {
      cause: e,
      hint: 'the state root (NIWA_STATE_ROOT or --state-root; default /run/niwa) must be a writable directory on a local filesystem, and niwa must run as root',
    });
  }
}

/** Write a file atomically: a temporary file in the same directory, then rename(2). A full disk leaves no temporary file. */
export function writeAtomic(path: string, data: string): void {
  const tmp = `${path}.${process.pid}.tmp`;
  stateWrite(path, () => {
    try {
      writeFileSync(tmp, data, { mode: PRIVATE_FILE_MODE });
      renameSync(tmp, path);
    } catch (e) {
      try { unlinkSync(tmp); } catch { /* not made */ }
      throw e;
    }
  });
}

export function readJson<T>(path: string): T | undefined {
  try { return JSON.parse(readFileSync(path, 'utf8')) as T; } catch { return undefined; }
}

export function writeState(dir: string, st: ContainerState): void {
  writeAtomic(join(dir, 'state.json'), JSON.stringify(st, null, 2) + '\n');
}
export const readState = (dir: string) => readJson<ContainerState>(join(dir, 'state.json'));
export const readPlan = (dir: string) => readJson<LaunchPlan>(join(dir, 'plan.json'));
export const readSpec = (dir: string) => readJson<CanonicalSpec>(join(dir, 'spec.json'));

/**
 * Creates the container's directory with plan.json and spec.json (and state.json when `state` is
 * given, so that the directory is never seen without it); fails when the name is taken. A failure
 * after mkdir (a full disk) removes the directory again: nothing half-written stays behind.
 */
export function createContainerDir(root: string, project: string, plan: LaunchPlan, spec: CanonicalSpec, state?: ContainerState): string {
  stateWrite(root, () => ensureProjectDir(root, project));
  const dir = containerDir(root, project, plan.name);
  stateWrite(dir, () => mkdirSync(dir, { mode: PRIVATE_DIR_MODE })); // EEXIST: the name is in use
  try {
    chmodSync(dir, PRIVATE_DIR_MODE);
    writeAtomic(join(dir, 'plan.json'), JSON.stringify(plan) + '\n');
    writeAtomic(join(dir, 'spec.json'), JSON.stringify(spec) + '\n');
    if (state) writeState(dir, state);
  } catch (e) {
    removeContainerDir(dir);
    throw e;
  }
  return dir;
}

export function removeContainerDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** Names of the containers of a project that have a state.json, sorted. */
export function listNames(root: string, project: string): string[] {
  return listRecordDirs(root, project).filter((name) => existsSync(join(projectDir(root, project), name, 'state.json')));
}

/** Every container directory of a project, finished (with state.json) or not. */
export function listRecordDirs(root: string, project: string): string[] {
  const d = projectDir(root, project);
  if (!existsSync(d)) return [];
  return readdirSync(d, { withFileTypes: true })
    .filter((e) => e.isDirectory() && NAME_RE.test(e.name))
    .map((e) => e.name)
    .sort();
}

/**
 * With no container and no live supervisor left, a project leaves nothing behind: its supervisor
 * files (log included) and its directory go. Returns true when the directory is gone.
 */
export function pruneProject(root: string, project: string, self = false): boolean {
  if (listNames(root, project).length) return false;
  if (!self && liveSupervisor(root, project)) return false;
  for (const f of [socketPath(root, project), supervisorInfoPath(root, project), supervisorLogPath(root, project)]) {
    try { unlinkSync(f); } catch { /* not there */ }
  }
  try { rmdirSync(projectDir(root, project)); return true; } catch { return false; }
}

/** Projects under the state root (directories with a valid name). */
export function listProjects(root: string): string[] {
  if (!existsSync(root)) return [];
  return readdirSync(root, { withFileTypes: true }).filter((e) => e.isDirectory() && NAME_RE.test(e.name)).map((e) => e.name).sort();
}

export interface SupervisorInfo { pid: number; start: number }

/** Processes in the container's cgroups (none when it has none, or they are gone). */
export function cgroupPids(st: Pick<ContainerState, 'cgroups'>, layout: CgroupLayout | undefined): number[] {
  if (!layout || !st.cgroups.length) return [];
  try { return createCgroupManager(layout, st.cgroups).pids(); } catch { return []; }
}

/** The project's supervisor process, if it is alive. */
export function liveSupervisor(root: string, project: string): SupervisorInfo | undefined {
  const info = readJson<SupervisorInfo>(supervisorInfoPath(root, project));
  return info && sameProcessAlive(info.pid, info.start) ? info : undefined;
}

/**
 * The truth about a container when nobody supervises it: a live status is believed only if its
 * stage (the shim) still runs — the same process, by start time — and then it is paused if the
 * freezer says so; otherwise the container has ended, with the code the supervisor recorded (or
 * unknown), and oom-killed if its memory cgroup still exists and counted an OOM kill.
 */
export function deriveState(st: ContainerState, layout: CgroupLayout | undefined, dir?: string): ContainerState {
  if (!isLive(st.status) || st.createdOnly) return st;
  const frozen = () => {
    try { return layout && st.cgroups.length ? createCgroupManager(layout, st.cgroups).events().frozen === true : false; } catch { return false; /* cgroup gone */ }
  };
  if (st.status !== 'restarting' && sameProcessAlive(st.stagePid, st.stageStart)) {
    const running = st.status === 'stopping' ? 'stopping' : 'running';
    return { ...st, status: frozen() ? 'paused' : running };
  }
  // The shim is gone, but the cgroups may still hold the container's processes (shim and
  // supervisor both killed): then it runs, unsupervised, and those pids are the truth.
  const pids = cgroupPids(st, layout);
  if (pids.length) return { ...st, status: frozen() ? 'paused' : 'running', unsupervised: true, pids, pid: pids.includes(st.pid ?? -1) ? st.pid : pids[0] };
  let oom = false;
  if (layout && st.cgroups.length) {
    try { oom = createCgroupManager(layout, st.cgroups).oomKilled(); } catch { /* cgroup gone */ }
  }
  if (st.status === 'restarting') return { ...st, status: 'exited' };
  // The stage wrote how the container ended (exit.status) even if no supervisor was there to hear it.
  const ended = dir ? readExitStatus(dir) : undefined;
  const status = oom ? 'oom-killed' : st.stopRequested ? 'stopped' : 'exited';
  return { ...st, status, oomKilled: oom || st.oomKilled, exitCode: ended?.exitCode, signal: ended?.signal, pid: undefined };
}
