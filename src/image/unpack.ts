// Unpacking one layer tar (gzip, zstd or plain, sniffed) into a fresh directory that overlayfs can use
// as a lower dir: OCI whiteouts become 0/0 character devices, opaque markers the
// trusted.overlay.opaque=y xattr. The uncompressed stream is hashed and must equal the diff_id.
//
// Safety: an entry never lands outside the layer dir. Names are normalised as Docker does (leading
// `/` and `./` dropped, so `/etc/x` is `etc/x` in the layer); a name or hard link target with a `..`
// component refuses the whole layer (E_IMAGE_UNSAFE), as does any entry whose parent path goes
// through a symlink or a non-directory within the layer (a tar made from a real tree never has one).
// The layer root is fresh (mkdir fails if it exists), private (0700 until done) and written only by
// this unpack, so the writer keeps an exact map of what it made (dir, symlink, other) and checks each
// parent component against it instead of an lstat walk per entry; files are still opened with
// O_CREAT|O_EXCL|O_NOFOLLOW, so a map that disagreed with the disk would fail, never write through.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { Readable, pipeline } from 'node:stream';
import { createGunzip, type ZlibOptions } from 'node:zlib';
import tar, { type Header } from 'tar-stream';
import { RuntimeFailure } from '../errors.js';
import { SysError, S_IFBLK, S_IFCHR, S_IFIFO, makedev, type Sys } from '../runtime/sys/types.js';
import type { Compression } from './types.js';

export interface UnpackResult {
  /** Non-directory entries made: regular files, symlinks, hard links, fifos and device nodes. */
  files: number;
  /** Bytes of regular file content written. */
  bytes: number;
  /** Device nodes not made because the kernel refused mknod (EPERM, e.g. in a user namespace). */
  skippedDevices: number;
  /** Whiteouts (`.wh.NAME` → 0/0 char device) and opaque markers (`.wh..wh..opq` → xattr). */
  whiteouts: number;
  /** Compression found by sniffing the first bytes. */
  compression: Compression;
  /** The sha256 of the uncompressed tar. */
  diffId: string;
  /** One line per thing skipped (a device node, an xattr the filesystem refused, an unknown entry type). */
  notes: string[];
}

export interface UnpackOptions {
  /** The syscalls Node lacks (mknod, lsetxattr); prepareNative() must have been awaited for the real one. */
  sys: Sys;
  /** sha256:… the uncompressed tar must hash to; a mismatch refuses the layer (E_IMAGE_DIGEST). */
  diffId?: string;
}

const WHITEOUT = '.wh.';
/** Output chunk of gunzip: zlib runs on the thread pool, one round trip per chunk; 16 KiB (the default) made unpacking 2-3× slower. */
const GUNZIP_CHUNK = 256 << 10;
const OPAQUE = '.wh..wh..opq';
const OPAQUE_XATTR = 'trusted.overlay.opaque';

const NEW_FILE = fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW;
/** At most this many files being written in the background, holding at most this many bytes not yet written, at once. */
const MAX_PENDING = 64;
const MAX_PENDING_BYTES = 16 << 20;

/** A node callback call as a promise (cheaper than fs.promises' FileHandle for many tiny calls). */
function call<T = void>(f: (cb: (e: NodeJS.ErrnoException | null, v?: T) => void) => void): Promise<T> {
  return new Promise<T>((res, rej) => f((e, v) => (e ? rej(e) : res(v as T))));
}

/** Which compression a stream starts with: gzip (1f 8b), zstd (28 b5 2f fd), else none. */
export function sniffCompression(head: Uint8Array): Compression {
  if (head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd) return 'zstd';
  return 'none';
}

const unsafe = (msg: string, hint?: string) => new RuntimeFailure('E_IMAGE_UNSAFE', msg, { hint: hint ?? 'the layer tar tries to write outside its own directory; it was refused and nothing was kept' });
const badLayer = (msg: string, cause?: unknown) => new RuntimeFailure('E_IMAGE_LAYER', msg, { cause, hint: 'the layer blob is damaged or not a tar archive; remove the image and pull it again' });

