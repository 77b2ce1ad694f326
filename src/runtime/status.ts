// Owns the container status state machine: the statuses a container can be in and the only
// moves between them. Every status change in the supervisor goes through `transition`.

export const STATUSES = ['created', 'running', 'paused', 'stopping', 'restarting', 'stopped', 'exited', 'oom-killed'] as const;
export type Status = (typeof STATUSES)[number];

/** Health as the health checker reports it; 'none' = the spec has no healthcheck. */
export type Health = 'none' | 'starting' | 'healthy' | 'unhealthy';

/**
 * Allowed moves. `created` is the state before the first start; `restarting` is the back-off
 * wait of a restart policy; `stopping` is the grace period of a stop (the stop signal was sent,
 * SIGKILL follows if it does not end); `stopped` means a user ended it (stop, kill, rm -f), `exited` that it
 * ended by itself (with its code or signal), `oom-killed` that the OOM killer ended it.
 */
const ALLOWED: Record<Status, readonly Status[]> = {
  created: ['running', 'exited', 'stopped'],
  running: ['paused', 'stopping', 'stopped', 'exited', 'oom-killed'],
  paused: ['running', 'stopping', 'stopped', 'exited', 'oom-killed'],
  stopping: ['stopped', 'exited', 'oom-killed'],
  restarting: ['running', 'stopped', 'exited'],
  exited: ['restarting'],
  'oom-killed': ['restarting'],
  stopped: [],
};

export class TransitionError extends Error {
  constructor(readonly from: Status, readonly to: Status) {
    super(`container status cannot move from ${from} to ${to}`);
  }
}

export function canTransition(from: Status, to: Status): boolean {
  return ALLOWED[from]?.includes(to) ?? false;
}

/** Returns `to`, or throws a TransitionError when the move is not allowed. */
export function transition(from: Status, to: Status): Status {
  if (!canTransition(from, to)) throw new TransitionError(from, to);
  return to;
}

/** A process may exist in these statuses (the supervisor must watch it; ps must verify it). */
export function isLive(s: Status): boolean {
  return s === 'created' || s === 'running' || s === 'paused' || s === 'stopping' || s === 'restarting';
}

/** The status as `niwa ps` prints it: exited(0), exited(137), exited(unknown), running (unsupervised). */
export function describeStatus(s: { status: Status; exitCode?: number | null; signal?: number | null; unsupervised?: boolean }): string {
  if (s.unsupervised && isLive(s.status)) return `${s.status} (unsupervised)`;
  if (s.status !== 'exited' && s.status !== 'stopped') return s.status;
  if (s.signal != null) return `${s.status}(${128 + s.signal})`;
  if (s.exitCode != null) return `${s.status}(${s.exitCode})`;
  return s.status === 'exited' ? 'exited(unknown)' : 'stopped';
}
