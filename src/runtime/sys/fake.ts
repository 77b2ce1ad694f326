// A recording fake Sys for unit tests: keeps an in-memory file tree, records every call,
// and can fail the Nth call (or calls matching a predicate) with a chosen errno.
import { SysError, type Sys } from './types.js';

export interface FakeCall { call: keyof Sys; args: unknown[] }

export class FakeSys implements Sys {
  calls: FakeCall[] = [];
  files = new Map<string, string>();
  dirs = new Set<string>(['/']);
  private failures: { match: (c: FakeCall, n: number) => boolean; errno: string }[] = [];

  /** Fail the n-th call (1-based, over all calls) or every call the predicate matches. */
  failOn(match: number | ((c: FakeCall) => boolean), errno = 'EPERM'): this {
    this.failures.push({ match: typeof match === 'number' ? (_c, n) => n === match : (c) => match(c), errno });
    return this;
  }

  private rec(call: keyof Sys, args: unknown[], arg: string): void {
    const c = { call, args };
    this.calls.push(c);
    const f = this.failures.find((x) => x.match(c, this.calls.length));
    if (f) throw new SysError(call, arg, f.errno);
  }

  mkdir(path: string, mode: number, recursive: boolean): void {
    this.rec('mkdir', [path, mode, recursive], path);
    if (this.dirs.has(path) && !recursive) throw new SysError('mkdir', path, 'EEXIST');
    const parts = path.split('/').filter(Boolean);
    for (let i = 1; i <= parts.length; i++) {
      const p = '/' + parts.slice(0, i).join('/');
      if (i < parts.length && !this.dirs.has(p) && !recursive) throw new SysError('mkdir', path, 'ENOENT');
      this.dirs.add(p);
    }
  }
  rmtree(path: string): void {
    this.rec('rmtree', [path], path);
    for (const d of [...this.dirs]) if (d === path || d.startsWith(path + '/')) this.dirs.delete(d);
    for (const f of [...this.files.keys()]) if (f.startsWith(path + '/')) this.files.delete(f);
  }
  rmdir(path: string): void {
    this.rec('rmdir', [path], path);
    if (!this.dirs.has(path)) throw new SysError('rmdir', path, 'ENOENT');
    this.dirs.delete(path);
  }
  chmod(path: string, mode: number): void {
    this.rec('chmod', [path, mode], path);
    if (!this.dirs.has(path) && !this.files.has(path)) throw new SysError('chmod', path, 'ENOENT');
  }
  modeOf(path: string): number | undefined {
    return this.dirs.has(path) || this.files.has(path) ? 0o755 : undefined;
  }
  writeFile(path: string, data: string): void {
    this.rec('writeFile', [path, data], path);
    this.files.set(path, data);
  }
  readFile(path: string): string {
    this.rec('readFile', [path], path);
    const d = this.files.get(path);
    if (d === undefined) throw new SysError('read', path, 'ENOENT');
    return d;
  }
  exists(path: string): boolean {
    return this.dirs.has(path) || this.files.has(path);
  }
  kill(pid: number, signal: NodeJS.Signals | number): boolean {
    this.rec('kill', [pid, signal], String(pid));
    return true;
  }
  mount(source: string | null, target: string, fstype: string | null, flags: number, data: string | null): void {
    this.rec('mount', [source, target, fstype, flags, data], target);
  }
  umount2(target: string, flags: number): void {
    this.rec('umount2', [target, flags], target);
  }
  /** Device nodes made, by path: the mode (type + permissions) and dev. */
  nodes = new Map<string, { mode: number; dev: number }>();
  /** Extended attributes set, by path then name. */
  xattrs = new Map<string, Map<string, Buffer>>();
  mknod(path: string, mode: number, dev: number): void {
    this.rec('mknod', [path, mode, dev], path);
    if (this.nodes.has(path)) throw new SysError('mknod', path, 'EEXIST');
    this.nodes.set(path, { mode, dev });
  }
  lsetxattr(path: string, name: string, value: Uint8Array | string): void {
    this.rec('lsetxattr', [path, name, value], `${path} ${name}`);
    if (!this.xattrs.has(path)) this.xattrs.set(path, new Map());
    this.xattrs.get(path)!.set(name, Buffer.from(value));
  }
  lgetxattr(path: string, name: string): Buffer | undefined {
    this.rec('lgetxattr', [path, name], `${path} ${name}`);
    return this.xattrs.get(path)?.get(name);
  }
  private nextFd = 100;
  openat2(dirfd: number, path: string, flags: number, mode: number, resolve: number): number {
    this.rec('openat2', [dirfd, path, flags, mode, resolve], path);
    return this.nextFd++;
  }
}
