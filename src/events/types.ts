// The typed runtime event stream: the engine emits these and never prints; the Ink view,
// the plain reporter and --json all read the same stream.
import type { CgroupStats } from '../runtime/cgroup/types.js';

import type { PullEvent } from '../image/types.js';
import type { BuildEvent } from '../build/execute.js';

export type RuntimeEvent =
  | { type: 'plan'; container: string; steps: number; warnings: string[] }
  | { type: 'phase'; container: string; phase: string }
  | { type: 'step'; container: string; index: number; op: string; ok: boolean; error?: string }
  | { type: 'started'; container: string; pid: number; ms: number }
  | { type: 'exited'; container: string; code: number | null; signal: number | null; oomKilled: boolean }
  | { type: 'warning'; container: string; message: string }
  | { type: 'cleanup'; container: string; removed: string[]; failed: string[] }
  // Lifecycle kinds for supervised containers (compose up, the supervisor, the live view).
  // `at` is epoch milliseconds when the emitter knows it; readers fall back to arrival time.
  | { type: 'status'; container: string; state: ContainerState; pid?: number; at?: number; ports?: PublishedPort[]
      /** The supervisor's precise status (runtime/status.ts: paused, stopped, oom-killed, ..., or 'removed') and exit. */
      status?: string; exitCode?: number | null; signal?: number | null }
  | { type: 'log'; container: string; stream: 'stdout' | 'stderr'; line: string; at?: number }
  | { type: 'restart'; container: string; count: number; reason?: string; at?: number }
  | { type: 'health'; container: string; status: HealthStatus; output?: string; at?: number }
  | { type: 'stats'; container: string; stats: CgroupStats; at: number }
  // An image being pulled before the containers that need it start (compose up, niwa run).
  | { type: 'pull'; event: PullEvent; at?: number }
  // A build of a compose `build:` service, run by the project engine's build step (src/build BuildEvent).
  | { type: 'build'; service: string; image: string; event: BuildEvent; at?: number }
  // A step of a compose project's plan (runtime/project/exec.ts): networks, files, launches.
  | { type: 'project-step'; project: string; index: number; stage: string; op: string; service?: string; ok: boolean; error?: string; at?: number };

/** Where a supervised container is in its life. */
export type ContainerState = 'created' | 'starting' | 'running' | 'stopping' | 'restarting' | 'exited' | 'failed';
export type HealthStatus = 'none' | 'starting' | 'healthy' | 'unhealthy';
/** A published port: host address:port forwarded to the container's port. */
export interface PublishedPort { hostIp?: string; hostPort: number; containerPort: number; protocol: 'tcp' | 'udp' }

export type EventSink = (e: RuntimeEvent) => void;

/** A tiny bus: many listeners, synchronous delivery, no buffering. */
export class EventBus {
  private sinks: EventSink[] = [];
  on(s: EventSink): () => void {
    this.sinks.push(s);
    return () => { this.sinks = this.sinks.filter((x) => x !== s); };
  }
  emit: EventSink = (e) => { for (const s of this.sinks) s(e); };
  /** How many sinks listen (leak checks). */
  get size(): number { return this.sinks.length; }
}
