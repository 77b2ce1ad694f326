// Owns the live view's logic as plain functions: the ViewState, the reducer over RuntimeEvents and
// UI events, key → action mapping, the layout budget, CPU % from samples, and the render throttle.
// Nothing here imports Ink or React; the components only format what this computes.
import { realClock, type Clock } from '../clock.js';
import type { ContainerState, HealthStatus, PublishedPort, RuntimeEvent } from '../events/types.js';
import type { PullEvent } from '../image/types.js';
import type { CgroupStats } from '../runtime/cgroup/types.js';
import { formatExit } from './format.js';

/** One container's row. */
export interface ContainerView {
  name: string;
  state: ContainerState;
  /** The supervisor's precise status when it says more than `state` (paused, stopped, oom-killed, removed). */
  status?: string;
  /** While starting: the launch step or phase it is on ("12/40 mount"). */
  step?: string;
  stepsTotal?: number;
  health: HealthStatus;
  pid?: number;
  /** Epoch ms when the current process started (for uptime). */
  startedAt?: number;
  exit?: { code: number | null; signal: number | null; oomKilled: boolean };
  /** Percent of one core over the last sample interval. */
  cpuPercent?: number;
  cpuSample?: { usageNs: number; at: number };
  memCurrent?: number;
  memLimit?: number | null;
  pids?: number;
  restarts: number;
  ports: PublishedPort[];
  /** Epoch ms when a stop (or restart) of this run was asked for or reported: the row says "stopping (Ns)". */
  stoppingSince?: number;
}

export type LineLevel = 'info' | 'ok' | 'warn' | 'error' | 'log';

/** A line that is final once written: it goes above the live rows (Ink <Static>) or to the plain output. */
export interface FinishedLine {
  id: number;
  /** Epoch ms. */
  at: number;
  container?: string;
  level: LineLevel;
  text: string;
  stream?: 'stdout' | 'stderr';
}

export interface LogLine { at: number; container: string; stream: 'stdout' | 'stderr'; line: string }

export interface ViewState {
  /** Display order: first seen first. */
  order: string[];
  containers: Record<string, ContainerView>;
  /** Lines not yet written; the driver takes them with drainFinished(). */
  finished: FinishedLine[];
  nextLineId: number;
  /** Name of the selected container (arrow keys). */
  selected?: string;
  /** Services whose log pane is on (`l`). */
  logsVisible: Record<string, boolean>;
  /** The last LOG_TAIL log lines of every service, oldest first. */
  logTail: Record<string, LogLine[]>;
  /** When true, every service's log lines are also written above as finished lines (compose-style). */
  attachLogs: boolean;
  /** Also write a finished line for every successful launch step. */
  verbose: boolean;
  /** 'graceful' after q / the first Ctrl-C; 'force' after the second Ctrl-C. */
  quitting: 'no' | 'graceful' | 'force';
  /** q leaves the view and the containers keep running (`niwa stats` watches containers it does not own). */
  quitLeavesRunning: boolean;
  /** Epoch ms of the last ui:tick; uptime is measured against it (events alone do not move it, so they need no redraw). */
  now: number;
  title: string;
  /** Images being pulled, in the order they started: a row each until done. */
  pulls: Record<string, PullView>;
  pullOrder: string[];
}

/** One image being pulled: its layers' states and byte counts. */
export interface PullView {
  ref: string;
  layers: Record<string, { state: string; current: number; total: number }>;
  layerCount?: number;
  startedAt: number;
}

export type Action =
  | { type: 'select'; delta: number }
  | { type: 'toggleLogs'; name: string }
  | { type: 'restart'; name: string }
  | { type: 'stop'; name: string }
  /** `interrupt`: Ctrl-C (the program then exits 130, as after SIGINT), not q. */
  | { type: 'stopAll'; force: boolean; interrupt?: boolean };

export type UiEvent =
  | { type: 'ui:action'; action: Action }
  /** A stats poll: cgroup figures per container name, sampled at `at`. */
  | { type: 'ui:stats'; at: number; stats: Record<string, CgroupStats> }
  | { type: 'ui:tick'; now: number }
  /** A control failed (restart/stop) or the driver has something to say. */
  | { type: 'ui:message'; level: LineLevel; text: string; container?: string }
  | { type: 'ui:title'; title: string };

export const LOG_TAIL = 50;
/** Finished lines kept when nobody drains them (plain consumers drain every event; this is a safety cap). */
export const FINISHED_CAP = 2000;

