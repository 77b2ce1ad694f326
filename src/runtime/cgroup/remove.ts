// Owns low-level cgroupfs access: the real CgroupFs (node:fs) and robust removal of one cgroup directory.
import { RuntimeFailure } from '../../errors.js';
import { mkdirSync, writeFileSync, readFileSync, existsSync, readdirSync, rmdirSync, statfsSync } from 'node:fs';
import { join } from 'node:path';
import type { CgroupFs } from './types.js';

const CGROUP_SUPER_MAGIC = 0x27e0eb;
const CGROUP2_SUPER_MAGIC = 0x63677270;

export const nodeCgroupFs: CgroupFs = {
  mkdirp: (p) => void mkdirSync(p, { recursive: true, mode: 0o755 }),
  write: (p, d) => writeFileSync(p, d, { flag: 'w' }),
  read: (p) => {
    try { return readFileSync(p, 'utf8'); } catch (e) { if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined; throw e; }
  },
  exists: (p) => existsSync(p),
  subdirs: (p) => {
    try { return readdirSync(p, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => join(p, d.name)); } catch { return []; }
  },
  rmdir: (p) => rmdirSync(p),
  isCgroupFs: (p) => {
    try { const t = Number(statfsSync(p).type); return t === CGROUP_SUPER_MAGIC || t === CGROUP2_SUPER_MAGIC; } catch { return false; }
  },
};

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Pids listed in a cgroup's cgroup.procs (empty when the file is gone). */
export function readProcs(fs: CgroupFs, dir: string): number[] {
  return (fs.read(join(dir, 'cgroup.procs')) ?? '').split('\n').filter(Boolean).map(Number);
}

export interface RemoveOptions {
  fs?: CgroupFs;
  /** A parent shared with other containers: never kill; busy, not empty or missing is fine. Returns false then. */
  bestEffort?: boolean;
  /** How long to keep retrying rmdir on EBUSY (processes still exiting). Default 3000 ms. */
  timeoutMs?: number;
  /** Send a signal (tests inject a fake). */
  signal?: (pid: number) => void;
}

const errCode = (e: unknown) => (e as NodeJS.ErrnoException)?.code;

/**
 * Remove one cgroup directory robustly; what the runtime calls for cleanup `rmdir` steps under a cgroup fs.
 * Idempotent (a missing directory is success), so it works after a failed or partial start. Child cgroups
 * (made inside the container) go first; leftover processes are killed (v2 cgroup.kill, else SIGKILL to each
 * pid, repeated) unless `bestEffort`; rmdir is retried on EBUSY until the timeout. Refuses non-cgroup paths.
 */
export async function removeCgroup(path: string, opts: RemoveOptions = {}): Promise<boolean> {
  const fs = opts.fs ?? nodeCgroupFs;
  if (!fs.exists(path)) return true;
  if (!fs.isCgroupFs(path)) throw new RuntimeFailure('E_NOT_CGROUP', `will not remove ${path}: it is not on a cgroup file system`, { hint: 'the container\'s plan.json names a cgroup path outside /sys/fs/cgroup; was it edited?' });
  if (opts.bestEffort) {
    try { fs.rmdir(path); return true; } catch (e) {
      if (['EBUSY', 'ENOTEMPTY', 'ENOENT'].includes(errCode(e) ?? '')) return false;
      throw e;
    }
  }
  for (const child of fs.subdirs(path)) await removeCgroup(child, opts);
  const kill = opts.signal ?? ((pid: number) => { try { process.kill(pid, 'SIGKILL'); } catch { /* already gone */ } });
  const deadline = Date.now() + (opts.timeoutMs ?? 3000);
  for (let delay = 5; ; delay = Math.min(delay * 2, 100)) {
    if (fs.exists(join(path, 'cgroup.kill'))) {
      try { if (readProcs(fs, path).length) fs.write(join(path, 'cgroup.kill'), '1'); } catch { /* gone meanwhile */ }
    } else {
      for (const pid of readProcs(fs, path)) kill(pid);
    }
    try { fs.rmdir(path); return true; } catch (e) {
      const code = errCode(e);
      if (code === 'ENOENT') return true;
      if (code !== 'EBUSY' || Date.now() > deadline) {
        const left = readProcs(fs, path);
        throw Object.assign(new Error(`rmdir \`${path}\`: ${code}${left.length ? ` (processes left: ${left.join(' ')})` : ''}`), { code, cause: e });
      }
    }
    await sleep(delay);
  }
}
