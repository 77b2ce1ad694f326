// Health checks with Docker's semantics: the first check runs `interval` after the start and each
// next one `interval` after the previous one ended; a check that takes longer than `timeout`
// fails; status is `starting` until the first success (then `healthy`), and `unhealthy` after
// `retries` consecutive failures — failures during `start_period` do not count while the
// container has never been healthy. Probes: exec (a command inside the container, with its
// restrictions), tcp and http (from the host to an address, or inside the container's network
// namespace through the stage's probe op when the target is the container's own loopback).
import { realClock, type Clock } from '../clock.js';
import { connect } from 'node:net';
import { request as httpGet } from 'node:http';
import { request as httpsGet } from 'node:https';
import type { CanonicalHealthcheck, CanonicalSpec } from '../spec/types.js';
import type { HostFacts, LaunchPlan } from '../plan/types.js';
import { httpRequest } from '../plan/exec.js';
import { execInContainer, probeInContainer } from './exec.js';

export type HealthStatus = 'starting' | 'healthy' | 'unhealthy';

export interface HealthResult {
  healthy: boolean;
  status: HealthStatus;
  /** What the probe said (command output, or a one-line connect/HTTP result), at most 4 KiB. */
  output: string;
  failingStreak: number;
}

export interface HealthContainer {
  name: string;
  /** Host pid of the container's process. */
  pid: number;
  spec: CanonicalSpec;
  plan: LaunchPlan;
  /** The container's address on a niwa network, if it has one (tcp/http checks without a host go there). */
  address?: string;
}

export interface ProbeOutcome { ok: boolean; output: string }
/** One check. It should stop when `signal` aborts (the timeout passed). */
export type Probe = (signal: AbortSignal) => Promise<ProbeOutcome>;

export { realClock, type Clock };

export interface HealthDeps {
  /** Replaces the probe the spec asks for (tests). */
  probe?: Probe;
  clock?: Clock;
  host?: HostFacts;
}

const MAX_OUTPUT = 4096;

/** The state machine alone (pure): feed it each check's outcome and when it started. */
export class HealthState {
  status: HealthStatus = 'starting';
  failingStreak = 0;
  constructor(private readonly hc: Pick<CanonicalHealthcheck, 'retries' | 'startPeriodMs'>) {}

  /** `sinceStartMs`: when the check began, in ms after the container started. */
  record(ok: boolean, output: string, sinceStartMs: number): HealthResult {
    if (ok) {
      this.failingStreak = 0;
      this.status = 'healthy';
    } else if (!(this.status === 'starting' && sinceStartMs < this.hc.startPeriodMs)) {
      // (within the start period a container that was never healthy is given time: no count)
      this.failingStreak++;
      if (this.failingStreak >= (this.hc.retries > 0 ? this.hc.retries : 3)) this.status = 'unhealthy';
    }
    return { healthy: this.status === 'healthy', status: this.status, output: output.slice(0, MAX_OUTPUT), failingStreak: this.failingStreak };
  }
}

/**
 * Runs the container's health check until stopped; `onResult` gets every check's result.
 * Without a healthcheck in the spec (and no probe given) it does nothing.
 */
export function startHealthChecks(container: HealthContainer, onResult: (r: HealthResult) => void, deps: HealthDeps = {}): { stop(): void } {
  const hc = container.spec.lifecycle.healthcheck;
  if (!hc && !deps.probe) return { stop() {} };
  const check: CanonicalHealthcheck = hc ?? { kind: 'exec', intervalMs: 30_000, timeoutMs: 30_000, retries: 3, startPeriodMs: 0 };
  const clock = deps.clock ?? realClock;
  const probe = deps.probe ?? probeFor(container, check, deps.host);
  const state = new HealthState(check);
  const t0 = clock.now();
  let stopped = false;
  let timer: unknown;
  let current: AbortController | undefined;

  const once = async () => {
    if (stopped) return;
    const began = clock.now();
    const ac = new AbortController();
    current = ac;
    let to: unknown;
    const timedOut = new Promise<ProbeOutcome>((resolve) => {
      to = clock.setTimeout(() => {
        // settle first: whatever the aborted probe answers then must not win the race
        resolve({ ok: false, output: `health check exceeded timeout (${check.timeoutMs / 1000}s)` });
        ac.abort();
      }, check.timeoutMs);
    });
    let outcome: ProbeOutcome;
    try {
      outcome = await Promise.race([probe(ac.signal), timedOut]);
    } catch (e) {
      outcome = { ok: false, output: (e as Error).message };
    }
    clock.clearTimeout(to);
    current = undefined;
    if (stopped) return;
    onResult(state.record(outcome.ok, outcome.output, began - t0));
    timer = clock.setTimeout(() => void once(), check.intervalMs);
  };
  timer = clock.setTimeout(() => void once(), check.intervalMs);
  return {
    stop() {
      stopped = true;
      clock.clearTimeout(timer);
      current?.abort();
    },
  };
}

