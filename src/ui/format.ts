// Owns turning view data into short strings: bytes, durations, clock times, CPU %, ports, exits.
// Pure; shared by the Ink components and the plain reporter so both say the same thing.
import type { PublishedPort } from '../events/types.js';

const UNITS = ['B', 'K', 'M', 'G', 'T'];

/** 1536 → "1.5K", 67108864 → "64M"; one decimal below 10, none above. */
export function formatBytes(n: number | undefined | null): string {
  if (n === undefined || n === null || !Number.isFinite(n)) return '-';
  let v = n;
  let u = 0;
  while (v >= 1024 && u < UNITS.length - 1) { v /= 1024; u++; }
  const s = u === 0 || v >= 10 ? String(Math.round(v)) : v.toFixed(1).replace(/\.0$/, '');
  return s + UNITS[u];
}

/** Memory against its limit: "12M / 64M", "12M" when unlimited, "-" when unknown. */
export function formatMemory(current: number | undefined, limit: number | null | undefined): string {
  if (current === undefined) return '-';
  return limit === undefined || limit === null ? formatBytes(current) : `${formatBytes(current)} / ${formatBytes(limit)}`;
}

/** Uptime in the two largest units: "42s", "3m05s", "2h07m", "3d04h". */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  const pad = (x: number) => String(x).padStart(2, '0');
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${pad(s % 60)}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h${pad(Math.floor((s % 3600) / 60))}m`;
  return `${Math.floor(s / 86400)}d${pad(Math.floor((s % 86400) / 3600))}h`;
}

/** Local wall-clock time with milliseconds: "09:00:01.123". */
export function formatClock(epochMs: number): string {
  const d = new Date(epochMs);
  const p = (x: number, n = 2) => String(x).padStart(n, '0');
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
}

/** "3.2%", "120%" (percent of one core, like top), "-" when unknown. */
export function formatCpu(pct: number | undefined): string {
  if (pct === undefined || !Number.isFinite(pct)) return '-';
  return pct < 10 ? `${pct.toFixed(1)}%` : `${Math.round(pct)}%`;
}

/** "8080→80/tcp, 127.0.0.1:5353→53/udp". */
export function formatPorts(ports: PublishedPort[]): string {
  return ports.map((p) => `${p.hostIp && p.hostIp !== '0.0.0.0' ? p.hostIp + ':' : ''}${p.hostPort}→${p.containerPort}/${p.protocol}`).join(', ');
}

/** How a process ended: "code 0", "signal 9", with " (OOM-killed)" when the OOM killer did it. */
export function formatExit(code: number | null | undefined, signal: number | null | undefined, oom = false): string {
  const base = signal !== null && signal !== undefined ? `signal ${signal}` : `code ${code ?? '?'}`;
  return oom ? `${base} (OOM-killed)` : base;
}
