// Root filesystem steps (child phase): private propagation, the root (embedded default or a
// directory), /proc /dev /sys, the spec's mounts, the switch with pivot_root or chroot, and
// masked / read-only paths. Every mount target is resolved inside the root (inRoot).
import type { CanonicalMount, CanonicalSpec } from '../../spec/types.js';
import type { HostFacts, MountFlag, StepDraft } from '../types.js';
import { imageRootSteps, imageVolumeSteps, type ImageRootLayout } from './image.js';

/** Host directories the embedded default root borrows read-only. */
export const DEFAULT_HOST_DIRS = ['/usr', '/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32'];
/** Host /etc entries the embedded default root borrows read-only (when they exist). */
export const DEFAULT_HOST_ETC = [
  '/etc/passwd', '/etc/group', '/etc/nsswitch.conf', '/etc/resolv.conf', '/etc/ld.so.cache', '/etc/ld.so.conf',
  '/etc/ld.so.conf.d', '/etc/alternatives', '/etc/localtime', '/etc/services', '/etc/protocols',
];
/** Device nodes of the minimal /dev, bind-mounted from the host (works in user namespaces too). */
export const DEFAULT_DEVICES = ['null', 'zero', 'full', 'random', 'urandom', 'tty'];

const RO_REMOUNT: MountFlag[] = ['MS_REMOUNT', 'MS_BIND', 'MS_RDONLY'];

