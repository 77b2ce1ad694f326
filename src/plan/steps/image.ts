// Image root steps: a container from an OCI image runs on an overlay of the image's layers (lower
// dirs, shared and never written) with an upper and work dir of its own under
// <data root>/containers/<project>/<id>, removed with the container. The overlay is mounted by the
// child inside its own mount namespace, so the host never sees it and a dead container leaves no
// mount behind. When overlayfs cannot be used (no overlayfs, or too many layers for one mount), the
// layers are copied into a private root instead, and the plan says which was chosen and why.
import type { CanonicalSpec, IdMapping, ResolvedImageRoot } from '../../spec/types.js';
import type { HostFacts, StepDraft } from '../types.js';

/** The kernel copies mount options into one page; keep a margin for the NUL and the kernel's own. */
export const MOUNT_DATA_MAX = 4000;

export interface ImageRootLayout {
  /** <data root>/containers/<project>/<id> */
  dir: string;
  /** How the root is assembled, and why (for the plan). */
  mode: 'overlay' | 'overlay-relative' | 'copy';
  reason: string;
  /** overlay: the mount data; overlay-relative: the directory the child enters first. */
  data?: string;
  chdir?: string;
  /** copy: the directory bound as the root. */
  source?: string;
  /** copy into a user namespace whose map is not the identity: owners shifted into the map. */
  shift?: { uidMap: IdMapping[]; gidMap: IdMapping[] };
}

/** A user namespace whose maps move ids: the image's root-owned files would be unmapped inside it. */
export function shiftedUserns(spec: CanonicalSpec): { uidMap: IdMapping[]; gidMap: IdMapping[] } | undefined {
  if (spec.namespaces.user?.mode !== 'new') return undefined;
  const moved = (m: IdMapping[]) => m.some((x) => x.container_id !== x.host_id);
  return moved(spec.uidMap) || moved(spec.gidMap) ? { uidMap: spec.uidMap, gidMap: spec.gidMap } : undefined;
}

export function containerDataDir(host: HostFacts, project: string, id: string): string {
  return `${host.dataRoot ?? '/var/lib/niwa'}/containers/${project}/${id}`;
}

/**
 * Decide how to assemble the root: pure, from the layers and the host facts. A read-only root has
 * an upper dir too: mount points and /etc/hosts are created in it during setup, then the whole
 * root is remounted read-only (rootfs.readonly), as runc and Docker do.
 */
export function imageRootLayout(img: ResolvedImageRoot, host: HostFacts, dir: string, shift?: ImageRootLayout['shift']): ImageRootLayout {
  const lowers = [...img.layers].reverse(); // overlay lists the top layer first
  const rw = `,upperdir=${dir}/upper,workdir=${dir}/work,volatile`;
  if (shift) {
    return { dir, mode: 'copy', source: `${dir}/rootfs`, shift, reason: 'a user namespace that maps ids elsewhere: the layers are copied into a private root with every owner shifted into the map (the shared layers stay owned by host ids the namespace cannot use)' };
  }
  if (host.snapshotter === 'copy') {
    return { dir, mode: 'copy', source: `${dir}/rootfs`, reason: 'overlayfs is not available here (or NIWA_SNAPSHOTTER=copy): the layers are copied into a private root' };
  }
  const abs = `lowerdir=${lowers.join(':')}${rw}`;
  if (abs.length <= MOUNT_DATA_MAX) return { dir, mode: 'overlay', data: abs, reason: `an overlay of the image's ${lowers.length} layer${lowers.length === 1 ? '' : 's'} with a private upper dir: the image stays untouched (volatile: no sync of the upper dir, which is discarded with the container)` };
  // Too long for one page: enter the layers' common directory and name them relatively (as Docker's overlay2 does).
  const parent = lowers[0].slice(0, lowers[0].lastIndexOf('/'));
  if (lowers.every((l) => l.slice(0, l.lastIndexOf('/')) === parent)) {
    const rel = `lowerdir=${lowers.map((l) => l.slice(parent.length + 1)).join(':')}${rw}`;
    if (rel.length <= MOUNT_DATA_MAX) return { dir, mode: 'overlay-relative', data: rel, chdir: parent, reason: `${lowers.length} layers are too many for absolute paths in one mount option page: the lower dirs are named relative to ${parent}` };
  }
  return { dir, mode: 'copy', source: `${dir}/rootfs`, reason: `${lowers.length} layers do not fit in one overlay mount: the layers are copied into a private root` };
}