export function initialState(opts: { title?: string; attachLogs?: boolean; verbose?: boolean; now?: number; quitLeavesRunning?: boolean } = {}): ViewState {
  return {
    order: [], containers: {}, finished: [], nextLineId: 0, logsVisible: {}, logTail: {},
    attachLogs: opts.attachLogs ?? false, verbose: opts.verbose ?? false, quitting: 'no', quitLeavesRunning: opts.quitLeavesRunning ?? false,
    now: opts.now ?? 0, title: opts.title ?? 'niwa', pulls: {}, pullOrder: [],
  };
}

/** Percent of one core used between two cumulative CPU-time samples; undefined when it cannot be told. */
export function cpuPercent(prev: { usageNs: number; at: number } | undefined, next: { usageNs: number; at: number }): number | undefined {
  if (!prev) return undefined;
  const dt = next.at - prev.at;
  const du = next.usageNs - prev.usageNs;
  if (dt <= 0 || du < 0) return undefined; // clock went backwards, or the counter reset (new cgroup after a restart)
  return (du / (dt * 1e6)) * 100;
}

const freshContainer = (name: string): ContainerView => ({ name, state: 'created', health: 'none', restarts: 0, ports: [] });

function withContainer(s: ViewState, name: string, f: (c: ContainerView) => ContainerView): ViewState {
  const cur = s.containers[name];
  const next = f(cur ?? freshContainer(name));
  if (next === cur) return s; // nothing changed: keep the same objects so the driver can skip a redraw
  return {
    ...s,
    order: cur ? s.order : [...s.order, name],
    containers: { ...s.containers, [name]: next },
    selected: s.selected ?? name,
  };
}

function addLine(s: ViewState, line: Omit<FinishedLine, 'id'>): ViewState {
  const finished = s.finished.length >= FINISHED_CAP ? s.finished.slice(s.finished.length - FINISHED_CAP + 1) : s.finished.slice();
  finished.push({ ...line, id: s.nextLineId });
  return { ...s, finished, nextLineId: s.nextLineId + 1 };
}

function applyStats(c: ContainerView, st: CgroupStats, at: number): ContainerView {
  const next: ContainerView = { ...c, memCurrent: st.memory.current ?? c.memCurrent, pids: st.pids.current ?? c.pids };
  if (st.memory.limit !== undefined) next.memLimit = st.memory.limit;
  if (st.cpu.usageNs !== undefined) {
    const sample = { usageNs: st.cpu.usageNs, at };
    next.cpuPercent = cpuPercent(c.cpuSample, sample) ?? c.cpuPercent;
    next.cpuSample = sample;
  }
  return next;
}

const NOT_LIVE: ContainerState[] = ['exited', 'failed'];