/** `switchAt`: index in `steps` where the root switch (chdir + pivot_root/chroot) begins; = steps.length when there is none. */
export function rootfsSteps(spec: CanonicalSpec, host: HostFacts, rootDir: string, image?: ImageRootLayout): { steps: StepDraft[]; root: string; switchAt: number } {
  const s: StepDraft[] = [];
  const hasMountNs = spec.namespaces.mount !== undefined;
  if (!hasMountNs) {
    // Without a mount namespace nothing may be mounted (it would land on the host): only chroot.
    if (spec.rootfs.kind === 'dir') {
      s.push({ op: 'chdir', path: spec.rootfs.path, field: 'rootfs', man: 'chdir(2)', why: 'enter the root directory before chroot so that "." is the new root' });
      s.push({ op: 'chroot', path: '.', field: 'root', man: 'chroot(2)', why: 'change the root directory of the process; without a mount namespace the host mounts stay reachable' });
      s.push({ op: 'chdir', path: '/', field: 'root', man: 'chdir(2)', why: 'leave no working directory outside the new root' });
    }
    return { steps: s, root: '/', switchAt: 0 };
  }

  s.push({
    op: 'mount', source: null, target: '/', fstype: null, flags: ['MS_REC', 'MS_PRIVATE'], data: null, field: 'namespaces.mount', man: 'mount_namespaces(7)',
    why: 'make every mount private first, so that nothing mounted from here on propagates back to the host',
  });

  let root: string;
  if (spec.rootfs.kind === 'image' && spec.rootfs.image && image) {
    root = rootDir;
    s.push(...imageRootSteps(spec, spec.rootfs.image, image, root));
  } else if (spec.rootfs.kind === 'dir') {
    root = spec.rootfs.path;
    s.push({
      op: 'mount', source: root, target: root, fstype: null, flags: ['MS_BIND', 'MS_REC'], data: null, field: 'rootfs', man: 'mount(2)',
      why: 'bind the rootfs directory onto itself: pivot_root needs the new root to be a mount point',
    });
  } else {
    root = rootDir;
    s.push({
      op: 'mount', source: 'tmpfs', target: root, fstype: 'tmpfs', flags: ['MS_NOSUID', 'MS_NODEV'], data: 'mode=0755,size=64m', field: 'rootfs', man: 'tmpfs(5)',
      why: 'no rootfs given: the embedded default root is a fresh tmpfs that vanishes with the container',
    });
    for (const dir of DEFAULT_HOST_DIRS) {
      const name = dir.slice(1);
      const link = host.rootSymlinks[name];
      if (link !== undefined) {
        s.push({ op: 'symlink', target: link, path: dir, inRoot: root, field: 'rootfs', man: 'symlink(2)', why: `the host's ${dir} is a symlink to ${link} (merged /usr); the default root mirrors it` });
      } else if (host.existing.includes(dir)) {
        s.push(...bindReadonly(dir, dir, root, 'dir', 'rootfs', `borrow the host's ${dir} read-only so programs and libraries are there without any download`));
      }
    }
    s.push({ op: 'mkdir', path: '/etc', mode: 0o755, inRoot: root, field: 'rootfs', why: 'a minimal /etc of our own: only the files programs need are borrowed from the host' });
    for (const f of DEFAULT_HOST_ETC) {
      if (!host.existing.includes(f)) continue;
      const kind = host.etcDirs?.includes(f) ? 'dir' : 'file';
      const link = host.etcSymlinks?.[f];
      if (link !== undefined) s.push({ op: 'symlink', target: link, path: f, inRoot: root, field: 'rootfs', man: 'symlink(2)', why: `the host's ${f} is a symlink; mirror it` });
      else s.push(...bindReadonly(f, f, root, kind, 'rootfs', `borrow the host's ${f} read-only (name service, dynamic linker or time zone data)`));
    }
    s.push({
      op: 'write', path: '/etc/hosts', data: `127.0.0.1\tlocalhost${spec.hostname ? ' ' + spec.hostname : ''}\n::1\tlocalhost ip6-localhost ip6-loopback\n`, inRoot: root, create: true,
      field: 'hostname', why: 'a generated /etc/hosts so the container resolves localhost and its own name',
    });
    if (spec.hostname) {
      s.push({ op: 'write', path: '/etc/hostname', data: spec.hostname + '\n', inRoot: root, create: true, field: 'hostname', why: 'programs that read /etc/hostname see the same name as uname' });
    }
    for (const [d, mode] of [['/tmp', 0o1777], ['/root', 0o700], ['/run', 0o755], ['/var/tmp', 0o1777], ['/home', 0o755]] as const) {
      s.push({ op: 'mkdir', path: d, mode, inRoot: root, parents: true, field: 'rootfs', why: `an empty ${d} that programs expect to exist` });
    }
  }

  // Kernel file systems: /proc, /dev, /sys.
  const targets = new Set(spec.mounts.map((m) => m.target));
  if (!targets.has('/proc')) {
    s.push({
      op: 'mount', source: 'proc', target: '/proc', fstype: 'proc', flags: ['MS_NOSUID', 'MS_NODEV', 'MS_NOEXEC'], data: null, inRoot: root, mkTarget: 'dir',
      field: 'namespaces.pid', man: 'proc(5)',
      why: spec.namespaces.pid?.mode === 'new' ? 'a fresh /proc that shows only the processes of the new PID namespace' : 'a /proc for the container (it shows the host PID namespace, since no new one was asked for)',
    });
  }
  if (!targets.has('/dev')) s.push(...devSteps(spec, root));
  if (!targets.has('/sys')) {
    const net = spec.namespaces.net?.mode;
    // A joined network namespace (a compose network's) is owned by the host's user namespace: a fresh
    // sysfs can be mounted there unless the container is in a user namespace of its own.
    const ownNet = net === 'new' || ((net === 'join' || net === 'container') && spec.namespaces.user?.mode !== 'new');
    if (ownNet) {
      s.push({
        op: 'mount', source: 'sysfs', target: '/sys', fstype: 'sysfs', flags: ['MS_NOSUID', 'MS_NODEV', 'MS_NOEXEC', 'MS_RDONLY'], data: null, inRoot: root, mkTarget: 'dir',
        field: 'namespaces.net', man: 'sysfs(5)', why: net === 'new' ? 'a read-only /sys; it shows the network devices of the new network namespace only' : 'a read-only /sys of the joined network namespace: it shows that namespace\'s network devices only, not the host\'s',
      });
    } else {
      s.push(...bindReadonly('/sys', '/sys', root, 'dir', 'namespaces.net', 'no new network namespace, so sysfs cannot be mounted afresh: bind the host /sys read-only'));
    }
  }

  if (spec.rootfs.kind === 'image' && spec.rootfs.image && image) s.push(...imageVolumeSteps(spec.rootfs.image, image, root));
  for (const m of spec.mounts) s.push(...mountSteps(m, root));

  if (spec.readonlyRoot) {
    s.push({
      op: 'mount', source: null, target: root, fstype: null, flags: RO_REMOUNT, data: null, keepLocked: true, field: 'rootfs.readonly', man: 'mount(2)',
      why: 'make the root read-only after everything was mounted into it (mounts below keep their own mode)',
    });
  }

  const switchAt = s.length;
  if (spec.root === 'pivot_root') {
    s.push({ op: 'chdir', path: root, field: 'root', man: 'chdir(2)', why: 'enter the new root so that pivot_root can use "." for both arguments' });
    s.push({ op: 'pivot_root', newRoot: '.', putOld: '.', field: 'root', man: 'pivot_root(2)', why: 'swap the root mount: the new root becomes /, the old root is stacked on top of it' });
    s.push({ op: 'umount2', target: '.', flags: ['MNT_DETACH'], field: 'root', man: 'umount2(2)', why: 'detach the old root: after this no path leads back to the host file system' });
    s.push({ op: 'chdir', path: '/', field: 'root', man: 'chdir(2)', why: 'start from the new root' });
  } else {
    s.push({ op: 'chdir', path: root, field: 'root', man: 'chdir(2)', why: 'enter the new root so that chroot can use "."' });
    s.push({ op: 'chroot', path: '.', field: 'root', man: 'chroot(2)', why: 'change the root directory only: the old root stays mounted and reachable by a privileged process (the classic chroot escape)' });
    s.push({ op: 'chdir', path: '/', field: 'root', man: 'chdir(2)', why: 'leave no working directory outside the new root' });
  }
  return { steps: s, root, switchAt };
}

