// Owns `niwa stats` in the live view: turns successive container listings (from the supervisor or the
// state files) into RuntimeEvents for the same view, polls cgroup stats, and leaves containers alone on q.
import type { ContainerState, HealthStatus, RuntimeEvent } from '../events/types.js';
import type { CgroupStats } from '../runtime/cgroup/types.js';
import { loadLiveView } from './progress.js';

/** What a listing says about one container (a subset of `niwa ps`'s row). */
export interface ListedContainer {
  name: string;
  /** The supervisor's status: created, running, paused, restarting, stopped, exited, oom-killed. */
  state: string;
  pid: number | null;
  /** Seconds since the current run started, or null. */
  uptime: number | null;
  restarts: number;
  health: HealthStatus;
  exitCode?: number | null;
  signal?: number | null;
}

const VIEW_STATE: Record<string, ContainerState> = {
  created: 'starting', running: 'running', paused: 'running', restarting: 'restarting', stopped: 'exited', exited: 'exited', 'oom-killed': 'failed',
};

/** The events that move a view from listing `prev` to listing `next` (pure; `now` in epoch ms). */
export function listingEvents(prev: Map<string, ListedContainer>, next: ListedContainer[], now: number): RuntimeEvent[] {
  const out: RuntimeEvent[] = [];
  for (const c of next) {
    const p = prev.get(c.name);
    const restarted = p ? p.restarts < c.restarts : c.restarts > 0;
    // A restart event first: the row then takes the state the listing gives.
    if (restarted) out.push({ type: 'restart', container: c.name, count: c.restarts, at: now });
    if (restarted || !p || p.state !== c.state || p.pid !== c.pid) {
      const ended = c.state === 'stopped' || c.state === 'exited' || c.state === 'oom-killed';
      out.push({
        type: 'status', container: c.name, state: VIEW_STATE[c.state] ?? 'exited', status: c.state,
        ...(c.pid !== null ? { pid: c.pid } : {}),
        at: c.uptime !== null ? now - c.uptime * 1000 : now,
        ...(ended ? { exitCode: c.exitCode ?? null, signal: c.signal ?? null } : {}),
      });
    }
    if ((p?.health ?? 'none') !== c.health || (restarted && c.health !== 'none')) out.push({ type: 'health', container: c.name, status: c.health, at: now });
  }
  for (const name of prev.keys()) {
    if (!next.some((c) => c.name === name)) out.push({ type: 'status', container: name, state: 'exited', status: 'removed', at: now });
  }
  return out;
}

export interface StatsViewOptions {
  title: string;
  list(): Promise<ListedContainer[]>;
  stats(names: string[]): Promise<Record<string, CgroupStats>>;
  restart(name: string): Promise<void>;
  stop(name: string): Promise<void>;
  /** Log lines a container wrote since the last call (for `l`); none when it keeps no log. */
  newLogLines?(name: string): { at: number; stream: 'stdout' | 'stderr'; line: string }[];
  intervalMs?: number;
}

/** Run the live stats view until q / Ctrl-C; containers keep running. */
export async function runStatsView(o: StatsViewOptions): Promise<void> {
  const { startLiveView } = await loadLiveView();
  const listeners = new Set<(e: RuntimeEvent) => void>();
  let last = new Map<string, ListedContainer>();
  let running: string[] = [];
  const refresh = async () => {
    const next = await o.list();
    const evs = listingEvents(last, next, Date.now());
    last = new Map(next.map((c) => [c.name, c]));
    running = next.filter((c) => c.state === 'running' || c.state === 'paused').map((c) => c.name);
    for (const c of next) {
      for (const l of o.newLogLines?.(c.name) ?? []) evs.push({ type: 'log', container: c.name, stream: l.stream, line: l.line, at: l.at });
    }
    for (const e of evs) for (const l of listeners) l(e);
  };
  const view = startLiveView(
    { subscribe: (cb) => { listeners.add(cb); return () => listeners.delete(cb); } },
    // q and Ctrl-C leave the view only: `niwa stats` watches containers, it does not own them.
    { restart: o.restart, stop: o.stop, stopAll: () => undefined },
    {
      title: o.title, quitLeavesRunning: true, statsIntervalMs: o.intervalMs,
      stats: async () => { await refresh().catch(() => undefined); return o.stats(running); },
    },
  );
  await view.waitUntilExit();
}