/** The pure reducer: state + one event → next state. `now` is the arrival time when the event carries none. */
export function reduce(state: ViewState, e: RuntimeEvent | UiEvent, now: number = state.now): ViewState {
  const at = ('at' in e && typeof e.at === 'number' ? e.at : now);
  let s: ViewState = state;
  const line = (container: string | undefined, level: LineLevel, text: string) => { s = addLine(s, { at, container, level, text }); };
  switch (e.type) {
    case 'plan':
      s = withContainer(s, e.container, (c) => ({ ...c, state: 'starting', stepsTotal: e.steps, step: `planned ${e.steps} steps`, exit: undefined }));
      for (const w of e.warnings) line(e.container, 'warn', `warning: ${w}`);
      return s;
    case 'phase':
      return withContainer(s, e.container, (c) => ({ ...c, state: c.state === 'created' ? 'starting' : c.state, step: e.phase }));
    case 'step': {
      const total = s.containers[e.container]?.stepsTotal;
      const text = `${e.index + 1}${total ? '/' + total : ''} ${e.op}`;
      s = withContainer(s, e.container, (c) => ({ ...c, state: c.state === 'created' ? 'starting' : c.state, step: text }));
      if (!e.ok) line(e.container, 'error', `step ${text} failed: ${e.error ?? 'unknown error'}`);
      else if (s.verbose) line(e.container, 'info', `step ${text} ok`);
      return s;
    }
    case 'started':
      s = withContainer(s, e.container, (c) => ({ ...c, state: 'running', pid: e.pid, startedAt: at, step: undefined, exit: undefined, cpuSample: undefined, cpuPercent: undefined }));
      line(e.container, 'ok', `running pid ${e.pid} (started in ${e.ms.toFixed(1)} ms)`);
      return s;
    case 'exited': {
      const failed = e.oomKilled || e.signal !== null || (e.code ?? 0) !== 0;
      s = withContainer(s, e.container, (c) => ({ ...c, state: 'exited', health: 'none', exit: { code: e.code, signal: e.signal, oomKilled: e.oomKilled }, step: undefined, cpuPercent: undefined, cpuSample: undefined }));
      line(e.container, failed ? 'error' : 'info', `exited ${formatExit(e.code, e.signal, e.oomKilled)}`);
      return s;
    }
    case 'warning':
      if (e.container) s = withContainer(s, e.container, (c) => c);
      line(e.container || undefined, 'warn', `warning: ${e.message}`);
      return s;
    case 'cleanup':
      if (e.failed.length) line(e.container, 'error', `cleanup left: ${e.failed.join('; ')}`);
      return s;
    case 'status': {
      const prev = s.containers[e.container];
      s = withContainer(s, e.container, (c) => ({
        ...c,
        state: e.state,
        status: e.status && e.status !== e.state ? e.status : undefined,
        pid: e.pid ?? (NOT_LIVE.includes(e.state) ? undefined : c.pid),
        startedAt: e.state === 'running' && (c.state !== 'running' || e.pid !== c.pid) ? at : c.startedAt,
        step: e.state === 'starting' ? c.step : undefined,
        ports: e.ports ?? c.ports,
        // Stopping lasts until the run ends or another one starts; an engine may report it, or a key asked for it.
        stoppingSince: e.state === 'stopping' ? (c.stoppingSince ?? at)
          : e.state === c.state && (e.pid === undefined || e.pid === c.pid) ? c.stoppingSince : undefined,
        ...(NOT_LIVE.includes(e.state) || e.state === 'restarting' ? { cpuPercent: undefined, cpuSample: undefined, health: 'none' as const } : {}),
        ...(e.exitCode !== undefined || e.signal !== undefined
          ? { exit: { code: e.exitCode ?? null, signal: e.signal ?? null, oomKilled: e.status === 'oom-killed' } } : {}),
      }));
      if (prev?.state !== e.state && e.state !== 'created' && e.state !== 'starting') {
        const ex = s.containers[e.container].exit;
        const failed = e.state === 'failed' || (NOT_LIVE.includes(e.state) && ex && (ex.oomKilled || ex.signal !== null || (ex.code ?? 0) !== 0));
        const lvl: LineLevel = failed ? 'error' : e.state === 'running' ? 'ok' : 'info';
        const what = e.status && e.status !== e.state ? `${e.state} (${e.status})` : e.state;
        const how = NOT_LIVE.includes(e.state) && ex && (e.exitCode !== undefined || e.signal !== undefined) ? ' ' + formatExit(ex.code, ex.signal, ex.oomKilled) : '';
        line(e.container, lvl, what + (e.pid !== undefined && e.state === 'running' ? ` pid ${e.pid}` : '') + how);
      }
      return s;
    }
    case 'log': {
      const entry: LogLine = { at, container: e.container, stream: e.stream, line: e.line };
      s = withContainer(s, e.container, (c) => c);
      const tail = s.logTail[e.container] ?? [];
      s = { ...s, logTail: { ...s.logTail, [e.container]: [...(tail.length >= LOG_TAIL ? tail.slice(1) : tail), entry] } };
      if (s.attachLogs) s = addLine(s, { at, container: e.container, level: 'log', text: e.line, stream: e.stream });
      return s;
    }
    case 'restart':
      s = withContainer(s, e.container, (c) => ({ ...c, restarts: Math.max(c.restarts + 1, e.count), state: 'restarting', health: 'none', pid: undefined }));
      line(e.container, 'warn', `restarting (restart ${s.containers[e.container].restarts}${e.reason ? ': ' + e.reason : ''})`);
      return s;
    case 'health': {
      const prev = s.containers[e.container]?.health;
      s = withContainer(s, e.container, (c) => ({ ...c, health: e.status }));
      if (prev !== e.status) line(e.container, e.status === 'unhealthy' ? 'error' : e.status === 'healthy' ? 'ok' : 'info', `health: ${e.status}${e.output ? ' — ' + e.output : ''}`);
      return s;
    }
    case 'stats':
      if (!s.containers[e.container]) return s; // stats for a container the view does not show
      return withContainer(s, e.container, (c) => applyStats(c, e.stats, e.at));
    case 'ui:stats': {
      for (const [name, st] of Object.entries(e.stats)) {
        if (s.containers[name] && !NOT_LIVE.includes(s.containers[name].state)) s = withContainer(s, name, (c) => applyStats(c, st, e.at));
      }
      return s;
    }
    case 'ui:tick':
      return e.now > s.now ? { ...s, now: e.now } : s;
    case 'ui:message':
    case 'message':
      line(e.container, e.level, e.text);
      return s;
    case 'pull':
      return applyPull(s, e.event, at);
    case 'build': {
      const b = e.event;
      if (b.type === 'stage') line(e.service, 'info', `build ${e.image}: stage ${b.stage} FROM ${b.base}`);
      else if (b.type === 'step' && b.state !== 'done') line(e.service, 'info', `build step ${b.n}/${b.total} ${b.text}${b.state === 'cached' ? ' (cached)' : ''}`);
      else if (b.type === 'warning') line(e.service, 'warn', `build: ${b.message}`);
      else if (b.type === 'done') line(e.service, 'ok', `built ${e.image} ${b.digest.slice(7, 19)} (${b.ran} ran, ${b.cached} cached)`);
      return s;
    }
    case 'project-step':
      if (!e.ok) line(undefined, 'error', `${e.service ? e.service + ': ' : ''}project step ${e.index} (${e.op}) failed: ${e.error ?? 'unknown error'}`);
      else if (s.verbose) line(undefined, 'info', `${e.service ? e.service + ': ' : ''}project step ${e.index} ${e.op} ok`);
      return s;
    case 'ui:title':
      return { ...s, title: e.title };
    case 'ui:action':
      return applyAction(s, e.action, at);
  }
}