/** Steps applied after the root switch: masked and read-only paths (absolute in the new root). */
export function pathSteps(spec: CanonicalSpec): StepDraft[] {
  if (spec.namespaces.mount === undefined) return [];
  return [
    ...spec.maskedPaths.map((p, i): StepDraft => ({ op: 'mask', path: p, field: `masked_paths.${i}`, man: 'mount(2)', why: 'hide a host kernel interface the container has no business reading' })),
    ...spec.readonlyPaths.map((p, i): StepDraft => ({ op: 'readonly', path: p, field: `readonly_paths.${i}`, man: 'mount(2)', why: 'keep a kernel interface readable but not writable' })),
  ];
}

function bindReadonly(source: string, target: string, root: string, kind: 'dir' | 'file', field: string, why: string): StepDraft[] {
  return [
    { op: 'mount', source, target, fstype: null, flags: ['MS_BIND', 'MS_REC'], data: null, inRoot: root, mkTarget: kind, field, man: 'mount(2)', why },
    { op: 'mount', source: null, target, fstype: null, flags: RO_REMOUNT, data: null, inRoot: root, keepLocked: true, field, man: 'mount(2)', why: `a bind mount starts writable: remount ${target} read-only (keeping its nosuid/nodev flags)` },
  ];
}

function devSteps(spec: CanonicalSpec, root: string): StepDraft[] {
  const s: StepDraft[] = [
    { op: 'mount', source: 'tmpfs', target: '/dev', fstype: 'tmpfs', flags: ['MS_NOSUID', 'MS_STRICTATIME'], data: 'mode=755,size=65536k', inRoot: root, mkTarget: 'dir', field: '', man: 'tmpfs(5)', why: 'a minimal /dev of our own instead of the host\'s devices' },
  ];
  for (const d of DEFAULT_DEVICES) {
    s.push({ op: 'mount', source: `/dev/${d}`, target: `/dev/${d}`, fstype: null, flags: ['MS_BIND'], data: null, inRoot: root, mkTarget: 'file', field: '', man: 'mount(2)', why: `bind the host's /dev/${d}: creating device nodes is not allowed in a user namespace, binding is` });
  }
  // spec.devices: the host node bound in like the defaults (the device cgroup allows it, see cgroup.ts)
  for (const d of spec.devices ?? []) {
    s.push({ op: 'mount', source: d.source, target: d.target, fstype: null, flags: ['MS_BIND'], data: null, inRoot: root, mkTarget: 'file', field: d.field, man: 'mount(2)', why: `bind the host's ${d.source} (${d.type} ${d.major}:${d.minor}), which the device cgroup allows with ${d.access}` });
  }
  const userns = spec.namespaces.user?.mode === 'new';
  s.push({
    op: 'mount', source: 'devpts', target: '/dev/pts', fstype: 'devpts', flags: ['MS_NOSUID', 'MS_NOEXEC'], data: userns ? 'newinstance,ptmxmode=0666,mode=0620' : 'newinstance,ptmxmode=0666,mode=0620,gid=5',
    inRoot: root, mkTarget: 'dir', field: '', man: 'pts(4)', why: 'a private devpts instance: the container\'s terminals are not the host\'s',
  });
  s.push({ op: 'symlink', target: 'pts/ptmx', path: '/dev/ptmx', inRoot: root, field: '', man: 'pts(4)', why: '/dev/ptmx must open the private devpts instance' });
  s.push({ op: 'mount', source: 'shm', target: '/dev/shm', fstype: 'tmpfs', flags: ['MS_NOSUID', 'MS_NODEV', 'MS_NOEXEC'], data: 'mode=1777,size=65536k', inRoot: root, mkTarget: 'dir', field: '', man: 'shm_overview(7)', why: 'POSIX shared memory lives in /dev/shm' });
  for (const [name, target] of [['fd', '/proc/self/fd'], ['stdin', '/proc/self/fd/0'], ['stdout', '/proc/self/fd/1'], ['stderr', '/proc/self/fd/2']]) {
    s.push({ op: 'symlink', target, path: `/dev/${name}`, inRoot: root, field: '', man: 'proc(5)', why: `the usual /dev/${name} link` });
  }
  return s;
}