/** Reads the first 4 bytes (or all, if fewer), then hands back every byte, uncompressed (gzip, zstd or as is). */
export async function* decompress(src: AsyncIterable<Uint8Array>, found: (c: Compression) => void = () => {}): AsyncGenerator<Uint8Array> {
  const it = src[Symbol.asyncIterator]();
  const head: Uint8Array[] = [];
  let n = 0;
  let ended = false;
  while (n < 4) {
    const r = await it.next();
    if (r.done) { ended = true; break; }
    head.push(r.value);
    n += r.value.byteLength;
  }
  const first = Buffer.concat(head);
  const compression = sniffCompression(first);
  found(compression);
  async function* all(): AsyncGenerator<Uint8Array> {
    try {
      yield first;
      if (ended) return;
      for (;;) {
        const r = await it.next();
        if (r.done) { ended = true; return; }
        yield r.value;
      }
    } finally {
      if (!ended) await it.return?.(); // the reader stopped early: close the source (a file, a download)
    }
  }
  if (compression === 'none') {
    yield* all();
  } else if (compression === 'gzip') {
    const raw = Readable.from(all(), { objectMode: false });
    // readableHighWaterMark (passed on to the Transform; not in the types): gunzip runs ahead of the tar writer
    const gunzip = createGunzip({ chunkSize: GUNZIP_CHUNK, readableHighWaterMark: 4 * GUNZIP_CHUNK } as ZlibOptions);
    pipeline(raw, gunzip, () => { /* errors reach the loop below through gunzip */ });
    try {
      for await (const c of gunzip) yield c as Buffer;
    } catch (e) {
      if (String((e as NodeJS.ErrnoException).code).startsWith('Z_')) throw badLayer(`gzip: ${(e as Error).message}`, e);
      throw e;
    } finally {
      raw.destroy();
    }
  } else {
    let out: Uint8Array[] = [];
    const { Decompress } = await import('fzstd'); // only for zstd layers
    const z = new Decompress((chunk) => { out.push(chunk.slice()); }); // fzstd may reuse its window: copy
    const push = (c: Uint8Array, final = false) => {
      try { z.push(c, final); } catch (e) { throw badLayer(`zstd: ${(e as Error).message}`, e); }
    };
    for await (const c of all()) {
      push(c);
      yield* out;
      out = [];
    }
    push(new Uint8Array(0), true);
    yield* out;
  }
}

/** `./a//b/` → ['a', 'b']; leading `/` dropped (Docker's behaviour); any `..` refuses the layer. */
export function entryParts(name: string, what = 'entry'): string[] {
  const parts = name.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) throw unsafe(`layer ${what} \`${name}\` has a '..' component`);
  if (parts.some((p) => p.includes('\0'))) throw unsafe(`layer ${what} \`${name}\` has a NUL byte`);
  return parts;
}

interface DirMeta { path: string; mode: number; uid: number; gid: number; mtime?: Date }

/** What this unpack has made at a path: the layer dir is fresh and private, so this map is the whole tree. */
type Kind = 'dir' | 'symlink' | 'other';

class LayerWriter {
  readonly result: UnpackResult;
  /** Directory metadata is applied last, deepest first: entries written later would change mtimes, and a 0555 dir must stay writable until then. */
  private dirs = new Map<string, DirMeta>();
  /**
   * Every path this unpack has made (relative, `a/b`) and what it is. The layer root is made fresh by
   * unpackLayerTo (mkdir fails if it exists), is 0700 and written by this writer alone, so the map is
   * exact: a parent component is a directory we made (never a symlink) exactly when the map says so,
   * without an lstat walk per entry. Replacing an entry updates the map (a removed dir drops its subtree).
   */
  private made = new Map<string, Kind>();
  /** Small files being written on the thread pool (see background()), and the first error one had. */
  private pending = new Map<string, Promise<void>>();
  private pendingBytes = 0;
  private failed: { e: unknown } | undefined;