function applyAction(s: ViewState, a: Action, at: number): ViewState {
  const line = (container: string | undefined, level: LineLevel, text: string) => addLine(s, { at, container, level, text });
  switch (a.type) {
    case 'select': {
      if (!s.order.length) return s;
      const i = Math.max(0, s.order.indexOf(s.selected ?? s.order[0]));
      const j = Math.min(s.order.length - 1, Math.max(0, i + a.delta));
      return { ...s, selected: s.order[j] };
    }
    case 'toggleLogs':
      return { ...s, logsVisible: { ...s.logsVisible, [a.name]: !s.logsVisible[a.name] } };
    case 'restart':
    case 'stop': {
      const c = s.containers[a.name];
      const next = line(a.name, 'info', `${a.type} requested`);
      if (!c || NOT_LIVE.includes(c.state) || c.stoppingSince !== undefined) return next;
      return { ...next, containers: { ...next.containers, [a.name]: { ...c, stoppingSince: at } } };
    }
    case 'stopAll': {
      if (s.quitLeavesRunning) {
        if (s.quitting !== 'no') return s;
        return { ...line(undefined, 'info', 'leaving the view: the containers keep running (niwa stop NAME stops one)'), quitting: 'graceful' };
      }
      const quitting = a.force ? 'force' : s.quitting === 'no' ? 'graceful' : s.quitting;
      if (quitting === s.quitting) return s;
      return { ...line(undefined, a.force ? 'warn' : 'info', a.force ? 'forcing: killing every container now' : 'stopping every container (Ctrl-C again to force)'), quitting };
    }
  }
}

/**
 * True when `next` would draw differently from `prev`. The reducer keeps unchanged parts identical,
 * so a log line for a service whose logs are hidden (the bulk of events) costs no redraw.
 */
export function needsRedraw(prev: ViewState, next: ViewState): boolean {
  if (prev === next) return false;
  if (prev.containers !== next.containers || prev.order !== next.order || prev.finished !== next.finished
    || prev.selected !== next.selected || prev.quitting !== next.quitting || prev.logsVisible !== next.logsVisible
    || prev.now !== next.now || prev.title !== next.title) return true;
  return next.order.some((n) => next.logsVisible[n] && prev.logTail[n] !== next.logTail[n]);
}

/** Take the finished lines out of the state (the driver writes them once, above the live rows). */
export function drainFinished(s: ViewState): { state: ViewState; lines: FinishedLine[] } {
  if (!s.finished.length) return { state: s, lines: [] };
  return { state: { ...s, finished: [] }, lines: s.finished };
}

