// The compiler: CanonicalSpec + HostFacts → LaunchPlan. Pure: reads nothing, writes nothing.
// The order of the phases and of the steps inside them is the order they run in.
import type { CanonicalSpec, HookPoint } from '../spec/types.js';
import type { HostFacts, LaunchPlan, Phase, Step, StepDraft } from './types.js';
import { namespaceSteps } from './steps/namespaces.js';
import { pathSteps, rootfsSteps } from './steps/rootfs.js';
import { identitySteps, kernelSettingSteps, oomSteps, processSteps } from './steps/process.js';
import { cgroupSteps } from './steps/cgroup.js';
import { containerDataDir, imageCleanupSteps, imagePrepareSteps, imageRootLayout, shiftedUserns, type ImageRootLayout } from './steps/image.js';
import { UserError } from '../errors.js';
import { checkName } from '../spec/names.js';
import { securityWarnings } from '../validate/warnings.js';
import { containerNetworkSteps, type ContainerNetFacts, type ContainerNetwork } from './steps/net.js';

export interface CompileContext {
  /** Unique id of this container instance (names its cgroup). */
  id: string;
  project: string;
  /** pid of a running container by name, for `namespaces.X.container` joins. */
  resolveContainer?: (name: string) => number | undefined;
  /** The lease database, routes and links, read before compile: needed when the spec has a bridge network. */
  net?: ContainerNetFacts;
}

/**
 * Where each hook point runs. Every hook runs on the host (TypeScript); at the points inside the
 * container's setup (phases parent and child) the native stage pauses until niwa has run it.
 *  - after_fork: the process exists, with its maps and cgroups, and waits (parent phase);
 *  - prestart, create_runtime (OCI): the runtime environment (namespaces) exists, before the root switch;
 *  - before_chroot, create_container: the mounts are in place, right before pivot_root/chroot;
 *  - after_chroot: right after the root switch;
 *  - start_container, before_start: the last pause before no_new_privs/seccomp and execve;
 *  - after_start, poststart: once execve succeeded (phase started);
 *  - system_failure: only when a start fails, before the rollback; teardown, poststop: at the end.
 */
export const HOOK_PLACE: Record<HookPoint, { phase: Phase; at?: 'parent' | 'before_switch' | 'after_switch' | 'before_exec' }> = {
  before_fork: { phase: 'prepare' },
  after_fork: { phase: 'parent', at: 'parent' },
  prestart: { phase: 'parent', at: 'parent' },
  create_runtime: { phase: 'parent', at: 'parent' },
  before_chroot: { phase: 'child', at: 'before_switch' },
  create_container: { phase: 'child', at: 'before_switch' },
  after_chroot: { phase: 'child', at: 'after_switch' },
  start_container: { phase: 'child', at: 'before_exec' },
  before_start: { phase: 'child', at: 'before_exec' },
  after_start: { phase: 'started' },
  poststart: { phase: 'started' },
  system_failure: { phase: 'cleanup' },
  teardown: { phase: 'cleanup' },
  poststop: { phase: 'cleanup' },
};
/** The order hooks run in (the order of HOOK_PLACE's keys). */
export const HOOK_ORDER = Object.keys(HOOK_PLACE) as HookPoint[];