  constructor(readonly root: string, private sys: Sys, result: UnpackResult) {
    this.result = result;
  }

  private abs(rel: string): string {
    return rel === '' ? this.root : this.root + '/' + rel;
  }

  /** The directory (relative) that will hold `parts`' last component, made (0755, root) where missing; refuses symlinks and non-dirs on the way. */
  private parent(parts: string[], name: string): string {
    let rel = '';
    for (let i = 0; i < parts.length - 1; i++) {
      rel = rel === '' ? parts[i] : rel + '/' + parts[i];
      const kind = this.made.get(rel);
      if (kind === 'dir') continue;
      if (kind === undefined) {
        const p = this.abs(rel);
        fs.mkdirSync(p, { mode: 0o755 });
        fs.chmodSync(p, 0o755); // umask
        this.made.set(rel, 'dir');
      } else if (kind === 'symlink') {
        throw unsafe(`layer entry \`${name}\` goes through the symlink \`${parts.slice(0, i + 1).join('/')}\``);
      } else {
        throw badLayer(`layer entry \`${name}\`: \`${parts.slice(0, i + 1).join('/')}\` is not a directory`);
      }
    }
    return rel;
  }

  /** Removes what is at `rel` so a new entry can take its place (a directory stays when the new entry is one too). */
  private clear(rel: string, keepDir: boolean): boolean {
    const kind = this.made.get(rel);
    if (kind === undefined) return false;
    const p = this.abs(rel);
    if (kind === 'dir') {
      if (keepDir) return true;
      fs.rmSync(p, { recursive: true, force: true });
      for (const d of this.dirs.keys()) if (d === p || d.startsWith(p + '/')) this.dirs.delete(d);
      for (const k of this.made.keys()) if (k.startsWith(rel + '/')) this.made.delete(k);
    } else {
      fs.unlinkSync(p);
    }
    this.made.delete(rel);
    return false;
  }

  async entry(h: Header, body: AsyncIterable<Uint8Array>): Promise<void> {
    const parts = entryParts(h.name);
    if (parts.length === 0) {
      // the layer root itself (`./`): only its metadata matters
      if (h.type === 'directory') this.dirs.set(this.root, { path: this.root, mode: h.mode ?? 0o755, uid: h.uid ?? 0, gid: h.gid ?? 0, mtime: h.mtime });
      return;
    }
    this.check();
    const base = parts[parts.length - 1];
    if (base.startsWith(WHITEOUT)) {
      await this.settle(); // a whiteout replaces or marks what earlier entries made
      return this.whiteout(parts, h.name);
    }
    const dir = this.parent(parts, h.name);
    const rel = dir === '' ? base : dir + '/' + base;
    // an entry that replaces one (or links to one) waits for every file still being written
    if (this.made.has(rel) || h.type === 'link') await this.settle();
    const p = this.abs(rel);
    const type = h.type ?? 'file';
    const mode = (h.mode ?? 0o644) & 0o7777;
    const t = h.mtime ?? new Date(0);
    switch (type) {
      case 'directory': {
        if (!this.clear(rel, true)) {
          fs.mkdirSync(p, { mode: 0o700 });
          this.made.set(rel, 'dir');
        }
        this.dirs.set(p, { path: p, mode, uid: h.uid ?? 0, gid: h.gid ?? 0, mtime: h.mtime });
        this.xattrs(p, h);
        return;
      }
      case 'file':
      case 'contiguous-file': {
        this.clear(rel, false);
        this.made.set(rel, 'other');
        // created and written on the thread pool while the next chunks and entries are parsed
        const f = this.background(rel, p, h, mode, t);
        try {
          for await (const c of body) {
            f.write(c);
            while (this.pendingBytes >= MAX_PENDING_BYTES && !this.failed) await this.progress();
            this.check();
          }
        } finally {
          f.end();
        }
        while (this.pending.size >= MAX_PENDING && !this.failed) await this.progress();
        this.check();
        return;
      }
      case 'symlink':
        this.clear(rel, false);
        fs.symlinkSync(h.linkname ?? '', p);
        this.made.set(rel, 'symlink');
        break;
      case 'link': {
        const target = this.linkTarget(h);
        this.clear(rel, false);
        fs.linkSync(this.abs(target), p);
        this.made.set(rel, this.made.get(target) ?? 'other'); // a hard link to a symlink is a symlink
        this.result.files++;
        return; // the inode already has its metadata
      }
      case 'character-device':
      case 'block-device':
      case 'fifo': {
        this.clear(rel, false);
        const kind = type === 'fifo' ? S_IFIFO : type === 'block-device' ? S_IFBLK : S_IFCHR;
        try {
          this.sys.mknod(p, kind | mode, type === 'fifo' ? 0 : makedev(h.devmajor ?? 0, h.devminor ?? 0));
        } catch (e) {
          if (e instanceof SysError && e.errno === 'EPERM' && type !== 'fifo') {
            this.result.skippedDevices++;
            this.result.notes.push(`${h.name}: device node ${h.devmajor}:${h.devminor} not made (mknod: EPERM)`);
            return;
          }
          throw e;
        }
        this.made.set(rel, 'other');
        break;
      }
      default:
        this.result.notes.push(`${h.name}: entry type ${type} skipped`);
        return;
    }
    this.result.files++;
    // chown first (it clears setuid/setgid and file capabilities), then xattrs, mode, times
    fs.lchownSync(p, h.uid ?? 0, h.gid ?? 0);
    this.xattrs(p, h);
    if (type !== 'symlink') fs.chmodSync(p, mode);
    fs.lutimesSync(p, t, t);
  }

