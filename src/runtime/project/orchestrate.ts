// Owns the order in which a compose project starts: each service starts as soon as every service it
// depends on meets its condition (service_started: its start succeeded; service_healthy: its health
// is healthy; service_completed_successfully: it exited with code 0), so services start in parallel
// wherever the graph allows and never before their dependencies. A failed dependency fails its
// dependents (unless the dependency is `required: false`) and nothing new starts after a failure.
// It talks to the world through a small Backend (the supervisor's apply.ts, a fake in the unit tests).
import { NiwaError, RuntimeFailure } from '../../errors.js';
import { isLive, type Status } from '../status.js';
import type { ServiceEntry } from '../../plan/project/types.js';

export type DependsOnCondition = ServiceEntry['dependsOn'][number]['condition'];

/** What the orchestrator needs to know about a service's container (a subset of ContainerState). */
export interface Observed {
  /** runtime/status.ts: created, running, paused, stopping, restarting, exited, stopped, oom-killed. */
  status: string;
  /** none, starting, healthy, unhealthy. */
  health: string;
  exitCode?: number | null;
  signal?: number | null;
  error?: string;
}

export interface Backend {
  /** The container of a service as it is now (undefined when it has none). */
  observe(service: string): Observed | undefined;
  /** `cb` runs whenever something may have changed; returns the unsubscribe. */
  onChange(cb: () => void): () => void;
  /** Start the service's container; resolves once it runs (rejects when it could not start). */
  start(service: string): Promise<void>;
}

export interface Dependency { service: string; condition: DependsOnCondition; required: boolean }

export interface StartRequest {
  /** Services to start, in a topological order (dependencies first). */
  order: string[];
  /** Each service's dependencies; dependencies outside `order` are waited for but not started. */
  deps: Record<string, Dependency[]>;
  /** Bound on each wait for a condition (default 10 minutes). */
  timeoutMs?: number;
  /** Told what is happening (waiting for a dependency, a dependency that is not required failed). */
  onMessage?: (m: { service: string; level: 'info' | 'warn'; text: string }) => void;
}

/** Where a container stands against a condition. */
export type Verdict = { met: true } | { met: false; failed?: string };

// runtime/status.ts's live statuses (created, running, paused, stopping, restarting): one definition.
const LIVE = { has: (s: string) => isLive(s as Status) };

/** How an ended container ended, for messages: "exit code 1", "signal 9", "OOM kill". */
export function describeEnd(o: Observed): string {
  if (o.status === 'oom-killed') return 'it was OOM-killed';
  if (o.signal !== undefined && o.signal !== null) return `it was killed by signal ${o.signal}`;
  if (o.exitCode !== undefined && o.exitCode !== null) return `it exited with code ${o.exitCode}`;
  if (o.error) return `it failed to start: ${o.error}`;
  return o.status === 'stopped' ? 'it was stopped' : 'it exited (code unknown)';
}

/**
 * Pure: does `o` (the dependency's container) meet `cond`? `started` says whether its start
 * succeeded (in this run, or it was already running).
 */
export function verdict(cond: DependsOnCondition, o: Observed | undefined, started: boolean): Verdict {
  switch (cond) {
    case 'service_started':
      return started || (o !== undefined && o.status !== 'created') ? { met: true } : { met: false };
    case 'service_healthy':
      if (!o) return { met: false };
      if (o.health === 'healthy' && LIVE.has(o.status)) return { met: true };
      if (o.health === 'unhealthy') return { met: false, failed: 'it is unhealthy' };
      if (!LIVE.has(o.status)) return { met: false, failed: `${describeEnd(o)} before it became healthy` };
      if (o.health === 'none') return { met: false, failed: 'it has no healthcheck' };
      return { met: false };
    case 'service_completed_successfully':
      if (!o) return { met: false };
      if (LIVE.has(o.status)) return { met: false };
      if (o.status === 'exited' && o.exitCode === 0) return { met: true };
      return { met: false, failed: `it did not complete successfully: ${describeEnd(o)}` };
    default:
      return { met: false, failed: `unknown condition ${String(cond)}` };
  }
}

/** Pure: is a service ready for `up --wait`? Healthy when it has a health check, else running; exit 0 counts as done. */
export function readiness(o: Observed | undefined): Verdict {
  if (!o) return { met: false };
  if (o.health === 'healthy' && LIVE.has(o.status)) return { met: true };
  if (o.health === 'unhealthy') return { met: false, failed: 'it is unhealthy' };
  if (o.status === 'exited' && o.exitCode === 0) return { met: true };
  if (!LIVE.has(o.status)) return { met: false, failed: describeEnd(o) };
  if (o.health === 'none' && (o.status === 'running' || o.status === 'paused')) return { met: true };
  return { met: false };
}

