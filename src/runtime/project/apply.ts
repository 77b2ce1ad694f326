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

export interface ApplyOptions {
  /** Also wait until each started service is ready (healthy, or running when it has no healthcheck). */
  wait?: boolean;
  /** Bound on each wait for a condition (default 10 minutes). */
  timeoutMs?: number;
  /** Only the steps before the services (images, volumes, files, networks): `compose create`. */
  prepareOnly?: boolean;
  /** Container names of the project's services that the plan waits for but does not start (service → container). */
  names?: Record<string, string>;
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
  const container = new Map([...Object.entries(o.names ?? {}), ...plan.services.map((e) => [e.service, e.container] as const)]);
  const action = new Map(plan.services.map((e) => [e.service, e.action]));
  const cancelled = () => { if (o.signal?.aborted) throw new RuntimeFailure('E_CANCELLED', `the operation on project '${plan.project}' was cancelled`, { hint: 'niwa compose ps shows what runs' }); };
  const observe = (s: string) => { cancelled(); return host.observe(container.get(s) ?? s); };
  const backend: Backend = {
    observe,
    onChange: (cb) => {
      const off = host.onChange(cb);
      o.signal?.addEventListener('abort', cb);
      return () => { off(); o.signal?.removeEventListener('abort', cb); };
    },
    start: async (s) => { cancelled(); if (action.get(s) !== 'running') await run.startService(s); },
  };
  const outcome = await startServices(backend, {
    order: plan.services.map((e) => e.service),
    deps: Object.fromEntries(plan.services.map((e) => [e.service, e.dependsOn])),
    timeoutMs: o.timeoutMs,
    onMessage: (m) => say(m.level, m.text, container.get(m.service)),
  });
  const err = startError(outcome);
  const name = (s: string) => container.get(s) ?? s;
  if (err) {
    const running = outcome.started.map(name);
    const failed = [...outcome.failed.keys()].map(name);
    throw new ApplyFailure({ started: outcome.started, failed: [...outcome.failed.keys()] }, err.code, err.message, { hint: [err.hint, `running: ${running.join(', ') || 'none'}; failed or not started: ${failed.join(', ')}`].filter(Boolean).join('; '), cause: err.cause, exitCode: err.exitCode });
  }
  if (o.wait) {
    await Promise.all(outcome.started.map((s) => waitUntil(backend, () => readiness(observe(s)), `${s} is not ready`, o.timeoutMs ?? 600_000)));
  }
  return { started: outcome.started, failed: [] };
}