  /** A hard link's target (relative): inside the layer, reached without a symlink, already unpacked, not a directory. */
  private linkTarget(h: Header): string {
    const parts = entryParts(h.linkname ?? '', `hard link target (of \`${h.name}\`)`);
    if (!parts.length) throw unsafe(`layer entry \`${h.name}\` is a hard link to the layer root`);
    let rel = '';
    for (const [i, c] of parts.entries()) {
      rel = rel === '' ? c : rel + '/' + c;
      const kind = this.made.get(rel);
      if (!kind) throw badLayer(`layer entry \`${h.name}\` is a hard link to \`${h.linkname}\`, which is not in the layer (before it)`);
      const last = i === parts.length - 1;
      if (!last && kind === 'symlink') throw unsafe(`layer entry \`${h.name}\` is a hard link through the symlink \`${parts.slice(0, i + 1).join('/')}\``);
      if (!last && kind !== 'dir') throw badLayer(`layer entry \`${h.name}\`: hard link target \`${h.linkname}\` is not reachable`);
      if (last && kind === 'dir') throw badLayer(`layer entry \`${h.name}\` is a hard link to a directory (\`${h.linkname}\`)`);
    }
    return rel;
  }

  private whiteout(parts: string[], name: string): void {
    const base = parts[parts.length - 1];
    if (base === OPAQUE) {
      // the marker's directory may come before or after it as an entry; parent() makes it when missing
      this.sys.lsetxattr(parts.length === 1 ? this.root : this.abs(this.parent(parts, name)), OPAQUE_XATTR, 'y');
      this.result.whiteouts++;
      return;
    }
    if (base.startsWith(WHITEOUT + WHITEOUT)) {
      this.result.notes.push(`${name}: ${WHITEOUT}${WHITEOUT} meta entry skipped`);
      return;
    }
    const target = base.slice(WHITEOUT.length);
    if (target === '' || target === '.' || target === '..') throw unsafe(`layer whiteout \`${name}\` names no file`);
    const dir = this.parent(parts, name);
    const rel = dir === '' ? target : dir + '/' + target;
    this.clear(rel, false);
    this.sys.mknod(this.abs(rel), S_IFCHR, makedev(0, 0));
    this.made.set(rel, 'other');
    this.result.whiteouts++;
  }

