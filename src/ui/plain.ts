// Owns the plain reporters: `niwa run`'s stderr notes, and timestamped lines for compose/stats when
// the live view is off (not a TTY, or --progress plain). Both read the same RuntimeEvents; no Ink here.
import type { EventSink, RuntimeEvent } from '../events/types.js';
import type { LaunchPlan } from '../plan/types.js';
import { describeCall } from '../plan/format.js';
import { drainFinished, initialState, reduce, type FinishedLine, type UiEvent, type ViewState } from './model.js';
import { formatClock } from './format.js';

/** `niwa run` in the foreground: warnings and failures to stderr; with --verbose every step. */
export function plainReporter(opts: { verbose: boolean; plan: LaunchPlan; out?: NodeJS.WritableStream }): EventSink {
  const out = opts.out ?? process.stderr;
  return (e) => {
    if (e.type === 'warning') out.write(`niwa: warning: ${e.message}\n`);
    else if (e.type === 'cleanup' && e.failed.length) out.write(`niwa: cleanup left: ${e.failed.join('; ')}\n`);
    else if (opts.verbose) {
      if (e.type === 'step') out.write(`niwa: [${e.index}] ${describeCall(opts.plan.steps[e.index])} ${e.ok ? 'ok' : 'FAILED ' + e.error}\n`);
      else if (e.type === 'started') out.write(`niwa: started pid ${e.pid} in ${e.ms.toFixed(1)} ms\n`);
      else if (e.type === 'exited') out.write(`niwa: exited ${e.signal !== null ? 'by signal ' + e.signal : 'with code ' + e.code}${e.oomKilled ? ' (OOM-killed)' : ''}\n`);
    }
  };
}

/** One finished line as text: `09:00:01.123 web  running pid 4242`, log lines as `web | text`. */
export function formatLine(l: FinishedLine, nameWidth: number): string {
  const name = (l.container ?? 'niwa').padEnd(nameWidth);
  const sep = l.level === 'log' ? (l.stream === 'stderr' ? ' ! ' : ' | ') : '  ';
  return `${formatClock(l.at)} ${name}${sep}${l.text}`;
}

export interface TimestampedReporter {
  /** Feed a runtime event (or a UI event such as a stats poll or a message). */
  (e: RuntimeEvent | UiEvent): void;
  /** The view state built so far (the same reducer the live view uses). */
  readonly state: ViewState;
}

/**
 * Timestamped lines for many containers, the same lines the live view writes above its rows.
 * Log lines are included unless `logs: false`. `now` is injectable for tests; `names` sizes the name column.
 */
export function timestampedReporter(opts: { out?: NodeJS.WritableStream; logs?: boolean; verbose?: boolean; now?: () => number; names?: string[] } = {}): TimestampedReporter {
  const out = opts.out ?? process.stdout;
  const now = opts.now ?? Date.now;
  let state = initialState({ attachLogs: opts.logs ?? true, verbose: opts.verbose ?? false, now: now() });
  // Known names up front (compose knows its services) keep the columns aligned from the first line.
  let width = Math.max(4, ...(opts.names ?? []).map((n) => n.length));
  const sink = ((e: RuntimeEvent | UiEvent) => {
    const d = drainFinished(reduce(state, e, now()));
    state = d.state;
    if (!d.lines.length) return;
    for (const n of state.order) width = Math.max(width, n.length);
    out.write(d.lines.map((l) => formatLine(l, width) + '\n').join(''));
  }) as TimestampedReporter;
  Object.defineProperty(sink, 'state', { get: () => state });
  return sink;
}
