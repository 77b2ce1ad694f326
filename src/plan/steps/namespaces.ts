// Namespace steps: which namespaces are joined (setns), which are created (clone/unshare),
// and the parent-side uid/gid map writes that must happen before the child continues.
import type { CanonicalSpec, NamespaceKind } from '../../spec/types.js';
import type { CloneFlag, StepDraft } from '../types.js';

export const CLONE_FLAG: Record<NamespaceKind, CloneFlag> = {
  user: 'CLONE_NEWUSER',
  mount: 'CLONE_NEWNS',
  uts: 'CLONE_NEWUTS',
  ipc: 'CLONE_NEWIPC',
  pid: 'CLONE_NEWPID',
  net: 'CLONE_NEWNET',
  cgroup: 'CLONE_NEWCGROUP',
  time: 'CLONE_NEWTIME',
};

const WHY_NEW: Record<NamespaceKind, string> = {
  user: 'a new user namespace: uid 0 inside maps to an unprivileged range outside, and capabilities apply only to what the namespace owns',
  mount: 'a new mount namespace: mounts made by the container are invisible to the host',
  uts: 'a new UTS namespace: the container gets its own hostname and domain name',
  ipc: 'a new IPC namespace: System V IPC objects and POSIX message queues are private',
  pid: 'a new PID namespace: the container process is PID 1 and sees only its own descendants',
  net: 'a new network namespace: only a loopback device, no route to the host network',
  cgroup: 'a new cgroup namespace: /proc/self/cgroup shows the container cgroup as the root',
  time: 'a new time namespace: CLOCK_MONOTONIC and CLOCK_BOOTTIME can be offset',
};

/**
 * Joining order: the user namespace first (it decides what we may do in the others), the
 * mount namespace last (after it, paths like /proc/PID/ns/* would resolve in the new tree).
 */
export const JOIN_ORDER: NamespaceKind[] = ['user', 'ipc', 'uts', 'net', 'pid', 'cgroup', 'time', 'mount'];

export interface NamespaceSteps {
  stage: StepDraft[];
  clone: StepDraft;
  parent: StepDraft[];
  /** Child steps right after the parent released it (cgroup namespace). */
  child: StepDraft[];
}

/** `resolveContainer` turns a container name into that container's pid (for container: joins). */
export function namespaceSteps(spec: CanonicalSpec, resolveContainer: (name: string) => number | undefined): NamespaceSteps {
  const stage: StepDraft[] = [];
  for (const kind of JOIN_ORDER) {
    const ns = spec.namespaces[kind];
    if (!ns || ns.mode === 'new') continue;
    let path: string;
    if (ns.mode === 'join') path = ns.path;
    else {
      const pid = resolveContainer(ns.container);
      path = pid ? `/proc/${pid}/ns/${nsProcName(kind)}` : `<container ${ns.container}>/ns/${nsProcName(kind)}`;
    }
    stage.push({
      op: 'setns', ns: kind, path, flag: CLONE_FLAG[kind], field: `namespaces.${kind}`, man: 'setns(2)',
      why: kind === 'user'
        ? 'join the existing user namespace first, so that joining the others is checked against its capabilities'
        : kind === 'pid'
          ? 'join the existing PID namespace: it applies to the process cloned next, not to the stage itself'
          : `join the existing ${kind} namespace${kind === 'mount' ? ' last, because after it paths resolve in the other mount tree' : ''}`,
    });
  }
  const time = spec.namespaces.time;
  if (time?.mode === 'new') {
    // CLONE_NEWTIME is not accepted by clone(2) (it shares a bit with CSIGNAL): unshare it in the
    // stage so that the child is born inside, and write the offsets before any process enters.
    stage.push({ op: 'unshare', flags: ['CLONE_NEWTIME'], field: 'namespaces.time', man: 'time_namespaces(7)', why: WHY_NEW.time + '; unshared in the stage because the child is the first process that enters it' });
    const off = time.offsets ?? { monotonic: 0, boottime: 0 };
    stage.push({
      op: 'write', path: '/proc/self/timens_offsets', data: `monotonic ${off.monotonic} 0\nboottime ${off.boottime} 0\n`,
      field: 'namespaces.time.offsets', man: 'time_namespaces(7)', why: 'clock offsets can only be set before the first process enters the time namespace',
    });
  }
  const flags: CloneFlag[] = [];
  const whys: string[] = [];
  for (const kind of ['user', 'mount', 'uts', 'ipc', 'pid', 'net'] as NamespaceKind[]) {
    if (spec.namespaces[kind]?.mode === 'new') { flags.push(CLONE_FLAG[kind]); whys.push(kind); }
  }
  const clone: StepDraft = {
    op: 'clone', flags, field: 'namespaces', man: 'clone(2)',
    why: flags.length
      ? `create the container process in new ${whys.join(', ')} namespaces at once; the child waits until the parent has written its maps and cgroups`
      : 'create the container process (no new namespaces requested)',
  };
  const parent: StepDraft[] = [];
  if (spec.namespaces.user?.mode === 'new') {
    parent.push({
      op: 'write', path: '/proc/{pid}/uid_map', data: mapText(spec.uidMap), field: 'uid_map', man: 'user_namespaces(7)',
      why: 'map container uids to host uids; written by the parent because the child has no capabilities in the host namespace',
    });
    parent.push({
      op: 'write', path: '/proc/{pid}/gid_map', data: mapText(spec.gidMap), field: 'gid_map', man: 'user_namespaces(7)',
      why: 'map container gids to host gids (the parent is privileged, so setgroups stays allowed for the container)',
    });
  }
  const child: StepDraft[] = [];
  if (spec.namespaces.cgroup?.mode === 'new') {
    // A cgroup namespace is rooted at the cgroup its creator is in at that moment: unshare it in
    // the child after the parent placed it, so the container's own cgroup becomes its "/".
    child.push({ op: 'unshare', flags: ['CLONE_NEWCGROUP'], field: 'namespaces.cgroup', man: 'cgroup_namespaces(7)', why: WHY_NEW.cgroup + '; unshared after placement so that its root is the container\'s own cgroup' });
  }
  return { stage, clone, parent, child };
}

export function mapText(m: { container_id: number; host_id: number; size: number }[]): string {
  return m.map((r) => `${r.container_id} ${r.host_id} ${r.size}\n`).join('');
}

export function nsProcName(kind: NamespaceKind): string {
  return kind === 'mount' ? 'mnt' : kind;
}

export { WHY_NEW };
