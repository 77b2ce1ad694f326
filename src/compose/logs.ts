// Owns `compose logs`: every container's lines with a `name | ` prefix, one colour per container
// (when the output is a terminal and NO_COLOR is unset), the files merged in time order, and
// `-f` following each container live through the supervisor until every one has ended.
import { containerDir, logPath } from '../runtime/state.js';
import { readLogEntries, type LogEntry } from '../runtime/supervisor/logs.js';
import { tryRequest, type Target } from '../runtime/supervisor/client.js';
import { harmless } from '../ui/safe-text.js';

const COLOURS = [36, 33, 32, 35, 34, 31, 96, 93, 92, 95, 94, 91];

export interface Prefixer { (name: string, e: LogEntry): string }

/** `server-1  | text`: names padded to the widest, each in its own colour when `colour`. */
export function prefixer(names: string[], o: { colour: boolean; timestamps?: boolean; raw?: boolean }): Prefixer {
  const width = Math.max(0, ...names.map((n) => n.length));
  const colourOf = new Map(names.map((n, i) => [n, COLOURS[i % COLOURS.length]]));
  return (name, e) => {
    const label = `${name.padEnd(width)} |`;
    const c = colourOf.get(name) ?? COLOURS[0];
    const head = o.colour ? `\x1b[${c}m${label}\x1b[0m` : label;
    return `${head} ${o.timestamps ? e.time + ' ' : ''}${o.raw ? e.line : harmless(e.line)}\n`;
  };
}

export interface LogsOptions {
  target: Target;
  /** Container names, in the order their colours are given. */
  names: string[];
  follow?: boolean;
  tail?: number;
  timestamps?: boolean;
  colour: boolean;
  /** Only lines at or after `since` and before `until` (compose logs --since/--until). */
  since?: Date;
  until?: Date;
  /** The container's bytes as they are (default: control characters made visible when the output is a terminal). */
  raw?: boolean;
  out?: NodeJS.WritableStream;
}

/** Prints the logs; with `follow`, resolves once every followed container has ended. */
export async function printLogs(o: LogsOptions): Promise<void> {
  const out = o.out ?? process.stdout;
  const window = { tail: o.tail, ...(o.since ? { since: o.since } : {}), ...(o.until ? { until: o.until } : {}) };
  const fmt = prefixer(o.names, { colour: o.colour, timestamps: o.timestamps, raw: o.raw ?? !(out as NodeJS.WriteStream).isTTY });
  if (!o.follow) {
    const all = o.names.flatMap((n) => readLogEntries(logPath(containerDir(o.target.root, o.target.project, n)), window).map((e) => ({ n, e })));
    all.sort((a, b) => (a.e.time < b.e.time ? -1 : a.e.time > b.e.time ? 1 : 0));
    for (const { n, e } of all) out.write(fmt(n, e));
    return;
  }
  const before = (e: LogEntry) => !o.until || Date.parse(e.time) < o.until.getTime();
  await Promise.all(o.names.map(async (n) => {
    const r = await tryRequest(o.target, { op: 'logs-follow', name: n, tail: o.tail, ...(o.since ? { since: o.since.toISOString() } : {}) }, (l) => { if ('log' in l && before(l.log)) out.write(fmt(n, l.log)); }, 30_000).catch(() => undefined);
    if (r?.ok) return;
    // no supervisor (nothing is running): what the file has
    for (const e of readLogEntries(logPath(containerDir(o.target.root, o.target.project, n)), window)) out.write(fmt(n, e));
  }));
}
