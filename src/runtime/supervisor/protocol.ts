// Owns the supervisor's socket protocol: one unix socket per project
// (`${stateRoot}/${project}/_supervisor.sock`), one request per connection, newline-delimited JSON.
//
//   client → {"op":"stop","name":"web","timeoutMs":2000}\n
//   server → {"ok":true,"status":"stopped"}\n                      (then closes)
//   server → {"ok":false,"error":{"code":"E_NO_CONTAINER","message":"...","hint":"...","exitCode":2}}\n
//
// Streaming requests (`logs-follow`, `events`) first answer {"ok":true,"stream":true}, then send
// one JSON object per line until the stream ends ({"end":true,...}) or the client disconnects.
import type { CanonicalSpec } from '../../spec/types.js';
import type { LaunchPlan } from '../../plan/types.js';
import type { RuntimeEvent } from '../../events/types.js';
import type { ContainerState } from '../state.js';
import type { LogEntry } from './logs.js';
import type { PortMapping } from '../net/ports.js';
import type { ProjectPlan, ProjectStep } from '../../plan/project/types.js';

/**
 * Networking of a compose container that the supervisor holds for it: the published ports (a
 * userspace proxy, which must live in a long-running process; published before the container
 * starts, so a busy port starts nothing) and the project networks it leaves when it is removed.
 * Kept in the container's directory as net.json, so a new supervisor publishes the ports again.
 */
export interface RunNet {
  /** niwa's state root that networking uses (leases, netns and hosts files). */
  stateRoot: string;
  project: string;
  /** Project networks the container was attached to by the orchestrator (detached on rm). */
  networks: string[];
  /** The container's address the published ports forward to. */
  address?: string;
  ports?: PortMapping[];
}

export type Request =
  /** Who is there: {pid, project, containers}. */
  | { op: 'ping' }
  /**
   * Start a compiled plan as a new container; answers once it runs ({id, pid, ms}) or failed (nothing
   * left behind). `token`: unique per client request, kept in state.json; the same request sent again
   * (its supervisor was killed before it answered) gets the container it made, not a name conflict.
   */
  | { op: 'run'; plan: LaunchPlan; spec: CanonicalSpec; net?: RunNet; token?: string }
  /** The stop signal, then SIGKILL after timeoutMs (default: the spec's grace period); answers when it has ended. */
  | { op: 'stop'; name: string; timeoutMs?: number }
  /** Send a signal (name like SIGHUP or HUP, or a number). */
  | { op: 'kill'; name: string; signal: string }
  | { op: 'pause'; name: string }
  | { op: 'unpause'; name: string }
  /** Remove a container that has ended; `force` kills it first. */
  | { op: 'rm'; name: string; force?: boolean }
  /** The supervisor's view of every container of the project ({containers: ContainerState[]}). */
  | { op: 'ps' }
  /** Stream: log entries ({log: LogEntry}) from the file (after `since`, last `tail`), then live, until the container ends ({end: true}). */
  | { op: 'logs-follow'; name: string; tail?: number; since?: string }
  /** Stream: every RuntimeEvent ({event}) from now on, optionally of one container only, until the client goes; `statsMs`: also a `stats` event per running container that often. */
  | { op: 'events'; container?: string; statsMs?: number }
  /**
   * What the supervisor holds (leak checks: scripts/sup-mem.mjs, scripts/soak.mjs, tests): {memory,
   * containers, sinks, connections, handles}; gc: collect first (when run with --expose-gc);
   * snapshot: also write a heap snapshot into the project's directory ({snapshot: path}).
   */
  | { op: 'debug'; gc?: boolean; snapshot?: boolean }
  /**
   * Stream: carry out a compose project's plan (runtime/project/apply.ts): its events ({event}) while
   * it runs, then {result, error?}. The operation finishes (or rolls back) even if the client goes.
   * `foreground`: that container's launch is handed back ({handoff}) for the client to run itself.
   * `names`: the container of each service of the project (dependencies outside the plan are waited for by name).
   * `lockPid`: the client holds the project's lock (runtime/project/lock.ts): the supervisor holds it
   * while it works, so that a client killed meanwhile does not free the project too early.
   */
  | { op: 'apply'; plan: ProjectPlan; wait?: boolean; timeoutMs?: number; prepareOnly?: boolean; createOnly?: boolean; foreground?: string; lockPid?: number; names?: Record<string, string[]> }
  /**
   * `down`: stop and remove the containers (levels in order, each level in parallel), then run the
   * stored teardown (teardown-store.ts) with `teardown` merged in (networks, files, mounts; volumes
   * with `volumes`); answers {removed, volumes}, then the supervisor exits.
   */
  | { op: 'down'; order: string[][]; volumes?: boolean; timeoutMs?: number; teardown?: ProjectStep[]; lockPid?: number }
  /** Cancel the `apply` operations under way (their client's Ctrl-C): nothing more starts, their waits end. */
  | { op: 'cancel' }
  /** Run the stored teardown steps of these units (an attached `compose run` container that ended). */
  | { op: 'undo'; units: string[] }
  /** Stop every container (unless leave: true, then they live on unsupervised) and exit. */
  | { op: 'shutdown'; leave?: boolean };

export interface ErrorBody { code: string; message: string; hint?: string; exitCode: number }

export type Response = ({ ok: true } & Record<string, unknown>) | { ok: false; error: ErrorBody };

/** Lines of a stream after {"ok":true,"stream":true}. */
export type StreamLine =
  | { log: LogEntry }
  | { event: RuntimeEvent }
  | { end: true; status?: string }
  /** The end of an `apply`: what started, and the error when it failed. */
  | { result: { started: string[]; failed: string[] }; error?: ErrorBody }
  /** An `apply` with `foreground`: the launch step the client runs itself. */
  | { handoff: { plan: LaunchPlan; spec: CanonicalSpec; net?: RunNet } };

export interface PingReply { ok: true; pid: number; project: string; containers: number }
export interface RunReply { ok: true; id: string; name: string; pid: number; ms: number }
export interface PsReply { ok: true; containers: ContainerState[] }
