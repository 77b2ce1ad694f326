// Restarting one container by hand (`niwa restart`, `r` in the live stats view): stop it, remove
// it, and run it again from its stored canonical spec with a freshly compiled plan (a new id, so
// a new cgroup), under the same name and project. Function hooks of a .container.ts spec are
// reloaded by the supervisor from the spec file, as for any run.
import { randomBytes } from 'node:crypto';
import { UserError } from '../../errors.js';
import { compile } from '../../plan/compile.js';
import { probeHost } from '../../validate/host.js';
import { containerDir, readSpec, readState } from '../state.js';
import { check, request, type Target } from './client.js';
import { netFactsFor } from '../net/facts.js';
import { runNetOf } from '../net/container.js';

export async function restartContainer(t: Target, name: string, timeoutMs?: number): Promise<{ id: string; pid: number }> {
  const dir = containerDir(t.root, t.project, name);
  const spec = readSpec(dir);
  if (!readState(dir) || !spec) throw new UserError('E_NO_CONTAINER', `restart: no container named '${name}' in project '${t.project}'`, [], 'see niwa ps');
  const host = probeHost({ stateRoot: t.root });
  // Compile first: a spec the host can no longer run fails before the old container is touched.
  const plan = compile(spec, host, { id: `${name}-${randomBytes(4).toString('hex')}`, project: t.project, ...netFactsFor(spec, t.root) });
  await request(t, { op: 'stop', name, timeoutMs }, undefined, (timeoutMs ?? 600_000) + 60_000).catch(() => undefined);
  check(await request(t, { op: 'rm', name, force: true }));
  const net = runNetOf(plan, t.root);
  const r = check(await request(t, { op: 'run', plan, spec, ...(net ? { net } : {}) }));
  return { id: String(r.id), pid: Number(r.pid) };
}