const HOOK_WHY: Record<HookPoint, string> = {
  before_fork: 'run the before_fork hook before the container process exists',
  after_fork: 'the container process exists, has its maps and cgroups, and waits: the stage pauses while niwa runs the after_fork hook',
  prestart: 'OCI prestart: the namespaces exist, the root is not switched yet; the stage pauses while niwa runs the hook',
  create_runtime: 'OCI createRuntime: the namespaces exist, the root is not switched yet; the stage pauses while niwa runs the hook',
  before_chroot: 'the mounts are in place, the root switch comes next: the child pauses while niwa runs the before_chroot hook',
  create_container: 'OCI createContainer: before pivot_root, inside the container\'s namespaces; the child pauses while niwa runs the hook',
  after_chroot: 'the root is switched: the child pauses while niwa runs the after_chroot hook',
  start_container: 'OCI startContainer: just before the program runs; the child pauses while niwa runs the hook',
  before_start: 'just before the program runs (privileges already dropped): the child pauses while niwa runs the before_start hook',
  after_start: 'the program runs (execve succeeded): run the after_start hook',
  poststart: 'OCI poststart: the program runs; run the hook before the start is reported done',
  system_failure: 'only when the start failed: run the system_failure hook before the rollback',
  teardown: 'the container is gone: run the teardown hook',
  poststop: 'OCI poststop: the container is gone; run the hook',
};