/** Waits until `check` says met (or failed), re-checking whenever the backend reports a change. */
export function waitUntil(backend: Backend, check: () => Verdict, what: string, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let done = false;
    let off = () => {};
    const finish = (err?: Error) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      off();
      if (err) reject(err); else resolve();
    };
    const test = () => {
      if (done) return;
      let v: Verdict;
      try { v = check(); } catch (e) { finish(e as Error); return; }
      if (v.met) finish();
      else if (v.failed) finish(new RuntimeFailure('E_DEPENDENCY', `${what}: ${v.failed}`));
    };
    const timer = setTimeout(() => finish(new RuntimeFailure('E_DEPENDENCY_TIMEOUT', `${what}: still waiting after ${Math.round(timeoutMs / 1000)} s`)), timeoutMs);
    off = backend.onChange(test);
    test();
  });
}

/** Raised for services that were not started because something else failed first. */
export class NotStarted extends Error {
  constructor(readonly service: string, readonly because: string) { super(`${service} was not started: ${because}`); }
}

export interface StartOutcome {
  started: string[];
  /** Errors by service (their own start failed, or a required dependency did). */
  failed: Map<string, Error>;
}

/**
 * Starts every service of `req.order` once its dependencies meet their conditions. Resolves with
 * what started and what failed; never starts a service after one has failed.
 */
export async function startServices(backend: Backend, req: StartRequest): Promise<StartOutcome> {
  const timeoutMs = req.timeoutMs ?? 600_000;
  const starts = new Map<string, Promise<void>>();
  const started = new Set<string>();
  const failed = new Map<string, Error>();
  let firstFailure: string | undefined;

  const waitFor = async (service: string, d: Dependency): Promise<void> => {
    const own = starts.get(d.service);
    if (own) await own.catch((e: Error) => { throw e instanceof NotStarted ? e : new NotStarted(service, `${d.service} failed: ${e.message}`); });
    const what = `${service} depends on ${d.service} (${d.condition})`;
    if (d.condition !== 'service_started' || !own) {
      const v = verdict(d.condition, backend.observe(d.service), started.has(d.service));
      if (!v.met && !v.failed) req.onMessage?.({ service, level: 'info', text: `waiting for ${d.service} (${d.condition.replace('service_', '').replace(/_/g, ' ')})` });
    }
    await waitUntil(backend, () => verdict(d.condition, backend.observe(d.service), started.has(d.service)), what, timeoutMs);
  };

  const startOne = async (service: string): Promise<void> => {
    const deps = req.deps[service] ?? [];
    const results = await Promise.allSettled(deps.map((d) => waitFor(service, d)));
    results.forEach((r, i) => {
      if (r.status === 'fulfilled') return;
      const d = deps[i];
      if (!d.required) {
        req.onMessage?.({ service, level: 'warn', text: `${d.service} is not required: starting anyway (${(r.reason as Error).message})` });
        return;
      }
      throw r.reason;
    });
    if (firstFailure !== undefined) throw new NotStarted(service, `${firstFailure} failed`);
    await backend.start(service);
    started.add(service);
  };

  // A service that others need only as `required: false` may fail without stopping the rest.
  const optional = new Set(req.order.filter((s) => {
    const uses = Object.values(req.deps).flat().filter((d) => d.service === s);
    return uses.length > 0 && uses.every((d) => !d.required);
  }));
  for (const s of req.order) {
    const p = startOne(s);
    p.catch((e: Error) => {
      failed.set(s, e);
      if (!(e instanceof NotStarted) && !optional.has(s)) firstFailure ??= s;
    });
    starts.set(s, p);
  }
  await Promise.allSettled([...starts.values()]);
  return { started: req.order.filter((s) => started.has(s)), failed };
}

/** One error for a failed start: the first real failure, with what was not started because of it. */
export function startError(outcome: StartOutcome): NiwaError | undefined {
  if (!outcome.failed.size) return undefined;
  const real = [...outcome.failed.entries()].filter(([, e]) => !(e instanceof NotStarted));
  const skipped = [...outcome.failed.keys()].filter((s) => outcome.failed.get(s) instanceof NotStarted);
  const [service, err] = real[0] ?? [...outcome.failed.entries()][0];
  const code = err instanceof NiwaError ? err.code : 'E_COMPOSE_UP';
  const message = err.message.startsWith(service) ? err.message : `${service}: ${err.message}`;
  const hints = [err instanceof NiwaError ? err.hint : undefined, skipped.length ? `not started because of it: ${skipped.join(', ')}` : undefined].filter(Boolean);
  return new NiwaError(code, message, { hint: hints.join('; ') || undefined, cause: err, exitCode: err instanceof NiwaError ? err.exitCode : 1 });
}
