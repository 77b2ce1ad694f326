// Phase 4 part: lifecycle fields (restart policy, stop signal and grace period, health check)
// → CanonicalLifecycle with durations in milliseconds and defaults applied.
import type { CanonicalHealthcheck, CanonicalLifecycle, ContainerSpec, Duration } from '../types.js';
import { DEFAULT_STOP_SIGNAL, DEFAULT_STOP_TIMEOUT_MS, DEFAULT_HEALTH } from '../defaults.js';
import { detail, type LoadContext } from './context.js';

const DURATION_PART = /([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)/g;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Milliseconds from seconds (number) or "1m30s"-style strings; undefined when malformed. */
export function parseDuration(v: Duration): number | undefined {
  if (typeof v === 'number') return v >= 0 ? Math.round(v * 1000) : undefined;
  const t = v.trim();
  if (!/^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$/.test(t)) return undefined;
  let ms = 0;
  for (const m of t.matchAll(DURATION_PART)) ms += Number(m[1]) * UNIT_MS[m[2]];
  return Math.round(ms);
}

export function canonLifecycle(spec: ContainerSpec, ctx: LoadContext): CanonicalLifecycle {
  const dur = (field: string, v: Duration | undefined, d: number): number => {
    if (v === undefined) return d;
    const ms = parseDuration(v);
    if (ms === undefined) { ctx.errors.push(detail(ctx, field, `'${v}' is not a duration`, 'write seconds (10) or a string like "500ms", "5s", "1m30s"')); return d; }
    return ms;
  };
  const r = spec.restart ?? 'no';
  const [policy, max] = r.split(':') as [CanonicalLifecycle['restart']['policy'], string | undefined];
  const sig = (spec.stop_signal ?? DEFAULT_STOP_SIGNAL).toUpperCase();
  const out: CanonicalLifecycle = {
    restart: max !== undefined ? { policy, maxRetries: Number(max) } : { policy },
    stopSignal: sig.startsWith('SIG') ? sig : 'SIG' + sig,
    stopTimeoutMs: dur('stop_grace_period', spec.stop_grace_period, DEFAULT_STOP_TIMEOUT_MS),
  };
  const h = spec.healthcheck;
  if (h) {
    const base = {
      intervalMs: dur('healthcheck.interval', h.interval, DEFAULT_HEALTH.intervalMs),
      timeoutMs: dur('healthcheck.timeout', h.timeout, DEFAULT_HEALTH.timeoutMs),
      retries: h.retries ?? DEFAULT_HEALTH.retries,
      startPeriodMs: dur('healthcheck.start_period', h.start_period, DEFAULT_HEALTH.startPeriodMs),
    };
    let hc: CanonicalHealthcheck;
    if (h.test !== undefined) hc = { kind: 'exec', command: typeof h.test === 'string' ? ['/bin/sh', '-c', h.test] : [...h.test], ...base };
    else if (h.tcp !== undefined) {
      const [host, port] = typeof h.tcp === 'number' ? [undefined, h.tcp] : [h.tcp.slice(0, h.tcp.lastIndexOf(':')), Number(h.tcp.slice(h.tcp.lastIndexOf(':') + 1))];
      hc = { kind: 'tcp', port, ...(host ? { host } : {}), ...base };
    } else hc = { kind: 'http', url: h.http!, ...base };
    out.healthcheck = hc;
  }
  return out;
}
