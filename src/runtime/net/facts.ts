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
