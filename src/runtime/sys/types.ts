// The one typed interface for every host-side system call TypeScript makes. The real one is
// in real.ts (node:fs, and koffi for calls Node lacks); fake.ts records calls for unit tests.

export interface Sys {
  mkdir(path: string, mode: number, recursive: boolean): void;
  rmdir(path: string): void;
  chmod(path: string, mode: number): void;
  /** Permission bits of a path (lstat), or undefined when it does not exist. */
  modeOf(path: string): number | undefined;
  writeFile(path: string, data: string): void;
  readFile(path: string): string;
  exists(path: string): boolean;
  /** kill(2); returns false when the process is already gone (ESRCH). */
  kill(pid: number, signal: NodeJS.Signals | number): boolean;
  /** mount(2) in the host mount namespace (overlay roots); koffi. */
  mount(source: string | null, target: string, fstype: string | null, flags: number, data: string | null): void;
  /** umount2(2); koffi. */
  umount2(target: string, flags: number): void;
  /** Remove a directory tree without following symlinks; already gone is fine. Refuses paths shallower than /a/b/c. */
  rmtree(path: string): void;
  /** mknod(2): `mode` holds the file type (S_IFCHR, S_IFBLK, S_IFIFO) and permission bits; `dev` from makedev(). koffi. */
  mknod(path: string, mode: number, dev: number): void;
  /** lsetxattr(2): set an extended attribute on the path itself (never a symlink's target). koffi. */
  lsetxattr(path: string, name: string, value: Uint8Array | string): void;
  /** lgetxattr(2): the attribute's value, or undefined when the path does not carry it (ENODATA). koffi. */
  lgetxattr(path: string, name: string): Buffer | undefined;
  /** openat2(2): open `path` relative to `dirfd` with `resolve` flags (RESOLVE_IN_ROOT …); returns the fd. koffi. */
  openat2(dirfd: number, path: string, flags: number, mode: number, resolve: number): number;
}

/** openat2 resolve flags (linux/openat2.h). */
export const RESOLVE_NO_MAGICLINKS = 0x02;
export const RESOLVE_IN_ROOT = 0x10;

export const S_IFIFO = 0o010000;
export const S_IFCHR = 0o020000;
export const S_IFBLK = 0o060000;

/** glibc's makedev(3): major and minor device numbers → dev_t (as a number; exact below 2^53). */
export function makedev(major: number, minor: number): number {
  // ((major & 0xfff) << 8) | ((major & ~0xfff) << 32) | (minor & 0xff) | ((minor & ~0xff) << 12), without 32-bit JS bit ops
  return Math.floor(major / 0x1000) * 2 ** 44 + Math.floor(minor / 0x100) * 2 ** 20 + (major % 0x1000) * 0x100 + (minor % 0x100);
}

/** A failed system call: names the call, its argument and the errno, as crun does. */
export class SysError extends Error {
  constructor(readonly call: string, readonly arg: string, readonly errno: string, cause?: unknown) {
    super(`${call} \`${arg}\`: ${errno}`, cause === undefined ? undefined : { cause });
  }
}