/** The key shape the mapping needs (a subset of Ink's Key, so tests and other front ends can build it). */
export interface KeyInfo { upArrow?: boolean; downArrow?: boolean; ctrl?: boolean; escape?: boolean }

/** Map one key press to an action; null when the key means nothing here. */
export function keyToAction(input: string, key: KeyInfo, s: ViewState): Action | null {
  if ((key.ctrl && input === 'c') || input === '\u0003') return { type: 'stopAll', force: s.quitting !== 'no', interrupt: true };
  if (key.ctrl) return null;
  if (input === 'q') return s.quitting === 'no' ? { type: 'stopAll', force: false } : null;
  if (key.upArrow || input === 'k') return s.order.length ? { type: 'select', delta: -1 } : null;
  if (key.downArrow || input === 'j') return s.order.length ? { type: 'select', delta: 1 } : null;
  const sel = s.selected;
  if (!sel || s.quitting !== 'no') return null;
  if (input === 'l') return { type: 'toggleLogs', name: sel };
  if (input === 'r') return { type: 'restart', name: sel };
  if (input === 's') return { type: 'stop', name: sel };
  return null;
}

/**
 * Re-aim an action at the state as it is now. A frame can be up to 1/fps old, and a burst of keys
 * (↓ ↓ l in one read) is mapped against the same frame: selection-bound actions follow the current
 * selection and a Ctrl-C while already stopping forces. Null when nothing is selected any more.
 */
export function retarget(a: Action, s: ViewState): Action | null {
  switch (a.type) {
    case 'toggleLogs': case 'restart': case 'stop':
      if (a.type !== 'toggleLogs' && s.quitting !== 'no') return null;
      return s.selected ? { ...a, name: s.selected } : null;
    case 'stopAll':
      return a.force || s.quitting === 'no' ? a : { ...a, force: true };
    default:
      return a;
  }
}

/** What fits on a terminal of `rows` lines: which table rows to show and how many log lines. */
export interface Layout {
  /** Index into state.order of the first row shown, and how many rows. */
  first: number;
  count: number;
  /** Log lines to show in the pane (0 = no pane). */
  logLines: number;
  /** Services whose logs are in the pane, in display order. */
  logServices: string[];
}

/** Lines used by everything but the rows and the log pane: title, table header, help bar, one spare. */
const CHROME = 4;
export const MAX_LOG_LINES = 10;

/**
 * Budget the live area so it stays shorter than the terminal (Ink clears the whole screen and
 * reprints everything when the live area is as tall as the terminal).
 */
export function layout(s: ViewState, rows: number): Layout {
  const n = s.order.length;
  const logServices = s.order.filter((x) => s.logsVisible[x]);
  const budget = Math.max(1, rows - CHROME - s.pullOrder.length);
  // The pane gets up to MAX_LOG_LINES (+1 title line) but never squeezes the table below 3 rows.
  let logLines = 0;
  if (logServices.length) {
    const spare = budget - Math.min(n, 3) - 1;
    logLines = Math.max(0, Math.min(MAX_LOG_LINES, spare, Math.max(1, budget - n - 1)));
  }
  let count = Math.max(1, Math.min(n, budget - (logLines ? logLines + 1 : 0)));
  if (count < n) count = Math.max(1, count - 2); // room for the "↑ n more" / "↓ n more" markers
  const sel = Math.max(0, s.order.indexOf(s.selected ?? ''));
  // Keep the selection visible, as close to the middle of the window as the ends allow.
  const first = n <= count ? 0 : Math.min(n - count, Math.max(0, sel - Math.floor(count / 2)));
  return { first, count: Math.min(count, n), logLines, logServices };
}

/** The last `n` log lines of the given services, interleaved by time. */
export function logPaneLines(s: ViewState, services: string[], n: number): LogLine[] {
  if (n <= 0) return [];
  const all = services.flatMap((x) => s.logTail[x] ?? []);
  all.sort((a, b) => a.at - b.at);
  return all.slice(-n);
}

/** True when every container has ended (used to close the view after a stop-all). */
export function allEnded(s: ViewState): boolean {
  return s.order.every((n) => NOT_LIVE.includes(s.containers[n].state));
}

export { realClock, type Clock };

export interface Throttle {
  /** Ask for a run: runs now if the last run was at least one interval ago, else once at the end of that interval. */
  schedule(): void;
  /** Run now if a run is pending (e.g. before exit). */
  flush(): void;
  cancel(): void;
  /** How many times fn ran. */
  readonly runs: number;
  /** The current interval in ms (grows when runs are expensive and a CPU budget is set). */
  readonly interval: number;
}