/** prepare: the container's own directories (upper, work, copied root, volumes). */
export function imagePrepareSteps(spec: CanonicalSpec, img: ResolvedImageRoot, L: ImageRootLayout): StepDraft[] {
  const s: StepDraft[] = [];
  if (L.shift) {
    // The namespace's root is an unprivileged host uid: every directory down to its root must be searchable.
    const project = L.dir.slice(0, L.dir.lastIndexOf('/'));
    for (const d of [project.slice(0, project.lastIndexOf('/')), project, L.dir]) {
      s.push({ op: 'mkdir', path: d, mode: 0o711, parents: true, field: 'rootfs.image', man: 'mkdir(2)', why: `searchable, not readable (0711): the user namespace's root, an unprivileged host uid, must reach the copied root below ${d === L.dir ? '(the container\'s own directory, removed with it)' : ''}`.trim() });
    }
  } else {
    s.push({ op: 'mkdir', path: L.dir, mode: 0o700, parents: true, field: 'rootfs.image', man: 'mkdir(2)', why: 'the container\'s own directory under the data root: its writable layer and volumes, removed with it' });
  }
  if (L.mode === 'overlay' || L.mode === 'overlay-relative') {
    s.push({ op: 'mkdir', path: `${L.dir}/upper`, mode: 0o755, field: 'rootfs.image', man: 'overlayfs', why: 'the overlay\'s upper dir: every write of the container lands here, never in the shared image layers' });
    s.push({ op: 'mkdir', path: `${L.dir}/work`, mode: 0o700, field: 'rootfs.image', man: 'overlayfs', why: 'overlayfs\'s work dir (same file system as the upper dir), for atomic copy-up' });
  }
  if (L.mode === 'copy') s.push({ op: 'copyroot', layers: [...img.layers], path: L.source!, ...(L.shift ? { uidMap: L.shift.uidMap, gidMap: L.shift.gidMap } : {}), field: 'rootfs.image', why: L.reason });
  img.volumes.forEach((v, i) => {
    s.push({ op: 'mkdir', path: `${L.dir}/volumes/${i}`, mode: 0o755, parents: true, field: 'rootfs.image', man: 'mkdir(2)', why: `the image declares a volume at ${v}: an anonymous volume for this container` });
  });
  return s;
}

/** child: mount the root at rootDir (after MS_PRIVATE), then the files niwa writes into it. */
export function imageRootSteps(spec: CanonicalSpec, img: ResolvedImageRoot, L: ImageRootLayout, rootDir: string): StepDraft[] {
  const s: StepDraft[] = [];
  const field = 'rootfs.image';
  if (L.mode === 'overlay' || L.mode === 'overlay-relative') {
    if (L.chdir) s.push({ op: 'chdir', path: L.chdir, field, man: 'chdir(2)', why: 'enter the layers\' directory so the overlay\'s lower dirs can be named relative to it' });
    s.push({ op: 'mount', source: 'overlay', target: rootDir, fstype: 'overlay', flags: [], data: L.data!, field, man: 'overlayfs', why: `${L.reason}; mounted in the container's own mount namespace, so it vanishes with it` });
  } else {
    s.push({ op: 'mount', source: L.source!, target: rootDir, fstype: null, flags: ['MS_BIND', 'MS_REC'], data: null, field, man: 'mount(2)', why: L.reason });
  }
  {
    s.push({
      op: 'write', path: '/etc/hosts', data: `127.0.0.1\tlocalhost${spec.hostname ? ' ' + spec.hostname : ''}\n::1\tlocalhost ip6-localhost ip6-loopback\n`, inRoot: rootDir, create: true,
      field: 'hostname', why: 'a generated /etc/hosts (in the upper dir) so the container resolves localhost and its own name',
    });
    if (spec.hostname) s.push({ op: 'write', path: '/etc/hostname', data: spec.hostname + '\n', inRoot: rootDir, create: true, field: 'hostname', why: 'programs that read /etc/hostname see the same name as uname' });
    if (img.fromImage['process.cwd'] && spec.process.cwd !== '/') {
      s.push({ op: 'mkdir', path: spec.process.cwd, mode: 0o755, parents: true, inRoot: rootDir, field: 'process.cwd', man: 'mkdir(2)', why: 'the image\'s WorkingDir is created when the image lacks it, as Docker does' });
    }
  }
  return s;
}

/** child, with the other mounts: each anonymous volume of the image bound at its path. */
export function imageVolumeSteps(img: ResolvedImageRoot, L: ImageRootLayout, rootDir: string): StepDraft[] {
  return img.volumes.map((v, i): StepDraft => ({
    op: 'mount', source: `${L.dir}/volumes/${i}`, target: v, fstype: null, flags: ['MS_BIND'], data: null, inRoot: rootDir, mkTarget: 'dir',
    field: 'rootfs.image', man: 'mount(2)', why: `the image declares VOLUME ${v}: writes there bypass the root and go to this container's anonymous volume`,
  }));
}

/** cleanup: the container's directory (upper dir, copied root, anonymous volumes), then its project's if empty. */
export function imageCleanupSteps(L: ImageRootLayout): StepDraft[] {
  return [
    { op: 'rmtree', path: L.dir, field: 'rootfs.image', why: 'remove the container\'s writable layer and anonymous volumes: the image layers stay for other containers' },
    { op: 'rmdir', path: L.dir.slice(0, L.dir.lastIndexOf('/')), bestEffort: true, field: 'rootfs.image', man: 'rmdir(2)', why: 'remove the project\'s containers directory if no other container uses it' },
  ];
}
