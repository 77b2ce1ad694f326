// Owns restart policies (no, always, on-failure[:N], unless-stopped) and the back-off between
// restarts: 100 ms doubling up to a cap, back to 100 ms after a run that lasted 10 s. Pure.
import type { CanonicalLifecycle } from '../../spec/types.js';

export const BACKOFF_START_MS = 100;
export const BACKOFF_CAP_MS = 30_000;
/** A run at least this long counts as healthy: the next back-off starts again at BACKOFF_START_MS. */
export const BACKOFF_RESET_AFTER_MS = 10_000;

export interface ExitFacts {
  exitCode: number | null;
  signal: number | null;
  oomKilled: boolean;
  /** A user asked it to stop (stop, kill, rm): no policy restarts it. */
  stopRequested: boolean;
  /** Restarts done so far by the policy. */
  restarts: number;
}

export function shouldRestart(policy: CanonicalLifecycle['restart'], x: ExitFacts): boolean {
  if (x.stopRequested) return false;
  switch (policy.policy) {
    case 'no': return false;
    case 'always':
    case 'unless-stopped': return true;
    case 'on-failure': {
      const failed = x.oomKilled || x.signal !== null || x.exitCode !== 0;
      return failed && (policy.maxRetries === undefined || x.restarts < policy.maxRetries);
    }
  }
}

/** The delay before the next restart, given the previous delay (undefined: none yet) and how long the run lasted. */
export function nextDelay(previous: number | undefined, ranMs: number): number {
  if (previous === undefined || ranMs >= BACKOFF_RESET_AFTER_MS) return BACKOFF_START_MS;
  return Math.min(previous * 2, BACKOFF_CAP_MS);
}
