// Loads a spec for a verb that compiles it: load + validate against what this host offers.
import type { HostFacts } from '../plan/types.js';
import type { CanonicalSpec } from '../spec/types.js';
import { loadSpec, type LoadOptions } from '../spec/load/index.js';
import { hostCpuFacts } from '../validate/host.js';
import type { PullPolicy } from '../image/types.js';
import { UserError } from '../errors.js';

export interface LoadCheckedOptions {
  /** Overrides rootfs.pull (`--pull`). */
  pull?: PullPolicy;
  /** No pull progress on stderr. */
  quiet?: boolean;
}

/** Load a spec; a rootfs.image is read from the store, pulled on demand with progress on stderr. */
export async function loadChecked(file: string, host: HostFacts, opts: LoadCheckedOptions = {}): Promise<CanonicalSpec> {
  const controllers = [...host.cgroup.v2Controllers, ...Object.keys(host.cgroup.v1)];
  const image: LoadOptions['image'] = async (ref, pull) => {
    const { imageResolver } = await import('../image/resolve.js');
    const progress = opts.quiet ? undefined : (await import('./pull-progress.js')).stderrPullReporter();
    try {
      return await imageResolver({ root: host.dataRoot, policy: opts.pull, onEvent: progress?.onEvent })(ref, pull);
    } finally {
      progress?.finish();
    }
  };
  return loadSpec(file, { hostCgroupControllers: controllers, ...hostCpuFacts(), image });
}

/** `--pull missing|always|never` (absent: the spec's own policy). */
export function pullFlag(v: unknown): PullPolicy | undefined {
  if (v === undefined || v === '' || v === true) return undefined;
  const s = String(v);
  if (s === 'missing' || s === 'always' || s === 'never') return s;
  throw new UserError('E_USAGE', `--pull: '${s}' is not a pull policy`, [], 'use --pull missing, --pull always or --pull never');
}
