// Owns one operation on a compose project as the project's supervisor carries it out: the plan's
// steps before any service (ProjectRun.prepare), then every service once its dependencies meet their
// conditions (orchestrate.ts), each by its own steps, a failed start rolled back by the plan's
// teardown of what it touched, and — with `wait` — until each is ready. Every step, message and
// status goes out as an event; the caller (the supervisor) streams them to whoever asked. The
// plan's teardown steps are kept in the project's state directory (teardown-store.ts) before any
// step runs, so `down` and a container's removal undo exactly what the plans made.
import { NiwaError, RuntimeFailure } from '../../errors.js';
import type { RuntimeEvent } from '../../events/types.js';
import type { ProjectPlan } from '../../plan/project/types.js';
import { ProjectRun, type ProjectHost } from './exec.js';
import { readiness, startError, startServices, waitUntil, type Backend, type Observed } from './orchestrate.js';
import { storeTeardown } from './teardown-store.js';
import { isLive, type Status } from '../status.js';

export interface ApplyOptions {
  /** Also wait until each started service is ready (healthy, or running when it has no healthcheck). */
  wait?: boolean;
  /** Bound on each wait for a condition (default 10 minutes). */
  timeoutMs?: number;
  /** Only the steps before the services (images, volumes, files, networks): `compose create`. */
  prepareOnly?: boolean;
  /** Container names of the project's services that the plan waits for but does not start (service → its containers, every replica). */
  names?: Record<string, string[]>;
  /** Cancels the operation (Ctrl-C of its client): nothing more starts, and its waits end. */
  signal?: AbortSignal;
}

/** What the engine needs beyond ProjectHost: the containers as the supervisor sees them. */
export interface ApplyHost extends ProjectHost {
  emit: (e: RuntimeEvent) => void;
  /** The container as it is now (undefined when there is none). */
  observe(container: string): Observed | undefined;
  /** `cb` runs whenever a container may have changed; returns the unsubscribe. */
  onChange(cb: () => void): () => void;
}

export interface ApplyResult { started: string[]; failed: string[] }

/** A start that failed part-way: `result` says which services run and which failed. */
export class ApplyFailure extends NiwaError {
  constructor(readonly result: ApplyResult, ...args: ConstructorParameters<typeof NiwaError>) { super(...args); }
}

/** Runs `plan`; resolves with the services started, throws a NiwaError naming what runs and what failed. */
export async function applyPlan(plan: ProjectPlan, host: ApplyHost, o: ApplyOptions = {}): Promise<ApplyResult> {
  const say = (level: 'info' | 'ok' | 'warn' | 'error', text: string, container?: string) =>
    host.emit({ type: 'message', level, text, project: plan.project, ...(container ? { container } : {}), at: Date.now() });
  for (const w of plan.warnings) say('warn', w);
  storeTeardown(plan.stateRoot, plan.project, plan.teardown);
  const run = new ProjectRun(plan, host);
  try { await run.prepare(); } catch (e) { await run.rollback(); throw e; }
  for (const s of plan.steps) if (s.stage === 'networks' && s.op === 'lease' && !s.container) say('ok', `network ${s.network} created (${s.bridge}, ${s.subnet})`);
  if (o.prepareOnly) return { started: [], failed: [] };
  for (const e of plan.services) if (e.action === 'running') say('info', 'already running', e.container);
  // a service is its replicas: observed together (the least ready of them), started by its own steps
  // (those that run already have none, unless scaled down: then its removals are its steps)
  const container = new Map<string, string[]>(Object.entries(o.names ?? {}));
  for (const e of plan.services) container.set(e.service, []);
  for (const e of plan.services) container.get(e.service)!.push(e.container);
  const hasSteps = new Set(plan.steps.filter((s) => s.stage === 'service' && s.service).map((s) => s.service!));
  const cancelled = () => { if (o.signal?.aborted) throw new RuntimeFailure('E_CANCELLED', `the operation on project '${plan.project}' was cancelled`, { hint: 'niwa compose ps shows what runs' }); };
  const observe = (s: string) => { cancelled(); return leastReady((container.get(s) ?? [s]).map((c) => host.observe(c))); };
  const backend: Backend = {
    observe,
    onChange: (cb) => {
      const off = host.onChange(cb);
      o.signal?.addEventListener('abort', cb);
      return () => { off(); o.signal?.removeEventListener('abort', cb); };
    },
    start: async (s) => { cancelled(); if (hasSteps.has(s)) await run.startService(s); },
  };
  const outcome = await startServices(backend, {
    order: [...new Set(plan.services.map((e) => e.service))],
    deps: Object.fromEntries(plan.services.map((e) => [e.service, e.dependsOn])),
    timeoutMs: o.timeoutMs,
    onMessage: (m) => say(m.level, m.text, container.get(m.service)?.[0]),
  });
  const err = startError(outcome);
  if (err) {
    const running = outcome.started.flatMap((s) => container.get(s) ?? [s]);
    const failed = [...outcome.failed.keys()].flatMap((s) => container.get(s) ?? [s]);
    throw new ApplyFailure({ started: outcome.started, failed: [...outcome.failed.keys()] }, err.code, err.message, { hint: [err.hint, `running: ${running.join(', ') || 'none'}; failed or not started: ${failed.join(', ')}`].filter(Boolean).join('; '), cause: err.cause, exitCode: err.exitCode });
  }
  if (o.wait) {
    await Promise.all(outcome.started.map((s) => waitUntil(backend, () => readiness(observe(s)), `${s} is not ready`, o.timeoutMs ?? 600_000)));
  }
  return { started: outcome.started, failed: [] };
}

/** Several containers of one service as one: the least ready of them (one missing: undefined). */
export function leastReady(seen: (Observed | undefined)[]): Observed | undefined {
  if (!seen.length || seen.some((s) => !s)) return undefined;
  const rank = (s: Observed) => (isLive(s.status as Status)
    ? (s.health === 'unhealthy' ? 0 : s.status === 'created' || s.health === 'starting' ? 1 : 2)
    : (s.status === 'exited' && s.exitCode === 0 ? 3 : 0));
  return (seen as Observed[]).reduce((p, q) => (rank(q) < rank(p) ? q : p));
}