  private xattrs(p: string, h: Header): void {
    const pax = h.pax as Record<string, string> | undefined;
    if (!pax) return;
    for (const [k, v] of Object.entries(pax)) {
      if (!k.startsWith('SCHILY.xattr.')) continue;
      const name = k.slice('SCHILY.xattr.'.length);
      if (name.startsWith('trusted.overlay.')) {
        // overlayfs reads these from lower dirs (redirects, opaque, metacopy): a layer may not set them
        this.result.notes.push(`${h.name}: xattr ${name} refused (overlayfs's own)`);
        continue;
      }
      if (v.includes('\ufffd')) {
        // tar-stream decodes PAX values as UTF-8; a binary value (e.g. some security.capability) is lost
        this.result.notes.push(`${h.name}: xattr ${name} not kept (binary value)`);
        continue;
      }
      try {
        this.sys.lsetxattr(p, name, Buffer.from(v, 'utf8'));
      } catch (e) {
        if (e instanceof SysError && ['ENOTSUP', 'EOPNOTSUPP', 'EPERM'].includes(e.errno)) {
          this.result.notes.push(`${h.name}: xattr ${name} not kept (${e.errno})`);
          continue;
        }
        throw e;
      }
    }
  }

  /**
   * Creates a regular file on the thread pool (open O_EXCL|O_NOFOLLOW, writes in order, fchown,
   * xattrs, fchmod, futimes, close) so that its syscalls overlap with parsing what follows. Only for
   * a path that is free (cleared first), in a directory this unpack made: nothing else touches it
   * until settle(), which every entry that replaces or links to an earlier one awaits first.
   */
  private background(rel: string, p: string, h: Header, mode: number, t: Date): { write(c: Uint8Array): void; end(): void } {
    let fd = -1;
    // one chain per file keeps its writes in order; a failed step skips the rest, and end() records it
    let chain: Promise<unknown> = call<number>((cb) => fs.open(p, NEW_FILE, 0o600, cb)).then((f) => { fd = f; });
    const settled = () => this.wake();
    return {
      write: (c) => {
        this.pendingBytes += c.byteLength;
        this.result.bytes += c.byteLength;
        chain = chain.then(async () => {
          for (let off = 0; off < c.byteLength;) off += await call<number>((cb) => fs.write(fd, c, off, c.byteLength - off, null, cb));
        }).finally(() => { this.pendingBytes -= c.byteLength; settled(); });
      },
      end: () => {
        this.result.files++;
        const job = chain.then(async () => {
          await call((cb) => fs.fchown(fd, h.uid ?? 0, h.gid ?? 0, cb)); // first: it clears setuid/setgid and capabilities
          this.xattrs(p, h);
          await call((cb) => fs.fchmod(fd, mode, cb));
          await call((cb) => fs.futimes(fd, t, t, cb));
        }).finally(() => (fd >= 0 ? call((cb) => fs.close(fd, cb)) : undefined))
          .catch((e) => { this.failed ??= { e }; })
          .finally(() => { this.pending.delete(rel); settled(); });
        this.pending.set(rel, job);
      },
    };
  }

  /** Throws the first error a background file had. */
  private check(): void {
    if (this.failed) throw this.failed.e;
  }

  private waiters: (() => void)[] = [];
  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
  /** Resolves when a background write or file has finished. */
  private progress(): Promise<void> {
    return new Promise((res) => this.waiters.push(res));
  }

  /** Waits for every file still being written; throws the first error one of them had. */
  async settle(): Promise<void> {
    while (this.pending.size) await Promise.all(this.pending.values());
    this.check();
  }

  /** After a failure: waits for the files still being written (their errors do not matter now), so the layer dir can be removed. */
  async drain(): Promise<void> {
    while (this.pending.size) await Promise.all(this.pending.values());
  }

