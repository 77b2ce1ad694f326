// Loads a spec for a verb that compiles it: load + validate against what this host offers.
import type { HostFacts } from '../plan/types.js';
import type { CanonicalSpec, ContainerSpec } from '../spec/types.js';
import { loadSpec, loadSpecObject, type LoadOptions } from '../spec/load/index.js';
import { hostCpuFacts } from '../validate/host.js';
import type { PullPolicy } from '../image/types.js';
import { UserError } from '../errors.js';

export interface LoadCheckedOptions {
  /** Overrides rootfs.pull (`--pull`). */
  pull?: PullPolicy;
  /** No pull progress on stderr. */
  quiet?: boolean;
  /** A provisioned spec's build plan, before it is built (`niwa plan` prints it first). */
  onBuildPlan?: (lines: string[]) => void;
  /** Command-line options applied over the spec (niwa run/plan). */
  overrides?: LoadOptions['overrides'];
}

/** Load a spec (a file, or a spec object made on the command line); a rootfs.image is read from the store, pulled on demand with progress on stderr. */
export async function loadChecked(file: string | { inline: ContainerSpec }, host: HostFacts, opts: LoadCheckedOptions = {}): Promise<CanonicalSpec> {
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
  // rootfs.provision: built (and cached) like a Dockerfile by src/build, progress on stderr
  const provision: LoadOptions['provision'] = async (req) => {
    const [{ provisionResolver }, { plainBuildReporter }] = await Promise.all([import('../build/provision.js'), import('./build.js')]);
    return provisionResolver({ host, onEvent: opts.quiet ? undefined : plainBuildReporter(), onPlan: opts.onBuildPlan })(req);
  };
  const lo: LoadOptions = { hostCgroupControllers: controllers, ...hostCpuFacts(), image, provision, ...(opts.overrides && Object.keys(opts.overrides).length ? { overrides: opts.overrides } : {}) };
  return typeof file === 'string' ? loadSpec(file, lo) : loadSpecObject(file.inline, '<inline>', lo);
}

/** `--pull missing|always|never` (absent: the spec's own policy). */
export function pullFlag(v: unknown): PullPolicy | undefined {
  if (v === undefined || v === '' || v === true) return undefined;
  const s = String(v);
  if (s === 'missing' || s === 'always' || s === 'never') return s;
  throw new UserError('E_USAGE', `--pull: '${s}' is not a pull policy`, [], 'use --pull missing, --pull always or --pull never');
}