const isLoopback = (h: string) => h === 'localhost' || h === '::1' || h === '[::1]' || /^127\./.test(h);
const hasNetNs = (spec: CanonicalSpec) => spec.namespaces.net !== undefined;

/** The probe a healthcheck asks for. */
export function probeFor(c: HealthContainer, hc: CanonicalHealthcheck, host?: HostFacts): Probe {
  const target = { pid: c.pid, cgroups: c.plan.cgroups };
  switch (hc.kind) {
    case 'exec':
      return async (signal) => {
        const r = await execInContainer(target, { args: hc.command ?? ['/bin/true'] }, { spec: c.spec, host, timeoutMs: hc.timeoutMs, onStage: (h) => signal.addEventListener('abort', () => h.kill('SIGKILL')) });
        return { ok: r.status === 0 && !r.timedOut, output: `${r.stdout ?? ''}${r.stderr ?? ''}` };
      };
    case 'tcp': {
      const port = hc.port ?? 0;
      const where = hc.host ?? c.address;
      if ((where === undefined || isLoopback(where)) && hasNetNs(c.spec)) return inside(c, host, loopbackOf(where), port, null, hc.timeoutMs);
      return (signal) => tcpFromHost(where ?? '127.0.0.1', port, signal);
    }
    case 'http': {
      const url = new URL(hc.url ?? 'http://127.0.0.1/');
      const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
      if (isLoopback(url.hostname) && hasNetNs(c.spec)) {
        if (url.protocol !== 'http:') return async () => ({ ok: false, output: `${url.protocol} checks of the container's own loopback are not supported: use http: or an exec test` });
        return inside(c, host, loopbackOf(url.hostname), port, httpRequest(url), hc.timeoutMs);
      }
      return (signal) => httpFromHost(url, signal);
    }
  }
}

const loopbackOf = (h: string | undefined) => (h === '::1' || h === '[::1]' ? '::1' : h && /^127\./.test(h) ? h : '127.0.0.1');

/** A probe by the native stage inside the container's network namespace (works for any rootfs). */
function inside(c: HealthContainer, host: HostFacts | undefined, address: string, port: number, request: string | null, timeoutMs: number): Probe {
  return async (signal) => {
    const r = await probeInContainer({ pid: c.pid }, { address, port, timeoutMs, request }, { spec: c.spec, host, onStage: (h) => signal.addEventListener('abort', () => h.kill('SIGKILL')) });
    return { ok: r.status === 0, output: (r.stdout ?? '').trim() };
  };
}

function tcpFromHost(host: string, port: number, signal: AbortSignal): Promise<ProbeOutcome> {
  return new Promise((resolve) => {
    const s = connect({ host, port });
    const done = (o: ProbeOutcome) => { s.destroy(); resolve(o); };
    signal.addEventListener('abort', () => done({ ok: false, output: 'aborted' }));
    s.once('connect', () => done({ ok: true, output: `connected to ${host} port ${port}` }));
    s.once('error', (e) => done({ ok: false, output: `connect ${host} port ${port}: ${e.message}` }));
  });
}

function httpFromHost(url: URL, signal: AbortSignal): Promise<ProbeOutcome> {
  return new Promise((resolve) => {
    const get = url.protocol === 'https:' ? httpsGet : httpGet;
    const req = get(url, { method: 'GET', signal, headers: { 'user-agent': 'niwa-healthcheck' } }, (res) => {
      const code = res.statusCode ?? 0;
      res.resume();
      resolve({ ok: code >= 200 && code < 400, output: `HTTP ${code} ${res.statusMessage ?? ''}`.trim() });
    });
    req.on('error', (e) => resolve({ ok: false, output: `GET ${url.href}: ${e.message}` }));
    req.end();
  });
}