export function compile(written: CanonicalSpec, host: HostFacts, ctx: CompileContext): LaunchPlan {
  // Names become host paths (cgroups, state): the one rule, whoever called (CLI flags, compose, API).
  checkName(written.name, 'container name');
  checkName(ctx.project, 'project name');
  // A bridge network: the container joins the network namespace its steps prepare, with their /etc/hosts and resolv.conf.
  let net: ContainerNetwork | undefined;
  let spec = written;
  if (written.network) {
    if (!ctx.net) throw new UserError('E_NET_FACTS', `${written.file}: a bridge network is compiled against the lease database, which was not read`, [], 'niwa run and niwa plan read it (src/runtime/net/facts.ts)');
    net = containerNetworkSteps(written, ctx.project, host.stateRoot, ctx.net);
    spec = { ...written, namespaces: { ...written.namespaces, net: { mode: 'join', path: net.netns } }, mounts: [...written.mounts, ...net.mounts] };
  }
  const warnings: string[] = [...securityWarnings(spec)];
  const rootDir = `${host.stateRoot}/rootfs-mnt`;
  const phases: Record<Phase, StepDraft[]> = { prepare: [], stage: [], clone: [], parent: [], child: [], started: [], cleanup: [] };

  // prepare: the network (published ports first), hooks, then the cgroup (it must exist before the process is placed in it).
  phases.prepare.push(...(net?.prepare ?? []), ...hookSteps(spec, 'prepare'));
  let image: ImageRootLayout | undefined;
  if (spec.rootfs.kind === 'image') {
    if (!spec.rootfs.image) throw new UserError('E_IMAGE_UNRESOLVED', `${spec.file}: image ${spec.rootfs.ref} was not read before compiling`, [], 'load the spec with an image resolver (niwa run / niwa plan do)');
    if (!spec.namespaces.mount) throw new UserError('E_SPEC_INVALID', `${spec.file}: rootfs.image needs a mount namespace`, [], 'add mount to namespaces: the overlay root is mounted inside it');
    image = imageRootLayout(spec.rootfs.image, host, containerDataDir(host, ctx.project, ctx.id), shiftedUserns(spec));
    phases.prepare.push(...imagePrepareSteps(spec, spec.rootfs.image, image));
  }
  if ((spec.rootfs.kind === 'default' || spec.rootfs.kind === 'image') && spec.namespaces.mount) {
    phases.prepare.push({ op: 'mkdir', path: host.stateRoot, mode: 0o711, parents: true, field: 'rootfs', man: 'mkdir(2)', why: 'niwa\'s state root, traversable (not listable) by everyone: in a user namespace the container\'s root is an unprivileged host uid that must reach the mount point below; everything else under it is 0700' });
    phases.prepare.push({ op: 'mkdir', path: rootDir, mode: 0o755, parents: true, field: 'rootfs', man: 'mkdir(2)', why: `an empty directory the ${spec.rootfs.kind === 'image' ? 'image' : 'default'} root is mounted on inside the container's own mount namespace (the host never sees that mount)` });
  }
  const cg = cgroupSteps(spec, host.cgroup, `niwa/${ctx.project}/${ctx.id}`);
  phases.prepare.push(...cg.prepare);
  warnings.push(...cg.warnings);

  const ns = namespaceSteps(spec, ctx.resolveContainer ?? (() => undefined));
  // the device program first, while the stage is still in the host's namespaces (it opens the cgroup by its host path)
  phases.stage.push(...cg.stage, ...ns.stage);
  phases.clone.push(ns.clone);
  // parent: maps first (the child needs them to have any capability in its namespace), then
  // cgroup placement, then release: the child runs no user code before it is limited.
  phases.parent.push(...ns.parent, ...cg.parent, ...oomSteps(spec), ...hookSteps(spec, 'parent'), { op: 'release_child', field: '', man: 'pipe(2)', why: 'maps and cgroups are in place: let the child go on' });

  const root = rootfsSteps(spec, host, rootDir, image);
  const proc = processSteps(spec, host);
  // the last setup steps before execve (no_new_privs, a late seccomp filter) come after before_start
  let tail = proc.length - 1;
  while (tail > 0 && (proc[tail - 1].op === 'no_new_privs' || proc[tail - 1].op === 'seccomp')) tail--;
  phases.child.push(
    { op: 'wait_parent', field: '', man: 'pipe(2)', why: 'wait until the parent has written the uid/gid maps and placed this process in its cgroups' },
    ...(spec.namespaces.user?.mode === 'new' ? becomeNsRoot() : []),
    ...ns.child,
    ...identitySteps(spec),
    ...root.steps.slice(0, root.switchAt),
    ...hookSteps(spec, 'child', 'before_switch'),
    ...root.steps.slice(root.switchAt),
    ...hookSteps(spec, 'child', 'after_switch'),
    ...kernelSettingSteps(spec),
    ...pathSteps(spec),
    ...proc.slice(0, tail),
    ...hookSteps(spec, 'child', 'before_exec'),
    ...proc.slice(tail),
  );
  phases.started.push(...hookSteps(spec, 'started'));

  // cleanup: system_failure hooks first (they run only after a failed start, before the rollback)
  phases.cleanup.push(...hookSteps(spec, 'cleanup').filter((h) => h.op === 'hook' && h.point === 'system_failure'));
  phases.cleanup.push(...cg.cleanup, ...(net?.cleanup ?? []), ...(image ? imageCleanupSteps(image) : []), ...hookSteps(spec, 'cleanup').filter((h) => h.op === 'hook' && h.point !== 'system_failure'));

  const steps: Step[] = [];
  for (const phase of ['prepare', 'stage', 'clone', 'parent', 'child', 'started', 'cleanup'] as Phase[]) {
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
    ...(spec.rootfs.kind === 'image' && spec.rootfs.image ? { image: { ref: spec.rootfs.ref, name: spec.rootfs.image.name, digest: spec.rootfs.image.digest, fromImage: spec.rootfs.image.fromImage } } : {}),
    ...(spec.fromFlags ? { fromFlags: spec.fromFlags } : {}),
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

/** The hook steps of one phase (and position in it), in HOOK_ORDER, each point's hooks in spec order. */
function hookSteps(spec: CanonicalSpec, phase: Phase, at?: (typeof HOOK_PLACE)[HookPoint]['at']): StepDraft[] {
  return spec.hooks
    .map((h, hook) => ({ h, hook }))
    .filter(({ h }) => HOOK_PLACE[h.point].phase === phase && (at === undefined || HOOK_PLACE[h.point].at === at))
    .sort((a, b) => HOOK_ORDER.indexOf(a.h.point) - HOOK_ORDER.indexOf(b.h.point) || a.hook - b.hook)
    .map(({ h, hook }): StepDraft => ({
      op: 'hook', point: h.point, hook, ...(h.command ? { command: h.command } : {}), optional: h.optional, field: h.field,
      why: HOOK_WHY[h.point] + (h.fn ? ' (a function of the .container.ts spec, called with its HookContext)' : ''),
    }));
}
