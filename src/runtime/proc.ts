// Owns reading /proc for the lifecycle: a process's start time (to tell a live pid from a reused
// one), liveness, and the per-process figures `niwa top` shows.
import { readFileSync } from 'node:fs';

/** USER_HZ: the unit of times in /proc/PID/stat; 100 on every Linux architecture niwa runs on. */
export const CLK_TCK = 100;

/** Fields of /proc/PID/stat after the command (field 3 onwards), and the command itself. */
export function parseStat(text: string): { comm: string; fields: string[] } | undefined {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) return undefined;
  return { comm: text.slice(open + 1, close), fields: text.slice(close + 2).trim().split(' ') };
}

/** Field `n` (1-based, as in proc(5)) of /proc/PID/stat; n ≥ 3. */
export function statField(text: string, n: number): string | undefined {
  return parseStat(text)?.fields[n - 3];
}

function readStat(pid: number): string | undefined {
  try { return readFileSync(`/proc/${pid}/stat`, 'utf8'); } catch { return undefined; }
}

/** Start time of a process (field 22, clock ticks since boot); undefined when it does not exist. */
export function startTime(pid: number): number | undefined {
  const s = readStat(pid);
  const v = s === undefined ? undefined : statField(s, 22);
  return v === undefined ? undefined : Number(v);
}

/**
 * True when `pid` is the same process that had start time `start`, and it has not exited
 * (a zombie counts as gone: it is only waiting for its parent to reap it).
 */
export function sameProcessAlive(pid: number | undefined, start: number | undefined): boolean {
  if (!pid) return false;
  const s = readStat(pid);
  if (s === undefined) return false;
  const state = statField(s, 3);
  if (state === 'Z' || state === 'X') return false;
  return start === undefined || Number(statField(s, 22)) === start;
}

/** Seconds since boot (/proc/uptime). */
export function uptimeSeconds(): number {
  return Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]);
}

export interface ProcInfo {
  pid: number;
  ppid: number;
  uid: number;
  /** Average CPU use over the process's life, percent of one CPU. */
  cpu: number;
  /** Resident memory in bytes. */
  rss: number;
  state: string;
  command: string;
}

/** What `niwa top` shows for one process; undefined when it is gone. */
export function procInfo(pid: number, now = uptimeSeconds()): ProcInfo | undefined {
  const s = readStat(pid);
  const p = s === undefined ? undefined : parseStat(s);
  if (!p) return undefined;
  let status = '';
  let cmdline = '';
  try { status = readFileSync(`/proc/${pid}/status`, 'utf8'); } catch { /* gone */ }
  try { cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8'); } catch { /* gone */ }
  const f = (n: number) => Number(p.fields[n - 3]);
  const elapsed = now - f(22) / CLK_TCK;
  const cpuSecs = (f(14) + f(15)) / CLK_TCK;
  const rssKb = Number(status.match(/^VmRSS:\s+(\d+)/m)?.[1] ?? 0);
  return {
    pid,
    ppid: f(4),
    uid: Number(status.match(/^Uid:\s+(\d+)/m)?.[1] ?? -1),
    cpu: elapsed > 0 ? (100 * cpuSecs) / elapsed : 0,
    rss: rssKb * 1024,
    state: p.fields[0],
    command: cmdline ? cmdline.replace(/\0+$/, '').split('\0').join(' ') : `[${p.comm}]`,
  };
}

/** uid → user name from /etc/passwd (the host's), or the number. */
export function userNames(): (uid: number) => string {
  const map = new Map<number, string>();
  try {
    for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
      const [name, , uid] = line.split(':');
      if (name && uid !== undefined && !map.has(Number(uid))) map.set(Number(uid), name);
    }
  } catch { /* no passwd */ }
  return (uid) => map.get(uid) ?? String(uid);
}