const OPTION_FLAGS: Record<string, MountFlag> = {
  ro: 'MS_RDONLY', nosuid: 'MS_NOSUID', nodev: 'MS_NODEV', noexec: 'MS_NOEXEC', sync: 'MS_SYNCHRONOUS',
  noatime: 'MS_NOATIME', nodiratime: 'MS_NODIRATIME', relatime: 'MS_RELATIME', strictatime: 'MS_STRICTATIME', nosymfollow: 'MS_NOSYMFOLLOW',
};
const PROPAGATION_FLAGS: Record<string, MountFlag[]> = {
  private: ['MS_PRIVATE'], rprivate: ['MS_PRIVATE', 'MS_REC'], shared: ['MS_SHARED'], rshared: ['MS_SHARED', 'MS_REC'],
  slave: ['MS_SLAVE'], rslave: ['MS_SLAVE', 'MS_REC'], unbindable: ['MS_UNBINDABLE'], runbindable: ['MS_UNBINDABLE', 'MS_REC'],
};

function mountSteps(m: CanonicalMount, root: string): StepDraft[] {
  const flags: MountFlag[] = [];
  const data: string[] = [];
  for (const o of m.options) {
    if (OPTION_FLAGS[o]) flags.push(OPTION_FLAGS[o]);
    else if (o !== 'rw' && o !== 'bind' && o !== 'rbind' && !PROPAGATION_FLAGS[o]) data.push(o);
  }
  const s: StepDraft[] = [];
  if (m.type === 'bind') {
    s.push({
      op: 'mount', source: m.source, target: m.target, fstype: null, flags: m.recursive ? ['MS_BIND', 'MS_REC'] : ['MS_BIND'], data: null, inRoot: root, mkTarget: m.sourceKind ?? 'dir',
      field: m.field, man: 'mount(2)', why: `make the host path ${m.source} visible at ${m.target}${m.readonly ? ' (read-only, next step)' : ''}`,
    });
    if (m.readonly || flags.length) {
      s.push({
        op: 'mount', source: null, target: m.target, fstype: null, flags: ['MS_REMOUNT', 'MS_BIND', ...(m.readonly ? ['MS_RDONLY' as const] : []), ...flags.filter((f) => f !== 'MS_RDONLY')], data: null, inRoot: root, keepLocked: true,
        field: `${m.field}.readonly`, man: 'mount(2)', why: 'bind mounts ignore flags on creation: remount to apply read-only and the other options',
      });
    }
  } else {
    const d = [...data];
    if (m.type === 'tmpfs') {
      if (m.size !== undefined) d.unshift(`size=${m.size}`);
      if (m.mode !== undefined) d.unshift(`mode=${m.mode.toString(8).padStart(4, '0')}`);
    }
    const base: MountFlag[] = m.type === 'tmpfs' ? ['MS_NOSUID', 'MS_NODEV'] : ['MS_NOSUID', 'MS_NODEV', 'MS_NOEXEC'];
    s.push({
      op: 'mount', source: m.type === 'tmpfs' ? 'tmpfs' : m.type, target: m.target, fstype: m.type,
      flags: [...new Set([...base, ...flags, ...(m.readonly ? ['MS_RDONLY' as const] : [])])], data: d.length ? d.join(',') : null, inRoot: root, mkTarget: 'dir',
      field: m.field, man: m.type === 'tmpfs' ? 'tmpfs(5)' : m.type === 'devpts' ? 'pts(4)' : m.type === 'mqueue' ? 'mq_overview(7)' : `${m.type}(5)`,
      why: m.type === 'tmpfs' ? `a private in-memory file system at ${m.target}` : `mount a ${m.type} instance at ${m.target}`,
    });
  }
  if (m.propagation) {
    s.push({
      op: 'mount', source: null, target: m.target, fstype: null, flags: PROPAGATION_FLAGS[m.propagation], data: null, inRoot: root,
      field: `${m.field}.propagation`, man: 'mount_namespaces(7)', why: `set ${m.propagation} propagation on ${m.target} as the spec asks`,
    });
  }
  return s;
}
