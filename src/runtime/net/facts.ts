// Reads what compiling a single container's bridge network needs (the only impure part of planning
// it): the lease database, the host's routes and its network interfaces. Nothing is read for a spec
// without a bridge network.
import { readdirSync } from 'node:fs';
import type { CanonicalSpec } from '../../spec/types.js';
import type { ContainerNetFacts } from '../../plan/steps/net.js';
import { leasesPath } from './names.js';
import { loadLeases, readHostRoutes } from './ipam.js';

export function readContainerNetFacts(stateRoot: string): ContainerNetFacts {
  let links: string[] = [];
  try { links = readdirSync('/sys/class/net'); } catch { /* no sysfs */ }
  return { leases: loadLeases(leasesPath(stateRoot)), routes: readHostRoutes(), links };
}

/** `compile`'s `net` context for this spec: read only when it has a bridge network. */
export function netFactsFor(spec: CanonicalSpec, stateRoot: string): { net?: ContainerNetFacts } {
  return spec.network ? { net: readContainerNetFacts(stateRoot) } : {};
}

/**
 * Runs `attempt` (compile, then start) again, up to `tries` times, while it fails with E_PLAN_STALE: a
 * network plan whose address another niwa took between its compile and its lease step (nothing was
 * made: the lease step refuses before anything of the container exists). Each attempt compiles anew.
 */
export async function whileStale<T>(attempt: () => Promise<T>, tries = 5): Promise<T> {
  for (let n = 1; ; n++) {
    try { return await attempt(); } catch (e) {
      if ((e as { code?: string }).code !== 'E_PLAN_STALE' || n >= tries) throw e;
      await new Promise((r) => setTimeout(r, 20 + Math.random() * 80 * n));
    }
  }
}
