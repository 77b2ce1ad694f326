// Owns container log files: splitting a stream into lines, writing them with a timestamp and the
// stream name (`2026-11-29T09:00:00.123Z stdout hello`), rotating at a size cap (one old file,
// `container.log.1`), and reading them back with --tail / --since.
import { closeSync, existsSync, fchmodSync, fstatSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';

export type LogStream = 'stdout' | 'stderr';
export interface LogEntry { time: string; stream: LogStream; line: string }

export const DEFAULT_LOG_MAX_BYTES = 10 * 1024 * 1024;
/** A line longer than this is written in pieces (a stream without newlines cannot grow memory). */
export const MAX_LINE = 16 * 1024;

/** Cuts a byte stream into lines; keeps the unfinished tail until more data or flush(). */
export class LineSplitter {
  private pending = '';
  /** `maxLine`: longer lines are cut (log lines); Infinity keeps protocol lines whole. */
  constructor(private readonly maxLine = MAX_LINE) {}
  feed(chunk: string): string[] {
    this.pending += chunk;
    const out: string[] = [];
    let nl: number;
    while ((nl = this.pending.indexOf('\n')) >= 0) {
      out.push(this.pending.slice(0, nl));
      this.pending = this.pending.slice(nl + 1);
    }
    while (this.pending.length > this.maxLine) {
      out.push(this.pending.slice(0, this.maxLine));
      this.pending = this.pending.slice(this.maxLine);
    }
    return out;
  }
  flush(): string[] {
    const p = this.pending;
    this.pending = '';
    return p ? [p] : [];
  }
}

export function formatLogLine(e: LogEntry): string {
  return `${e.time} ${e.stream} ${e.line}\n`;
}

export function parseLogLine(text: string): LogEntry | undefined {
  const a = text.indexOf(' ');
  const b = a < 0 ? -1 : text.indexOf(' ', a + 1);
  if (b < 0) return undefined;
  const stream = text.slice(a + 1, b);
  if (stream !== 'stdout' && stream !== 'stderr') return undefined;
  return { time: text.slice(0, a), stream, line: text.slice(b + 1) };
}

/** Appends entries to `path`; when the next line would pass `maxBytes`, the file becomes `path.1`. */
export class LogWriter {
  private fd: number;
  private size: number;
  constructor(readonly path: string, readonly maxBytes = DEFAULT_LOG_MAX_BYTES) {
    this.fd = openSync(path, 'a', 0o600);
    fchmodSync(this.fd, 0o600); // a log from an older niwa may have been readable by others
    this.size = fstatSync(this.fd).size;
  }
  write(e: LogEntry): void {
    const buf = Buffer.from(formatLogLine(e));
    if (this.size > 0 && this.size + buf.length > this.maxBytes) this.rotate();
    writeSync(this.fd, buf);
    this.size += buf.length;
  }
  private rotate(): void {
    closeSync(this.fd);
    renameSync(this.path, this.path + '.1');
    this.fd = openSync(this.path, 'a', 0o600);
    this.size = 0;
  }
  close(): void {
    try { closeSync(this.fd); } catch { /* closed */ }
  }
}

export interface ReadLogOptions {
  /** Only the last N entries. */
  tail?: number;
  /** Only entries at or after this time. */
  since?: Date;
  /** Only entries before this time. */
  until?: Date;
}

/** Entries of container.log.1 then container.log, filtered. */
export function readLogEntries(path: string, opts: ReadLogOptions = {}): LogEntry[] {
  let out: LogEntry[] = [];
  for (const p of [path + '.1', path]) {
    if (!existsSync(p)) continue;
    let text: string;
    try { text = readFileSync(p, 'utf8'); } catch { continue; }
    for (const l of text.split('\n')) {
      const e = l ? parseLogLine(l) : undefined;
      if (e) out.push(e);
    }
  }
  if (opts.since) { const t = opts.since.getTime(); out = out.filter((e) => Date.parse(e.time) >= t); }
  if (opts.until) { const t = opts.until.getTime(); out = out.filter((e) => Date.parse(e.time) < t); }
  if (opts.tail !== undefined) out = opts.tail <= 0 ? [] : out.slice(-opts.tail);
  return out;
}

/** --since: an ISO time, a Unix time in seconds, or a duration before now ("10s", "5m", "1h30m", "250ms"). */
export function parseSince(v: string, now = Date.now()): Date | undefined {
  if (/^\d+(\.\d+)?$/.test(v)) return new Date(Number(v) * 1000);
  if (/^(\d+(\.\d+)?(ms|s|m|h))+$/.test(v)) {
    let ms = 0;
    for (const m of v.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)) ms += Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 'ms'];
    return new Date(now - ms);
  }
  const t = Date.parse(v);
  return Number.isNaN(t) ? undefined : new Date(t);
}
