// The compiler: CanonicalSpec + HostFacts → LaunchPlan. Pure: reads nothing, writes nothing.
// The order of the phases and of the steps inside them is the order they run in.
import type { CanonicalSpec, HookPoint } from '../spec/types.js';
import type { HostFacts, LaunchPlan, Phase, Step, StepDraft } from './types.js';
import { namespaceSteps } from './steps/namespaces.js';
import { pathSteps, rootfsSteps } from './steps/rootfs.js';
import { identitySteps, kernelSettingSteps, processSteps } from './steps/process.js';
import { cgroupSteps } from './steps/cgroup.js';

export interface CompileContext {
  /** Unique id of this container instance (names its cgroup). */
  id: string;
  project: string;
  /** pid of a running container by name, for `namespaces.X.container` joins. */
  resolveContainer?: (name: string) => number | undefined;
}

/** Hook points that TypeScript runs on the host, and in which phase. */
const HOOK_PHASE: Partial<Record<HookPoint, 'prepare' | 'cleanup'>> = {
  before_fork: 'prepare',
  create_runtime: 'prepare',
  prestart: 'prepare',
  teardown: 'cleanup',
  poststop: 'cleanup',
};

export function compile(spec: CanonicalSpec, host: HostFacts, ctx: CompileContext): LaunchPlan {
  const warnings: string[] = [];
  const rootDir = `${host.stateRoot}/rootfs-mnt`;
  const phases: Record<Phase, StepDraft[]> = { prepare: [], stage: [], clone: [], parent: [], child: [], cleanup: [] };

  // prepare: hooks, then the cgroup (it must exist before the process is placed in it).
  phases.prepare.push(...hookSteps(spec, 'prepare'));
  if (spec.rootfs.kind === 'default' && spec.namespaces.mount) {
    phases.prepare.push({ op: 'mkdir', path: rootDir, mode: 0o755, parents: true, field: 'rootfs', man: 'mkdir(2)', why: 'an empty directory the default root is mounted on inside the container\'s own mount namespace (the host never sees that mount)' });
  }
  const cg = cgroupSteps(spec, host.cgroup, `niwa/${ctx.project}/${ctx.id}`);
  phases.prepare.push(...cg.prepare);
  warnings.push(...cg.warnings);

  const ns = namespaceSteps(spec, ctx.resolveContainer ?? (() => undefined));
  phases.stage.push(...ns.stage);
  phases.clone.push(ns.clone);
  // parent: maps first (the child needs them to have any capability in its namespace), then
  // cgroup placement, then release: the child runs no user code before it is limited.
  phases.parent.push(...ns.parent, ...cg.parent, { op: 'release_child', field: '', man: 'pipe(2)', why: 'maps and cgroups are in place: let the child go on' });

  const root = rootfsSteps(spec, host, rootDir);
  phases.child.push(
    { op: 'wait_parent', field: '', man: 'pipe(2)', why: 'wait until the parent has written the uid/gid maps and placed this process in its cgroups' },
    ...(spec.namespaces.user?.mode === 'new' ? becomeNsRoot() : []),
    ...ns.child,
    ...identitySteps(spec),
    ...root.steps,
    ...kernelSettingSteps(spec),
    ...pathSteps(spec),
    ...processSteps(spec, host),
  );

  phases.cleanup.push(...cg.cleanup, ...hookSteps(spec, 'cleanup'));
  for (const h of spec.hooks) {
    if (!HOOK_PHASE[h.point]) warnings.push(`${h.field}: hooks at '${h.point}' are accepted but not run by this version of niwa yet`);
  }

  const steps: Step[] = [];
  for (const phase of ['prepare', 'stage', 'clone', 'parent', 'child', 'cleanup'] as Phase[]) {
    for (const d of phases[phase]) steps.push({ ...d, phase, index: steps.length } as Step);
  }
  return {
    version: 1,
    name: spec.name,
    id: ctx.id,
    project: ctx.project,
    spec: spec.file,
    rootDir: root.root,
    cgroups: cg.cgroups,
    tty: spec.process.tty,
    steps,
    warnings,
  };
}

/**
 * After clone(CLONE_NEWUSER) the child still carries the host ids, which the new map does not
 * contain: it would create files as the overflow id (EOVERFLOW). Switching to 0 inside the
 * namespace makes it the namespace's root, with the full capability set of that namespace.
 */
function becomeNsRoot(): StepDraft[] {
  const why = 'become root of the new user namespace now that the maps exist; until then the child has unmapped ids and cannot create files';
  return [
    { op: 'setresgid', gid: 0, field: 'uid_map', man: 'user_namespaces(7)', why },
    { op: 'setresuid', uid: 0, field: 'uid_map', man: 'user_namespaces(7)', why },
  ];
}

function hookSteps(spec: CanonicalSpec, phase: 'prepare' | 'cleanup'): StepDraft[] {
  return spec.hooks
    .map((h, index) => ({ h, index }))
    .filter(({ h }) => HOOK_PHASE[h.point] === phase)
    .map(({ h, index }): StepDraft => ({
      op: 'hook', point: h.point, index, command: h.command, optional: h.optional, field: h.field,
      why: h.point === 'teardown' || h.point === 'poststop' ? 'the container is gone: run the teardown hook' : `run the ${h.point} hook before the container process exists`,
    }));
}
