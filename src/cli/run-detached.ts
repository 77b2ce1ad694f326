// `niwa run -d`: hand a compiled plan to the project's supervisor (started on demand), print the
// container id once it runs. Everything before this (load, validate, compile) is the foreground path's.
import type { CanonicalSpec } from '../spec/types.js';
import type { HostFacts, LaunchPlan } from '../plan/types.js';
import { UserError } from '../errors.js';
import { NAME_RE } from '../runtime/state.js';
import { check, request } from '../runtime/supervisor/client.js';

export async function runDetached(plan: LaunchPlan, spec: CanonicalSpec, host: HostFacts): Promise<number> {
  if (!NAME_RE.test(plan.name)) throw new UserError('E_USAGE', `run: invalid container name '${plan.name}'`, [], 'letters, digits, _ . - (starting with a letter or digit), at most 63');
  if (!NAME_RE.test(plan.project)) throw new UserError('E_USAGE', `run: invalid project name '${plan.project}'`);
  for (const w of plan.warnings) process.stderr.write(`niwa: warning: ${w}\n`);
  const r = check(await request({ root: host.stateRoot, project: plan.project }, { op: 'run', plan, spec }));
  process.stdout.write(`${String(r.id)}\n`);
  return 0;
}
