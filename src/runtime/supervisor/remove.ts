// Owns removing a container nobody supervises (its supervisor was killed, or it ended while
// none ran): kill what is left of it, run its plan's cleanup steps from plan.json, delete its state.
import type { CgroupLayout } from '../../plan/types.js';
import type { CanonicalSpec } from '../../spec/types.js';
import { UserError } from '../../errors.js';
import { realSys } from '../sys/real.js';
import { cleanupPlan } from '../launch/start.js';
import { createCgroupManager } from '../cgroup/manager.js';
import { sameProcessAlive } from '../proc.js';
import { isLive } from '../status.js';
import { cgroupPids, deriveState, readJson, readPlan, readSpec, readState, removeContainerDir } from '../state.js';
import { join } from 'node:path';
import type { RunNet } from './protocol.js';

/** Returns what the cleanup could not undo (empty when everything is gone). */
export async function removeUnsupervised(dir: string, layout: CgroupLayout, force: boolean): Promise<string[]> {
  const st = readState(dir);
  const plan = readPlan(dir);
  if (!plan) { removeContainerDir(dir); return []; }
  if (!st) {
    // never finished (its state.json was not written): nothing ran, but its host steps may have
    const r = await cleanupPlan(plan, { sys: realSys, spec: { ...(readSpec(dir) ?? { name: plan.name }), hooks: [] } as unknown as CanonicalSpec, hooks: false });
    removeContainerDir(dir);
    return r.failed;
  }
  const now = deriveState(st, layout, dir);
  if (isLive(now.status) && !now.createdOnly && !force) {
    throw new UserError('E_RUNNING', `rm: container '${st.name}' is ${now.status}`, [], `stop it first (niwa stop ${st.name}) or use rm -f`);
  }
  const mgr = createCgroupManager(layout, plan.cgroups);
  // The shim, or without it (shim and supervisor killed) whatever still runs in the cgroups.
  if (sameProcessAlive(st.stagePid, st.stageStart) || cgroupPids(plan, layout).length) {
    try { await mgr.thaw(); } catch { /* not frozen, or no freezer */ }
    try { await mgr.kill(); } catch { /* cleanup below retries */ }
    if (sameProcessAlive(st.stagePid, st.stageStart)) try { process.kill(st.stagePid!, 'SIGKILL'); } catch { /* gone */ }
    for (let i = 0; i < 200 && sameProcessAlive(st.stagePid, st.stageStart); i++) await new Promise((r) => setTimeout(r, 10));
  }
  const spec = readSpec(dir) ?? ({ name: st.name, hooks: [] } as unknown as CanonicalSpec);
  // Cleanup steps are idempotent: running them after the supervisor already did is harmless.
  const r = await cleanupPlan(plan, { sys: realSys, spec: { ...spec, hooks: spec.hooks ?? [] }, hooks: !st.cleaned });
  // A compose container leaves the project networks it was attached to.
  const net = readJson<RunNet>(join(dir, 'net.json'));
  const failed = [...r.failed];
  if (net?.networks.length) {
    const { detachNetworks } = await import('./container.js');
    await detachNetworks(net, st.name, (m) => failed.push(m));
  }
  removeContainerDir(dir);
  return failed;
}
