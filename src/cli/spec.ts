// Loads a spec for a verb that compiles it: load + validate against what this host offers.
import type { HostFacts } from '../plan/types.js';
import type { CanonicalSpec } from '../spec/types.js';
import { loadSpec } from '../spec/load/index.js';
import { hostCpuFacts } from '../validate/host.js';

export async function loadChecked(file: string, host: HostFacts): Promise<CanonicalSpec> {
  const controllers = [...host.cgroup.v2Controllers, ...Object.keys(host.cgroup.v1)];
  return loadSpec(file, { hostCgroupControllers: controllers, ...hostCpuFacts() });
}
