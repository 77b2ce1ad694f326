// `niwa run -d`: hand a compiled plan to the project's supervisor (started on demand), print the
// container id once it runs. Everything before this (load, validate, compile) is the foreground path's.
import type { CanonicalSpec } from '../spec/types.js';
import type { HostFacts, LaunchPlan } from '../plan/types.js';
import { randomBytes } from 'node:crypto';
import { checkName } from '../spec/names.js';
import { check, request } from '../runtime/supervisor/client.js';

export async function runDetached(plan: LaunchPlan, spec: CanonicalSpec, host: HostFacts): Promise<number> {
  checkName(plan.name, 'container name', 'run');
  checkName(plan.project, 'project name', 'run');
  for (const w of plan.warnings) process.stderr.write(`niwa: warning: ${w}\n`);
  // The token makes a retry of this request (its supervisor killed before answering) safe: the
  // supervisor recognises the record this request made instead of calling it a name conflict.
  const token = randomBytes(12).toString('hex');
  // published ports: the supervisor listens before the container exists, and for as long as it lives
  const net = (await import('../runtime/net/container.js')).runNetOf(plan, host.stateRoot);
  const r = check(await request({ root: host.stateRoot, project: plan.project }, { op: 'run', plan, spec, token, ...(net ? { net } : {}) }));
  process.stdout.write(`${String(r.id)}\n`);
  return 0;
}
