// Owns copying files between the host and a running container's root (`niwa compose cp`). Every
// path inside the container is resolved by the kernel with openat2(RESOLVE_IN_ROOT |
// RESOLVE_NO_MAGICLINKS) against the container's root directory (opened once from /proc/PID/root):
// a symlink in the container — to `/`, to `../../..`, absolute or relative, at any component —
// resolves inside that root as it would for the container, never on the host, even if the
// container swaps a directory for a symlink while we copy. What is created inside (directories,
// symlinks) is created by name relative to a directory fd resolved that way, and `..` in the
// paths given is removed lexically first (clamped at the container's `/`).
import * as fs from 'node:fs';
import { basename, join, posix } from 'node:path';
import { RESOLVE_IN_ROOT, RESOLVE_NO_MAGICLINKS, SysError, type Sys } from './sys/types.js';

const O_RDONLY = 0;
const O_WRONLY = 0o1;
const O_CREAT = 0o100;
const O_TRUNC = 0o1000;
const O_DIRECTORY = 0o200000;
const O_CLOEXEC = 0o2000000;
const O_PATH = 0o10000000;

/** Copies every byte from one fd to another in 1 MiB chunks (a large file never sits in memory whole). */
function pump(from: number, to: number): void {
  const buf = Buffer.allocUnsafe(1 << 20);
  for (let n; (n = fs.readSync(from, buf, 0, buf.length, null)) > 0;) {
    for (let off = 0; off < n;) off += fs.writeSync(to, buf, off, n - off);
  }
}

/** A path inside the container, made absolute and with `.`/`..` removed (never above its `/`). */
export const containerPath = (p: string): string => posix.normalize(posix.join('/', p));

/** /proc/self/fd/N/NAME: the entry NAME of the directory open as N (the kernel does not follow NAME for mkdir, symlink, readlink). */
const entry = (dirFd: number, name: string) => `/proc/self/fd/${dirFd}/${name}`;

/** The host id that id 0 inside maps to, from a /proc/PID/uid_map or gid_map text (0 when there is no mapping of 0). */
export function hostIdOfRoot(map: string): number {
  for (const line of map.split('\n')) {
    const [inside, outside, count] = line.trim().split(/\s+/).map(Number);
    if (inside === 0 && count > 0) return outside;
  }
  return 0;
}

export class ContainerRoot {
  /** Who owns what cp creates inside: the container's root (the host ids its user namespace maps 0 to). */
  readonly owner: { uid: number; gid: number };

  private constructor(private sys: Sys, readonly fd: number, readonly pid: number) {
    const map = (f: string) => { try { return hostIdOfRoot(fs.readFileSync(`/proc/${pid}/${f}`, 'utf8')); } catch { return 0; } };
    this.owner = { uid: map('uid_map'), gid: map('gid_map') };
  }

  /** The root of process `pid` (a container's), as the container sees it. */
  static open(sys: Sys, pid: number): ContainerRoot {
    let fd: number;
    try { fd = fs.openSync(`/proc/${pid}/root`, O_PATH | O_DIRECTORY | O_CLOEXEC); } catch (e) {
      throw new SysError('open', `/proc/${pid}/root`, (e as NodeJS.ErrnoException).code ?? 'EIO', e);
    }
    return new ContainerRoot(sys, fd, pid);
  }

  /** Gives a created entry to the container's root (no-op without a user namespace). */
  private own(path: string): void {
    if (this.owner.uid || this.owner.gid) fs.lchownSync(path, this.owner.uid, this.owner.gid);
  }

  close(): void { fs.closeSync(this.fd); }

  /** openat2 of a container path inside the root. */
  open(path: string, flags: number, mode = 0): number {
    return this.sys.openat2(this.fd, containerPath(path).slice(1) || '.', flags | O_CLOEXEC, mode, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
  }

  /** Whether the container path is a directory (following symlinks inside the root). */
  isDir(path: string): boolean {
    let fd: number;
    try { fd = this.open(path, O_PATH | O_DIRECTORY); } catch { return false; }
    fs.closeSync(fd);
    return true;
  }

  /** Copies the container's `src` (file or directory tree) to the host path `dest` (into it when it is a directory). Returns the host path written. */
  copyOut(src: string, dest: string): string {
    const target = fs.existsSync(dest) && fs.statSync(dest).isDirectory() ? join(dest, basename(containerPath(src)) || 'root') : dest;
    this.out(containerPath(src), target);
    return target;
  }

  private out(src: string, target: string): void {
    const fd = this.open(src, O_RDONLY);
    try {
      const st = fs.fstatSync(fd);
      if (st.isFile()) {
        const out = fs.openSync(target, 'w', st.mode & 0o777);
        try { pump(fd, out); } finally { fs.closeSync(out); }
      } else if (st.isDirectory()) {
        if (!(fs.existsSync(target) && fs.statSync(target).isDirectory())) fs.mkdirSync(target, { mode: st.mode & 0o777 });
        for (const e of fs.readdirSync(`/proc/self/fd/${fd}`, { withFileTypes: true })) {
          if (e.isSymbolicLink()) fs.symlinkSync(fs.readlinkSync(entry(fd, e.name)), join(target, e.name));
          else if (e.isFile() || e.isDirectory()) this.out(posix.join(src, e.name), join(target, e.name));
          // devices, fifos and sockets are not copied
        }
      } else throw new SysError('copy', src, 'EINVAL');
    } finally { fs.closeSync(fd); }
  }

  /** Copies the host's `src` (file or directory tree) to the container path `dest` (into it when it is a directory). Returns the container path written. */
  copyIn(src: string, dest: string): string {
    const d = containerPath(dest);
    const target = this.isDir(d) ? posix.join(d, basename(src)) : d;
    if (target === '/') throw new SysError('copy', dest, 'EISDIR');
    this.in(src, target);
    return target;
  }

  private in(src: string, target: string): void {
    const st = fs.statSync(src);
    if (st.isFile()) {
      const fd = this.open(target, O_WRONLY | O_CREAT | O_TRUNC, st.mode & 0o777);
      try {
        const from = fs.openSync(src, 'r');
        try { pump(from, fd); } finally { fs.closeSync(from); }
        if (this.owner.uid || this.owner.gid) fs.fchownSync(fd, this.owner.uid, this.owner.gid);
      } finally { fs.closeSync(fd); }
      return;
    }
    if (!st.isDirectory()) throw new SysError('copy', src, 'EINVAL');
    const parent = this.open(posix.dirname(target), O_PATH | O_DIRECTORY);
    try {
      try {
        fs.mkdirSync(entry(parent, posix.basename(target)), { mode: st.mode & 0o777 });
        this.own(entry(parent, posix.basename(target)));
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || !this.isDir(target)) throw new SysError('mkdir', target, (e as NodeJS.ErrnoException).code ?? 'EIO', e);
      }
    } finally { fs.closeSync(parent); }
    const dir = this.open(target, O_PATH | O_DIRECTORY);
    try {
      for (const e of fs.readdirSync(src, { withFileTypes: true })) {
        if (e.isSymbolicLink()) { fs.symlinkSync(fs.readlinkSync(join(src, e.name)), entry(dir, e.name)); this.own(entry(dir, e.name)); }
        else if (e.isFile() || e.isDirectory()) this.in(join(src, e.name), posix.join(target, e.name));
      }
    } finally { fs.closeSync(dir); }
  }
}

