// The real Sys: node:fs for file operations, koffi (loaded lazily, only here) for mount/umount2,
// mknod, the l*xattr calls and openat2 (which Node lacks).
import * as fs from 'node:fs';
import { SysError, type Sys } from './types.js';

function wrap<T>(call: string, arg: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new SysError(call, arg, err.code ?? String(err.message), e);
  }
}

interface Libc {
  mount: (s: string | null, t: string, f: string | null, fl: number, d: string | null) => number;
  umount2: (t: string, fl: number) => number;
  mknod: (p: string, mode: number, dev: number) => number;
  lsetxattr: (p: string, name: string, value: Uint8Array, size: number, flags: number) => number;
  lgetxattr: (p: string, name: string, value: Uint8Array | null, size: number) => number;
  openat2: (dirfd: number, path: string, how: Uint8Array) => number;
  errno: () => number;
}
let libc: Libc | undefined;
async function loadLibc(): Promise<Libc> {
  if (libc) return libc;
  const koffi = (await import('koffi')).default;
  const lib = koffi.load('libc.so.6');
  libc = {
    mount: lib.func('int mount(const char *, const char *, const char *, unsigned long, const char *)'),
    umount2: lib.func('int umount2(const char *, int)'),
    mknod: mknodOf(koffi, lib),
    lsetxattr: lib.func('int lsetxattr(const char *, const char *, const void *, size_t, int)'),
    lgetxattr: lib.func('intptr_t lgetxattr(const char *, const char *, void *, size_t)'),
    openat2: openat2Of(lib),
    errno: () => koffi.errno(),
  };
  return libc;
}
type Koffi = typeof import('koffi').default;
/** mknod is a real symbol from glibc 2.33; before that only __xmknod(_MKNOD_VER = 0, path, mode, &dev) exists. */
function mknodOf(koffi: Koffi, lib: ReturnType<Koffi['load']>): Libc['mknod'] {
  try {
    return lib.func('int mknod(const char *, uint32_t, uint64_t)');
  } catch {
    const x = lib.func('int __xmknod(int, const char *, uint32_t, uint64_t *)');
    return (p, mode, dev) => x(0, p, mode, [dev]);
  }
}
/** openat2 has no glibc wrapper: syscall(2) with its number (437 on x86_64 and aarch64 alike). */
function openat2Of(lib: ReturnType<Koffi['load']>): Libc['openat2'] {
  const syscall = lib.func('long syscall(long, ...)');
  return (dirfd, path, how) => Number(syscall(437, 'int', dirfd, 'const char *', path, 'void *', how, 'size_t', how.byteLength));
}
function native(call: string): Libc {
  if (!libc) throw new Error(`prepareNative() must be awaited before ${call}`);
  return libc;
}
/** Call before mount/umount2/mknod/lsetxattr/lgetxattr (koffi is imported lazily to keep start-up lean). */
export const prepareNative = loadLibc;

import { errnoName } from '../../plan/errno.js';

export const realSys: Sys = {
  mkdir: (p, mode, recursive) => wrap('mkdir', p, () => { fs.mkdirSync(p, { mode, recursive }); }),
  rmdir: (p) => wrap('rmdir', p, () => fs.rmdirSync(p)),
  chmod: (p, mode) => wrap('chmod', p, () => fs.chmodSync(p, mode)),
  modeOf: (p) => { try { return fs.lstatSync(p).mode & 0o7777; } catch { return undefined; } },
  writeFile: (p, d) => wrap('write', p, () => fs.writeFileSync(p, d)),
  readFile: (p) => wrap('read', p, () => fs.readFileSync(p, 'utf8')),
  exists: (p) => fs.existsSync(p),
  kill: (pid, sig) => {
    try { process.kill(pid, sig); return true; } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ESRCH') return false;
      throw new SysError('kill', String(pid), (e as NodeJS.ErrnoException).code ?? 'EINVAL', e);
    }
  },
  mount: (s, t, f, fl, d) => {
    const c = native('mount');
    if (c.mount(s, t, f, fl, d) !== 0) throw new SysError('mount', t, errnoName(c.errno()));
  },
  rmtree: (p) => wrap('rmtree', p, () => {
    if (!p.startsWith('/') || p.split('/').filter((x) => x && x !== '.' && x !== '..').length < 3 || p.includes('/../')) throw Object.assign(new Error('refusing to remove a shallow path'), { code: 'EINVAL' });
    fs.rmSync(p, { recursive: true, force: true, maxRetries: 3 });
  }),
  umount2: (t, fl) => {
    const c = native('umount2');
    if (c.umount2(t, fl) !== 0) throw new SysError('umount2', t, errnoName(c.errno()));
  },
  mknod: (p, mode, dev) => {
    const c = native('mknod');
    if (c.mknod(p, mode, dev) !== 0) throw new SysError('mknod', p, errnoName(c.errno()));
  },
  lsetxattr: (p, name, value) => {
    const c = native('lsetxattr');
    const v = typeof value === 'string' ? Buffer.from(value) : value;
    if (c.lsetxattr(p, name, v, v.byteLength, 0) !== 0) throw new SysError('lsetxattr', `${p} ${name}`, errnoName(c.errno()));
  },
  openat2: (dirfd, p, flags, mode, resolve) => {
    const c = native('openat2');
    const how = Buffer.alloc(24); // struct open_how { u64 flags; u64 mode; u64 resolve; }
    how.writeBigUInt64LE(BigInt(flags), 0);
    how.writeBigUInt64LE(BigInt(mode), 8);
    how.writeBigUInt64LE(BigInt(resolve), 16);
    const fd = c.openat2(dirfd, p, how);
    if (fd < 0) throw new SysError('openat2', p, errnoName(c.errno()));
    return fd;
  },
  lgetxattr: (p, name) => {
    const c = native('lgetxattr');
    for (;;) {
      const size = c.lgetxattr(p, name, null, 0);
      const e = size < 0 ? errnoName(c.errno()) : '';
      if (e === 'ENODATA') return undefined;
      if (e) throw new SysError('lgetxattr', `${p} ${name}`, e);
      const buf = Buffer.alloc(size);
      const n = c.lgetxattr(p, name, buf, size);
      if (n >= 0) return buf.subarray(0, n);
      if (errnoName(c.errno()) !== 'ERANGE') throw new SysError('lgetxattr', `${p} ${name}`, errnoName(c.errno()));
      // the value grew between the two calls: ask again
    }
  },
};