/**
 * Coalesce calls so fn runs at most maxPerSecond times a second, leading and trailing edge.
 * With `cpuBudget` (a fraction of one core, e.g. 0.03), the interval also stretches to
 * averageRunCost / cpuBudget, so a slow terminal or machine gets fewer frames instead of a busy CPU.
 */
export function createThrottle(fn: () => void, maxPerSecond: number, clock: Clock = realClock, cpuBudget?: number): Throttle {
  const minInterval = 1000 / Math.max(0.001, maxPerSecond);
  let interval = minInterval;
  let avgCost: number | undefined;
  let last = -Infinity;
  let timer: unknown = undefined;
  let runs = 0;
  const run = () => {
    timer = undefined;
    const start = clock.now();
    last = start;
    runs++;
    try {
      fn();
    } finally {
      if (cpuBudget) {
        const cost = clock.now() - start;
        avgCost = avgCost === undefined ? cost : avgCost * 0.8 + cost * 0.2;
        interval = Math.max(minInterval, avgCost / cpuBudget);
      }
    }
  };
  return {
    schedule() {
      if (timer !== undefined) return;
      const wait = last + interval - clock.now();
      if (wait <= 0) run();
      else timer = clock.setTimeout(run, wait);
    },
    flush() {
      if (timer === undefined) return;
      clock.clearTimeout(timer);
      run();
    },
    cancel() {
      if (timer !== undefined) clock.clearTimeout(timer);
      timer = undefined;
    },
    get runs() { return runs; },
    get interval() { return interval; },
  };
}

/** Running and total containers, for the title line. */
export function counts(s: ViewState): { running: number; total: number } {
  return { running: s.order.filter((n) => s.containers[n].state === 'running').length, total: s.order.length };
}

/** A pull event → the image's row (new on resolve; gone, with a finished line, on done or error). */
function applyPull(s: ViewState, e: PullEvent, at: number): ViewState {
  const line = (level: LineLevel, text: string) => { s = addLine(s, { at, level, text }); };
  const drop = (st: ViewState): ViewState => {
    const { [e.ref]: _gone, ...pulls } = st.pulls;
    return { ...st, pulls, pullOrder: st.pullOrder.filter((r) => r !== e.ref) };
  };
  const cur = s.pulls[e.ref] ?? { ref: e.ref, layers: {}, startedAt: at };
  const order = s.pullOrder.includes(e.ref) ? s.pullOrder : [...s.pullOrder, e.ref];
  switch (e.type) {
    case 'resolve':
      return { ...s, pulls: { ...s.pulls, [e.ref]: { ...cur, layerCount: e.layers } }, pullOrder: order };
    case 'layer': {
      const prev = cur.layers[e.digest] ?? { state: 'waiting', current: 0, total: 0 };
      const layer = { state: e.state, current: e.current ?? (e.state === 'done' || e.state === 'exists' ? e.total ?? prev.total : prev.current), total: e.total ?? prev.total };
      return { ...s, pulls: { ...s.pulls, [e.ref]: { ...cur, layers: { ...cur.layers, [e.digest]: layer } } }, pullOrder: order };
    }
    case 'done': {
      line('ok', `pulled ${e.ref}${e.downloadedBytes ? ` (${formatBytes(e.downloadedBytes)} in ${(e.ms / 1000).toFixed(1)} s)` : ' (up to date)'}`);
      return drop(s);
    }
    case 'error':
      line('error', `pull ${e.ref}: ${e.message}`);
      return drop(s);
  }
}

/** What a pull row shows: layers done of all, bytes so far of all. */
export function pullSummary(p: PullView): { done: number; layers: number; current: number; total: number } {
  const ls = Object.values(p.layers);
  return {
    done: ls.filter((l) => l.state === 'done' || l.state === 'exists').length,
    layers: p.layerCount ?? ls.length,
    current: ls.reduce((n, l) => n + Math.min(l.current, l.total || l.current), 0),
    total: ls.reduce((n, l) => n + l.total, 0),
  };
}

function formatBytes(n: number): string {
  return n >= 1e9 ? `${(n / 1e9).toFixed(1)} GB` : n >= 1e6 ? `${(n / 1e6).toFixed(1)} MB` : n >= 1e3 ? `${(n / 1e3).toFixed(1)} kB` : `${n} B`;
}