  /** Directory metadata, deepest first, after every entry is in place. */
  finish(): void {
    const dirs = [...this.dirs.values()].sort((a, b) => b.path.length - a.path.length);
    for (const d of dirs) {
      fs.lchownSync(d.path, d.uid, d.gid);
      fs.chmodSync(d.path, d.mode);
      if (d.mtime) fs.utimesSync(d.path, d.mtime, d.mtime);
    }
  }

  hasRootMeta(): boolean {
    return this.dirs.has(this.root);
  }
}

/**
 * Unpacks a layer into `dest`, which must not exist (its parent must). On any failure — a damaged
 * stream, an unsafe entry, a diff_id mismatch — `dest` is removed before the error is thrown.
 * The root ends 0755 unless the tar carries a `./` entry saying otherwise.
 */
export async function unpackLayerTo(data: Uint8Array | AsyncIterable<Uint8Array>, dest: string, opts: UnpackOptions): Promise<UnpackResult> {
  // an error of the source itself (a broken download, an abort, a blob that fails its digest) is
  // thrown as it is, not dressed up as a damaged layer
  let sourceError: { e: unknown } | undefined;
  const source = data instanceof Uint8Array ? (async function* () { yield data; })() : (async function* () {
    try { yield* data; } catch (e) { sourceError = { e }; throw e; }
  })();
  fs.mkdirSync(dest, { mode: 0o700 });
  fs.chmodSync(dest, 0o700);
  const result: UnpackResult = { files: 0, bytes: 0, skippedDevices: 0, whiteouts: 0, compression: 'none', diffId: '', notes: [] };
  const w = new LayerWriter(dest, opts.sys, result);
  const hash = createHash('sha256');
  const ex = tar.extract();
  // drain, or close when the reader below gave up (then the feeder stops too)
  const writable = () => new Promise<void>((res) => {
    const done = () => { ex.off('drain', done); ex.off('close', done); res(); };
    ex.on('drain', done);
    ex.on('close', done);
  });
  const feed = (async () => {
    for await (const c of decompress(source, (c) => { result.compression = c; })) {
      if (ex.destroying) return;
      hash.update(c);
      if (!ex.write(c) && !ex.destroying) await writable();
    }
    ex.end(null);
  })();
  feed.catch((e) => ex.destroy(e)); // the reader sees the feeder's error (a bad gzip stream, say) as its own
  try {
    try {
      for await (const e of ex) {
        try {
          await w.entry(e.header, e as AsyncIterable<Uint8Array>);
        } finally {
          e.resume(); // drain what the entry did not read (links, dirs, skipped types)
        }
      }
      await w.settle();
    } catch (e) {
      if (sourceError) throw sourceError.e;
      throw e instanceof RuntimeFailure || e instanceof SysError ? e
        : typeof (e as NodeJS.ErrnoException).code === 'string' && (e as NodeJS.ErrnoException).syscall
          ? new RuntimeFailure('E_IMAGE_UNPACK', `unpacking a layer into ${dest}: ${(e as Error).message}`, { cause: e })
          : badLayer(`the layer is not a valid tar: ${(e as Error).message}`, e);
    }
    try { await feed; } catch (e) { throw sourceError ? sourceError.e : e; }
    result.diffId = 'sha256:' + hash.digest('hex');
    if (opts.diffId && opts.diffId !== result.diffId) {
      throw new RuntimeFailure('E_IMAGE_DIGEST', `layer content does not match its diff_id: expected ${opts.diffId}, got ${result.diffId}`, {
        hint: 'the layer blob or the image config is corrupt; remove the image and pull it again',
      });
    }
    w.finish();
    if (!w.hasRootMeta()) fs.chmodSync(dest, 0o755);
    return result;
  } catch (e) {
    if (!ex.destroying) ex.destroy();
    await w.drain();
    fs.rmSync(dest, { recursive: true, force: true });
    throw e;
  }
}
