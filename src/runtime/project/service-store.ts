// Owns what `compose start`/`restart -p NAME` need when there is no compose file: each service's
// own steps as the last plan that started it had them (its network steps, files, published ports
// and launches — stage `service`), the teardown steps of the units they make, and its entries
// (containers, replicas, depends_on), kept in `<stateRoot>/<project>/_services.json`. The project's
// supervisor writes it when it applies a plan; `down` drops it. startPlan turns it back into a
// ProjectPlan that the supervisor carries out like any other (apply.ts).
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { UserError } from '../../errors.js';
import type { ProjectPlan, ProjectStep, ServiceEntry } from '../../plan/project/types.js';
import type { LaunchPlan } from '../../plan/types.js';
import type { CanonicalSpec } from '../../spec/types.js';
import { projectDir } from '../state.js';

export interface StoredService {
  entries: ServiceEntry[];
  /** Its stage-`service` steps, without removals (what makes its containers from nothing). */
  steps: ProjectStep[];
  /** The plan's teardown steps of the units those steps make. */
  teardown: ProjectStep[];
}

export const servicesPath = (stateRoot: string, project: string) => join(projectDir(stateRoot, project), '_services.json');

export function readServices(stateRoot: string, project: string): Record<string, StoredService> {
  try { return JSON.parse(readFileSync(servicesPath(stateRoot, project), 'utf8')) as Record<string, StoredService>; } catch { return {}; }
}

const ONE_OFF = /-run-[0-9a-f]{6}$/;

/** Pure: `stored` with the services that `plan` (re)makes replaced by their steps in it (one-off `compose run` containers are not kept). */
export function mergeServices(stored: Record<string, StoredService>, plan: ProjectPlan): Record<string, StoredService> {
  const out = { ...stored };
  for (const service of new Set(plan.services.map((e) => e.service))) {
    const entries = plan.services.filter((e) => e.service === service && !ONE_OFF.test(e.container));
    const steps = plan.steps.filter((s) => s.stage === 'service' && s.service === service && s.op !== 'remove');
    if (!entries.length || !steps.some((s) => s.op === 'launch')) continue;
    const units = new Set(steps.map((s) => s.unit));
    // a launch compiled by the engine (its image made by the plan) is read back from the container's record at start
    const kept = steps.map((s) => (s.op === 'launch' && s.deferred ? { ...s, deferred: undefined } : s));
    out[service] = { entries, steps: kept, teardown: plan.teardown.filter((s) => units.has(s.unit)) };
  }
  return out;
}

export function storeServices(plan: ProjectPlan): void {
  const next = mergeServices(readServices(plan.stateRoot, plan.project), plan);
  const p = servicesPath(plan.stateRoot, plan.project);
  mkdirSync(dirname(p), { recursive: true, mode: 0o700 });
  writeFileSync(`${p}.tmp`, JSON.stringify(next) + '\n', { mode: 0o600 });
  renameSync(`${p}.tmp`, p);
}

export function dropServices(stateRoot: string, project: string): void {
  rmSync(servicesPath(stateRoot, project), { force: true });
}

/** A container of the project as it is now, with its recorded launch plan and spec. */
export interface RecordedLaunch { live: boolean; plan?: LaunchPlan; spec?: CanonicalSpec }

/** Services in an order where each comes after those it depends on (a cycle keeps the given order). */
function startOrder(stored: Record<string, StoredService>, wanted: string[]): string[] {
  const out: string[] = [];
  const visit = (s: string, path: Set<string>) => {
    if (out.includes(s) || path.has(s) || !wanted.includes(s)) return;
    path.add(s);
    for (const d of stored[s]?.entries[0]?.dependsOn ?? []) visit(d.service, path);
    out.push(s);
  };
  for (const s of wanted) visit(s, new Set());
  return out;
}

/**
 * Pure: the plan that starts `wanted` services' ended containers again from the stored steps
 * (`records`: the project's containers by name). An ended container is removed first, then made by
 * its service's steps with its recorded launch plan; a running one is left alone; one that no
 * longer exists (removed) is not made. Throws a UserError naming what is missing.
 */
export function startPlan(stateRoot: string, project: string, stored: Record<string, StoredService>, wanted: string[], records: Map<string, RecordedLaunch>): ProjectPlan {
  const missing = wanted.filter((s) => !stored[s]);
  if (missing.length) {
    throw new UserError('E_NO_STORED_PLAN', `project '${project}' has no stored steps for ${missing.join(', ')}`, [], 'they were made by an older niwa or a one-off run: start them from the compose file (niwa compose up)');
  }
  const order = startOrder(stored, wanted);
  const services: ServiceEntry[] = [];
  const steps: ProjectStep[] = [];
  const teardown: ProjectStep[] = [];
  const shared = new Set<ProjectStep>();
  for (const s of order) {
    const st = stored[s];
    for (const e of st.entries) {
      const r = records.get(e.container);
      if (!r) continue;
      if (r.live) { services.push({ ...e, action: 'running' }); continue; }
      services.push({ ...e, action: 'replace' });
      const unit = `container:${e.container}`;
      steps.push({ op: 'remove', container: e.container, stop: false, stage: 'service', service: s, unit, field: `services.${s}`, why: 'an ended container of the service: removed before it is made again from its stored steps', index: 0 });
      for (const x of st.steps) {
        const other = x.unit.startsWith('container:') ? x.unit !== unit : shared.has(x);
        if (!x.unit.startsWith('container:')) shared.add(x); // (a shared file: written once)
        if (other || (x.op === 'launch' && x.container !== e.container) || (x.op === 'publish' && x.container !== e.container)) continue;
        if (x.op === 'launch') {
          if (!r.plan || !r.spec) throw new UserError('E_NO_STORED_PLAN', `${e.container} has no recorded launch plan to start it from`, [], 'start it from the compose file (niwa compose up)');
          steps.push({ ...x, plan: r.plan, spec: r.spec, deferred: undefined });
        } else steps.push(x);
      }
      for (const x of st.teardown) if (x.unit === unit || !x.unit.startsWith('container:')) if (!teardown.includes(x)) teardown.push(x);
    }
  }
  const uniqueTeardown = teardown.filter((x, i) => teardown.findIndex((y) => JSON.stringify(y) === JSON.stringify(x)) === i);
  return {
    version: 1, project, stateRoot, services,
    levels: order.map((s) => [s]),
    steps: steps.map((x, index) => ({ ...x, index })),
    teardown: uniqueTeardown.map((x, index) => ({ ...x, index: steps.length + index })),
    warnings: [],
  };
}
