// The real Sys: node:fs for file operations, koffi (loaded lazily, only here) for mount/umount2.
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
    errno: () => koffi.errno(),
  };
  return libc;
}
/** Call before mount/umount2 (koffi is imported lazily to keep start-up lean). */
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
    if (!libc) throw new Error('prepareNative() must be awaited before mount');
    if (libc.mount(s, t, f, fl, d) !== 0) throw new SysError('mount', t, errnoName(libc.errno()));
  },
  rmtree: (p) => wrap('rmtree', p, () => {
    if (!p.startsWith('/') || p.split('/').filter((x) => x && x !== '.' && x !== '..').length < 3 || p.includes('/../')) throw Object.assign(new Error('refusing to remove a shallow path'), { code: 'EINVAL' });
    fs.rmSync(p, { recursive: true, force: true, maxRetries: 3 });
  }),
  umount2: (t, fl) => {
    if (!libc) throw new Error('prepareNative() must be awaited before umount2');
    if (libc.umount2(t, fl) !== 0) throw new SysError('umount2', t, errnoName(libc.errno()));
  },
};
