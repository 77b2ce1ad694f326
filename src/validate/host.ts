// Probes what this host offers (arch, cgroup layout, the shape of / and /etc) into HostFacts,
// the only impure input the compiler takes. Cheap: a few lstat calls and one mountinfo read.
import { existsSync, lstatSync, readFileSync, readlinkSync } from 'node:fs';
import { release } from 'node:os';
import type { HostFacts } from '../plan/types.js';
import { detectCgroupLayout } from '../runtime/cgroup/detect.js';
import { DEFAULT_HOST_DIRS, DEFAULT_HOST_ETC } from '../plan/steps/rootfs.js';

export function defaultStateRoot(): string {
  return process.env.NIWA_STATE_ROOT || '/run/niwa';
}

/** overlay unless NIWA_SNAPSHOTTER=copy or the kernel has no overlayfs (neither loaded nor as a module). */
export function probeSnapshotter(env: NodeJS.ProcessEnv = process.env): 'overlay' | 'copy' {
  if (env.NIWA_SNAPSHOTTER === 'copy') return 'copy';
  if (env.NIWA_SNAPSHOTTER === 'overlay') return 'overlay';
  try { if (/\toverlay\n/.test(readFileSync('/proc/filesystems', 'utf8'))) return 'overlay'; } catch { /* no /proc: assume the module */ }
  return existsSync(`/lib/modules/${release()}/kernel/fs/overlayfs`) ? 'overlay' : 'copy';
}

export function probeHost(opts: { stateRoot?: string } = {}): HostFacts {
  const rootSymlinks: Record<string, string> = {};
  const existing: string[] = [];
  const etcDirs: string[] = [];
  const etcSymlinks: Record<string, string> = {};
  for (const p of [...DEFAULT_HOST_DIRS, ...DEFAULT_HOST_ETC]) {
    let st;
    try { st = lstatSync(p); } catch { continue; }
    existing.push(p);
    if (st.isSymbolicLink()) {
      const link = readlinkSync(p);
      if (p.startsWith('/etc/')) etcSymlinks[p] = link;
      else rootSymlinks[p.slice(1)] = link;
    } else if (st.isDirectory() && p.startsWith('/etc/')) etcDirs.push(p);
  }
  return {
    arch: process.arch === 'arm64' ? 'aarch64' : 'x86_64',
    cgroup: detectCgroupLayout(),
    stateRoot: opts.stateRoot ?? defaultStateRoot(),
    dataRoot: process.env.NIWA_DATA_ROOT || '/var/lib/niwa',
    snapshotter: probeSnapshotter(),
    rootSymlinks,
    existing,
    etcDirs,
    etcSymlinks,
  };
}

/** Fixed facts for snapshot tests and `niwa plan --host generic`: a merged-/usr x86_64 host with cgroup v2. */
export function genericHost(): HostFacts {
  return {
    arch: 'x86_64',
    cgroup: { kind: 'v2', unified: '/sys/fs/cgroup', v2Controllers: ['cpuset', 'cpu', 'io', 'memory', 'hugetlb', 'pids'], v1: {} },
    stateRoot: '/run/niwa',
    dataRoot: '/var/lib/niwa',
    snapshotter: 'overlay',
    rootSymlinks: { bin: 'usr/bin', sbin: 'usr/sbin', lib: 'usr/lib', lib64: 'usr/lib64' },
    existing: ['/usr', '/bin', '/sbin', '/lib', '/lib64', '/etc/passwd', '/etc/group', '/etc/nsswitch.conf', '/etc/resolv.conf', '/etc/ld.so.cache', '/etc/ld.so.conf', '/etc/ld.so.conf.d', '/etc/alternatives', '/etc/localtime'],
    etcDirs: ['/etc/ld.so.conf.d', '/etc/alternatives'],
    etcSymlinks: { '/etc/localtime': '/usr/share/zoneinfo/Etc/UTC' },
  };
}

/** The host's online CPUs and memory nodes, for the cpuset and cpus checks of validate. */
export function hostCpuFacts(): { hostCpus?: string; hostMems?: string } {
  const read = (p: string) => { try { return readFileSync(p, 'utf8').trim() || undefined; } catch { return undefined; } };
  const hostCpus = read('/sys/devices/system/cpu/online');
  const hostMems = read('/sys/devices/system/node/online');
  return { ...(hostCpus ? { hostCpus } : {}), ...(hostMems ? { hostMems } : {}) };
}
