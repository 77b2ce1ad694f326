// Owns container log files: splitting a stream into lines, writing them with a timestamp and the
// stream name (`2026-11-29T09:00:00.123Z stdout hello`), rotating at a size cap (one old file,
// `container.log.1`), and reading them back with --tail / --since.
import { closeSync, existsSync, fchmodSync, fstatSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { isNoSpace } from '../state.js';

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

/** The line a log gets where output was dropped because the state filesystem was full. */
export const droppedNotice = (bytes: number, path: string) => `niwa: ${bytes} bytes of output dropped: no space left on the state filesystem (${path})`;

/**
 * Appends entries to `path`; when the next line would pass `maxBytes`, the file becomes `path.1`.
 * A full filesystem does not stop it: lines that cannot be written are counted and dropped (the
 * container's pipe keeps being drained, so it never stalls), and the first write that succeeds
 * again is preceded by a notice saying how many bytes were lost (droppedNotice).
 */
export class LogWriter {
  private fd: number;
  private size: number;
  /** Bytes dropped since the filesystem filled up; 0 while writes succeed. */
  dropped = 0;
  private cut = false;
  constructor(readonly path: string, readonly maxBytes = DEFAULT_LOG_MAX_BYTES, private readonly onSpace?: (full: boolean) => void) {
    this.fd = openSync(path, 'a', 0o600);
    fchmodSync(this.fd, 0o600); // a log from an older niwa may have been readable by others
    this.size = fstatSync(this.fd).size;
  }
  write(e: LogEntry): void {
    const buf = Buffer.from(formatLogLine(e));
    if (this.dropped) {
      // a line cut short by the full disk is ended first, so the notice is a line of its own
      const notice = Buffer.from((this.cut ? '\n' : '') + formatLogLine({ time: e.time, stream: 'stderr', line: droppedNotice(this.dropped, this.path) }));
      if (this.append(notice) < notice.length) { this.dropped += buf.length; return; }
      this.dropped = 0;
      this.cut = false;
      this.onSpace?.(false);
    }
    const n = this.append(buf);
    if (n < buf.length) {
      if (!this.dropped) this.onSpace?.(true);
      this.dropped += buf.length - n;
      if (n > 0) this.cut = true;
    }
  }
  /** Writes what fits; returns the bytes written (fewer on a full filesystem). Other errors throw. */
  private append(buf: Buffer): number {
    try {
      if (this.size > 0 && this.size + buf.length > this.maxBytes) this.rotate();
      const n = writeSync(this.fd, buf);
      this.size += n;
      return n;
    } catch (err) {
      if (isNoSpace(err)) return 0;
      throw err;
    }
  }
  private rotate(): void {
    renameSync(this.path, this.path + '.1');
    // the old file stays open until the new one exists: a failed open leaves a writable fd
    const fd = openSync(this.path, 'a', 0o600);
    closeSync(this.fd);
    this.fd = fd;
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
