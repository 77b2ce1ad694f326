// Owns running the live Ink view: subscribes to a RuntimeEvent source, reduces events into a ViewState,
// redraws at most `fps` times a second, polls stats every second, and turns key actions into controls.
// Load it only by dynamic import (src/ui/progress.ts), so verbs that do not show it never load Ink.
import { render, type Instance } from 'ink';
import type { RuntimeEvent } from '../events/types.js';
import type { CgroupStats } from '../runtime/cgroup/types.js';
import { App } from './components/App.js';
import { createThrottle, drainFinished, initialState, needsRedraw, reduce, retarget, type Action, type FinishedLine, type UiEvent, type ViewState } from './model.js';

export interface EventSource { subscribe(cb: (e: RuntimeEvent) => void): () => void }

/** What the keys do. Each may return a promise; a rejection is shown as an error line. */
export interface LiveControls {
  restart(name: string): void | Promise<void>;
  stop(name: string): void | Promise<void>;
  /** Stop everything (force: kill now). The view closes when this settles. */
  /** `interrupt`: asked by Ctrl-C (not q). */
  stopAll(force: boolean, interrupt?: boolean): void | Promise<void>;
}

export interface LiveOptions {
  /** Redraws per second at most (default 4). */
  fps?: number;
  /** CPU the drawing may use, as a fraction of one core (default 0.03); frames thin out when they cost more. */
  cpuBudget?: number;
  /** Cgroup stats of the running containers by name; polled every statsIntervalMs (default 1000). */
  stats?: () => Promise<Record<string, CgroupStats>>;
  statsIntervalMs?: number;
  title?: string;
  /** Write every service's log lines above the rows (compose-style); default off, `l` shows them in the pane. */
  attachLogs?: boolean;
  verbose?: boolean;
  /** q and Ctrl-C leave the view only and say so: the containers keep running (`niwa stats`). */
  quitLeavesRunning?: boolean;
  /** Close by itself once every container has ended (e.g. all one-shot containers are done). */
  exitWhenAllEnded?: boolean;
  stdout?: NodeJS.WriteStream;
  stdin?: NodeJS.ReadStream;
  /** Listen for SIGINT as a stand-in for Ctrl-C when stdin is not a TTY (default true). */
  handleSigint?: boolean;
}

export interface LiveView {
  /** Settles when the view has closed (after a stop-all, or close()). */
  waitUntilExit(): Promise<void>;
  /** Close the view now: flush the last frame, unmount, stop timers. */
  close(): void;
  /** Feed an extra event (e.g. a message from the orchestrator) as if it came from the source. */
  dispatch(e: RuntimeEvent | UiEvent): void;
  /** Frames drawn so far. */
  readonly redraws: number;
  readonly state: ViewState;
}

export function startLiveView(source: EventSource, controls: LiveControls, opts: LiveOptions = {}): LiveView {
  const stdout = opts.stdout ?? process.stdout;
  const stdin = opts.stdin ?? process.stdin;
  const fps = opts.fps ?? 4;
  const interactive = Boolean(stdin.isTTY);
  let state = initialState({ title: opts.title, attachLogs: opts.attachLogs, verbose: opts.verbose, now: Date.now(), quitLeavesRunning: opts.quitLeavesRunning });
  let lines: FinishedLine[] = [];
  let batch = 0;
  let closed = false;
  let resolveExit!: () => void;
  const exited = new Promise<void>((r) => { resolveExit = r; });

  // Updates in one turn of the event loop are reduced first and drawn once (at most fps times a second).
  let drawRequested = false;
  const requestDraw = () => {
    if (drawRequested) return;
    drawRequested = true;
    setImmediate(() => { drawRequested = false; throttle.schedule(); });
  };
  const update = (e: RuntimeEvent | UiEvent) => {
    if (closed) return;
    const prev = state;
    state = reduce(state, e, Date.now());
    if (needsRedraw(prev, state)) requestDraw();
    if (opts.exitWhenAllEnded && state.order.length && state.order.every((n) => ['exited', 'failed'].includes(state.containers[n].state))) {
      setImmediate(close);
    }
  };

  const onAction = (keyed: Action) => {
    const a = retarget(keyed, state);
    if (!a) return;
    update({ type: 'ui:action', action: a });
    const fail = (what: string, name?: string) => (err: unknown) =>
      update({ type: 'ui:message', level: 'error', container: name, text: `${what} failed: ${(err as Error)?.message ?? String(err)}` });
    const call = (f: () => void | Promise<void>, what: string, name?: string): Promise<void> => {
      try { return Promise.resolve(f()).catch(fail(what, name)); } catch (err) { fail(what, name)(err); return Promise.resolve(); }
    };
    switch (a.type) {
      case 'restart': void call(() => controls.restart(a.name), 'restart', a.name); break;
      case 'stop': void call(() => controls.stop(a.name), 'stop', a.name); break;
      case 'stopAll': void call(() => controls.stopAll(a.force, a.interrupt), 'stop-all').then(close); break;
      default: break;
    }
  };

  const element = () => (
    <App state={state} lines={lines} batch={batch} rows={stdout.rows || 24} interactive={interactive} onAction={onAction} />
  );
  const draw = () => {
    if (closed && ink) return;
    const d = drainFinished(state);
    state = d.state;
    if (d.lines.length) { lines = d.lines; batch++; }
    ink?.rerender(element());
  };
  const throttle = createThrottle(draw, fps, undefined, opts.cpuBudget ?? 0.03);

  let ink: Instance | undefined;
  // Our throttle is the only gate: Ink's own (maxFps) is set well above it so a rerender draws at once.
  ink = render(element(), { stdout, stdin, exitOnCtrlC: false, patchConsole: true, maxFps: 60 });
  throttle.schedule();

  const unsubscribe = source.subscribe(update);
  let polling = false;
  const poll = async () => {
    if (!opts.stats || polling) return;
    polling = true;
    try {
      const stats = await opts.stats();
      update({ type: 'ui:stats', at: Date.now(), stats });
    } catch { /* a failed poll leaves the last figures; the next one may work */ } finally { polling = false; }
  };
  // Once a second: new stats and the clock for uptimes, reduced together so they cost one redraw.
  const timer = setInterval(() => { void poll().then(() => update({ type: 'ui:tick', now: Date.now() })); }, opts.statsIntervalMs ?? 1000);
  void poll();

  const onResize = () => requestDraw();
  stdout.on('resize', onResize);
  const onSigint = () => onAction({ type: 'stopAll', force: false, interrupt: true });
  if (opts.handleSigint ?? true) process.on('SIGINT', onSigint);

  function close() {
    if (closed) return;
    throttle.cancel();
    draw(); // the last frame, with any finished lines still queued
    closed = true;
    unsubscribe();
    clearInterval(timer);
    stdout.off('resize', onResize);
    process.off('SIGINT', onSigint);
    ink!.unmount();
    ink!.waitUntilExit().then(() => resolveExit(), () => resolveExit());
  }

  return {
    waitUntilExit: () => exited,
    close,
    dispatch: update,
    get redraws() { return throttle.runs; },
    get state() { return state; },
  };
}
