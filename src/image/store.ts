// The content store under <data root>/images (layout in types.ts): verified blobs, layers unpacked
// once, names → manifest digests, pruning. Safe against a second niwa process doing the same thing at
// the same time and against being killed half-way: blobs and layers are written under tmp/ with a
// name that carries the writer's pid, and appear under blobs/ or layers/ only by rename, complete.
//
// Concurrency, in short:
// - two writers of the same blob or layer both finish; the second rename replaces an identical blob
//   or, for a layer dir, fails (ENOTEMPTY/EEXIST) and the loser drops its copy;
// - repositories.json is read-modified-written under an O_EXCL lock file holding the pid (stale when
//   that pid is dead), written to tmp/ and renamed;
// - prune holds the same lock for its whole run and keeps what live leases (tmp/<pid>.*.lease, see
//   `lease`) name, so a pull in progress in another process loses nothing it has written so far.
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { RuntimeFailure, UserError } from '../errors.js';
import { prepareNative, realSys } from '../runtime/sys/real.js';
import type { Sys } from '../runtime/sys/types.js';
import { isDigest, type ImageConfigFile, type ImageManifest, type ImageStore, type LayerRecord, type StoredImage } from './types.js';

/** A record of repositories.json: canonical name → the manifest it points at. */
export interface NameRecord { digest: string; pulledAt: string }

/** Digests a writer is about to make reachable; prune keeps them while the lease's process lives. */
export interface Lease {
  add(digest: string): void;
  release(): void;
}

export interface Store extends ImageStore {
  /** Every name and what it points at. */
  names(): Record<string, NameRecord>;
  /**
   * Protects manifest, config, blob and layer digests from a concurrent prune until release() (or until
   * this process dies). A pull should take one before its first putBlob and release it after tag().
   * A manifest digest covers its config and layers once the manifest blob is stored.
   */
  lease(digests?: string[]): Lease;
}

export interface StoreOptions {
  /** Syscalls Node lacks (mknod, lsetxattr) for unpacking; default the real one. */
  sys?: Sys;
  /** How long tag/untag/prune wait for the repositories lock before giving up (ms); default 10 s. */
  lockTimeoutMs?: number;
  /**
   * putLayer unpacks layers of at least this many (compressed) bytes on a worker thread (only with
   * the real Sys). Default: never, unless NIWA_UNPACK_THREADS=1 (then from 2 MiB). Measured on the
   * loaded 2-core bench machine, in turn: a worker per layer ≈1.3 s against ≈1.0 s in line (each
   * worker ≈0.1 s to start and load tar-stream and koffi); one shared worker ≈1.38 s against ≈1.13 s.
   * Kept, tested both ways, for machines with cores to spare.
   */
  threadMin?: number;
}

const MAX_MANIFEST = 4 << 20;
/** Reads of a stored blob for unpacking, and the batch a download feeds the unpacker: big enough that per-chunk costs vanish. */
const READ_CHUNK = 1 << 20;
const FEED_BATCH = 256 << 10;
/** With NIWA_UNPACK_THREADS=1, layers this big (compressed) or bigger are unpacked on a worker thread (smaller ones are not worth a thread's start-up). */
const THREAD_MIN = 2 << 20;
/** How far blob writes (on the thread pool) may fall behind the download before it waits for them. */
const BLOB_AHEAD = 8 << 20;

const fsyncAsync = (fd: number) => new Promise<void>((res, rej) => fs.fsync(fd, (e) => (e ? rej(e) : res())));

const badDigest = (d: string) => new RuntimeFailure('E_IMAGE_BAD_DIGEST', `not a sha256 digest: ${JSON.stringify(d)}`, { hint: 'digests are written sha256:<64 lowercase hex digits>' });
const hexOf = (d: string): string => {
  if (!isDigest(d)) throw badDigest(d);
  return d.slice('sha256:'.length);
};

/** True while a process with this pid exists (EPERM means it exists but is not ours). */
export function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Names of tmp/ entries: `<pid>.<random>.<kind>`; the pid says whether the entry is still being written. */
const tmpName = (kind: string) => `${process.pid}.${randomBytes(6).toString('hex')}.${kind}`;
const tmpOwner = (name: string): number => Number(name.split('.')[0]);

function lstatOrUndefined(p: string): fs.Stats | undefined {
  try { return fs.lstatSync(p); } catch { return undefined; }
}

/** Bytes under a path (files' sizes; directories themselves count nothing). */
function du(p: string): number {
  const st = lstatOrUndefined(p);
  if (!st) return 0;
  if (!st.isDirectory()) return st.size;
  let n = 0;
  for (const f of fs.readdirSync(p)) n += du(join(p, f));
  return n;
}

function fsyncDir(d: string): void {
  const fd = fs.openSync(d, 'r');
  try { fs.fsyncSync(fd); } finally { fs.closeSync(fd); }
}

/**
 * Writes a file atomically: tmp file, fsync, rename. `durable: false` skips the fsync, for files that
 * matter only while their writer lives (leases): readers still never see half of one.
 */
function writeAtomic(tmpDir: string, dest: string, data: string, durable = true): void {
  const tmp = join(tmpDir, tmpName('json'));
  const fd = fs.openSync(tmp, 'wx', 0o600);
  try {
    fs.writeSync(fd, data);
    if (durable) fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, dest);
}

export function openStore(dataRoot: string, opts: StoreOptions = {}): Store {
  const sys = opts.sys ?? realSys;
  const lockTimeoutMs = opts.lockTimeoutMs ?? 10_000;
  const threadMin = opts.threadMin ?? (process.env.NIWA_UNPACK_THREADS === '1' ? THREAD_MIN : Infinity);
  const root = join(dataRoot, 'images');
  const blobsDir = join(root, 'blobs', 'sha256');
  const layersDir = join(root, 'layers', 'sha256');
  const tmpDir = join(root, 'tmp');
  const reposFile = join(root, 'repositories.json');
  const lockFile = join(root, 'repositories.lock');
  const inflight = new Map<string, Promise<void>>();

  /** Makes the store's directories: layers/ traversable (0711) so containers in a user namespace reach their lower dirs; the rest 0700. */
  function ensure(): void {
    if (fs.existsSync(tmpDir) && fs.existsSync(layersDir) && fs.existsSync(blobsDir)) return;
    if (!fs.existsSync(dataRoot)) { fs.mkdirSync(dataRoot, { recursive: true, mode: 0o711 }); fs.chmodSync(dataRoot, 0o711); }
    for (const [d, mode] of [[root, 0o711], [join(root, 'blobs'), 0o700], [blobsDir, 0o700], [join(root, 'layers'), 0o711], [layersDir, 0o711], [tmpDir, 0o700]] as const) {
      try { fs.mkdirSync(d, { mode }); } catch (e) { if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e; continue; }
      fs.chmodSync(d, mode); // umask
    }
  }

  const blobPath = (d: string) => join(blobsDir, hexOf(d));
  const layerDir = (d: string) => join(layersDir, hexOf(d));
  const hasBlob = (d: string) => isDigest(d) && fs.existsSync(blobPath(d));
  const hasLayer = (d: string) => isDigest(d) && fs.existsSync(layerDir(d));

  function readBlob(d: string): Buffer {
    try {
      return fs.readFileSync(blobPath(d));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      throw new RuntimeFailure('E_IMAGE_MISSING_BLOB', `blob ${d} is not in the store (${root})`, { hint: 'pull or load the image again' });
    }
  }

  async function putBlob(digest: string, size: number | undefined, data: Uint8Array | AsyncIterable<Uint8Array>): Promise<number> {
    const hex = hexOf(digest);
    ensure();
    const tmp = join(tmpDir, tmpName('blob'));
    const hash = createHash('sha256');
    let written = 0;
    const fd = fs.openSync(tmp, 'wx', 0o600);
    try {
      try {
        for await (const c of data instanceof Uint8Array ? [data] : data) {
          hash.update(c);
          fs.writeSync(fd, c);
          written += c.byteLength;
          if (size !== undefined && written > size) break; // no need to read the rest of a too-long blob
        }
        await fsyncAsync(fd); // on the thread pool: other downloads and unpacks go on meanwhile
      } finally {
        fs.closeSync(fd);
      }
      const actual = 'sha256:' + hash.digest('hex');
      if (size !== undefined && written !== size) {
        throw new RuntimeFailure('E_IMAGE_DIGEST', `blob ${digest}: expected ${size} bytes, got ${written}${written > size ? ' or more' : ''}`, { hint: 'the download was cut short or the source is corrupt; try again' });
      }
      if (actual !== digest) {
        throw new RuntimeFailure('E_IMAGE_DIGEST', `blob content does not match its digest: expected ${digest}, got ${actual}`, { hint: 'the source sent different bytes than its manifest promised; try again, and distrust the source if it persists' });
      }
      fs.renameSync(tmp, join(blobsDir, hex));
      fsyncDir(blobsDir);
      return written;
    } catch (e) {
      fs.rmSync(tmp, { force: true });
      throw e;
    }
  }

  async function unpackOnce(layer: LayerRecord): Promise<void> {
    const dest = layerDir(layer.diffId);
    if (fs.existsSync(dest)) return;
    if (!hasBlob(layer.digest)) throw new RuntimeFailure('E_IMAGE_MISSING_BLOB', `layer blob ${layer.digest} is not in the store; it must be stored before it is unpacked`);
    ensure();
    if (sys === realSys) await prepareNative();
    const tmp = join(tmpDir, tmpName('layer'));
    try {
      const { unpackLayerTo } = await import('./unpack.js'); // tar-stream and fzstd only when there is something to unpack
      await unpackLayerTo(fs.createReadStream(blobPath(layer.digest), { highWaterMark: READ_CHUNK }), tmp, { sys, diffId: layer.diffId });
    } catch (e) {
      if (e instanceof RuntimeFailure) throw new RuntimeFailure(e.code, `layer ${layer.digest} (diff_id ${layer.diffId}): ${e.message}`, { hint: e.hint, cause: e });
      throw e;
    }
    try {
      fs.renameSync(tmp, dest);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      fs.rmSync(tmp, { recursive: true, force: true });
      if ((code === 'ENOTEMPTY' || code === 'EEXIST') && fs.existsSync(dest)) return; // another process won the race
      throw e;
    }
  }

  /**
   * A layer's blob, stored and unpacked in one pass as its bytes arrive: each chunk is hashed and
   * written to tmp/<blob> and fed to the unpacker, which writes tmp/<layer> and hashes the tar. Only
   * when the stream has ended, its size and digest match the blob's and the tar's match the diff_id
   * is anything renamed: the blob into blobs/, then the layer into layers/. Any failure (a broken or
   * corrupt stream, an unsafe tar, a wrong diff_id, an abort) removes both tmp entries, so nothing of
   * it is ever used. When the unpacker gives up first, the rest of the stream is still hashed (up to
   * the declared size) so that a corrupt blob is reported as such (E_IMAGE_DIGEST).
   */
  async function putLayer(layer: LayerRecord, data: AsyncIterable<Uint8Array>): Promise<number> {
    const hex = hexOf(layer.digest);
    const diffHex = hexOf(layer.diffId);
    ensure();
    if (sys === realSys) await prepareNative();
    const tmpBlob = join(tmpDir, tmpName('blob'));
    const tmpLayer = join(tmpDir, tmpName('layer'));
    const hash = createHash('sha256');
    let written = 0;
    const it = data[Symbol.asyncIterator]();
    let ended = false;
    const fd = fs.openSync(tmpBlob, 'wx', 0o600);
    let closed = false;
    const tooLong = () => new RuntimeFailure('E_IMAGE_DIGEST', `blob ${layer.digest}: expected ${layer.size} bytes, got ${written} or more`, { hint: 'the source sent more than its manifest declares; try again, and distrust the source if it persists' });
    let sourceFailed = false;
    let synced: Promise<void> | undefined;
    /** Reads the next chunk of the download into the hash (and the blob file while `keep`). */
    const next = async (keep: boolean): Promise<Uint8Array | undefined> => {
      let r: IteratorResult<Uint8Array>;
      try { r = await it.next(); } catch (e) { sourceFailed = true; throw e; }
      if (r.done) {
        ended = true;
        // the whole blob is here: its fsync runs while the unpacker finishes (kept only if all verifies)
        if (keep) synced = allWritten().then(() => fsyncAsync(fd));
        synced?.catch(() => undefined); // awaited below
        return undefined;
      }
      const c = r.value;
      hash.update(c);
      written += c.byteLength;
      if (written > layer.size) { sourceFailed = true; throw tooLong(); }
      if (keep) await write(c);
      return c;
    };
    // blob writes go to the thread pool in order (one chain), at most BLOB_AHEAD bytes behind
    let chain: Promise<void> = Promise.resolve();
    let behind = 0;
    let writeError: { e: unknown } | undefined;
    const write = async (c: Uint8Array) => {
      behind += c.byteLength;
      chain = chain.then(async () => {
        if (writeError) return;
        try {
          for (let off = 0; off < c.byteLength;) off += await new Promise<number>((res, rej) => fs.write(fd, c, off, c.byteLength - off, null, (e, n) => (e ? rej(e) : res(n))));
        } catch (e) { writeError = { e }; }
        behind -= c.byteLength;
      });
      if (behind >= BLOB_AHEAD) await chain;
      if (writeError) throw writeError.e;
    };
    const allWritten = async () => { await chain; if (writeError) throw writeError.e; };
    // The unpacker's source; batches small network chunks (gunzip costs a thread-pool round trip per
    // write). Returning early does not close the download: the catch below may still need to drain it.
    async function* feed(): AsyncGenerator<Uint8Array> {
      let batch: Uint8Array[] = [];
      let n = 0;
      for (;;) {
        const c = await next(true);
        if (c) { batch.push(c); n += c.byteLength; }
        if ((!c || n >= FEED_BATCH) && n > 0) {
          yield batch.length === 1 ? batch[0] : Buffer.concat(batch, n);
          batch = [];
          n = 0;
        }
        if (!c) return;
      }
    }
    const digestError = (actual: string) => written !== layer.size
      ? new RuntimeFailure('E_IMAGE_DIGEST', `blob ${layer.digest}: expected ${layer.size} bytes, got ${written}`, { hint: 'the download was cut short or the source is corrupt; try again' })
      : new RuntimeFailure('E_IMAGE_DIGEST', `blob content does not match its digest: expected ${layer.digest}, got ${actual}`, { hint: 'the source sent different bytes than its manifest promised; try again, and distrust the source if it persists' });
    try {
      try {
        if (sys === realSys && layer.size >= threadMin) {
          // on a worker thread: another core parses, hashes and writes while this one downloads
          const { unpackLayerInThread } = await import('./unpack-thread.js');
          await unpackLayerInThread(feed(), tmpLayer, { diffId: layer.diffId });
        } else {
          const { unpackLayerTo } = await import('./unpack.js');
          await unpackLayerTo(feed(), tmpLayer, { sys, diffId: layer.diffId });
        }
        while (!ended) await next(true); // whatever followed the end of the tar (padding) is part of the blob
      } catch (e) {
        if (sourceFailed) throw e; // the download broke, was aborted, or sent too much: as it is
        // the unpacker refused: first, is the blob itself what the manifest promised?
        while (!ended) await next(false);
        const actual = 'sha256:' + hash.digest('hex');
        if (actual !== layer.digest || written !== layer.size) throw digestError(actual);
        if (e instanceof RuntimeFailure) throw new RuntimeFailure(e.code, `layer ${layer.digest} (diff_id ${layer.diffId}): ${e.message}`, { hint: e.hint, cause: e });
        throw e;
      }
      const actual = 'sha256:' + hash.digest('hex');
      if (actual !== layer.digest || written !== layer.size) throw digestError(actual);
      await (synced ?? allWritten().then(() => fsyncAsync(fd)));
      fs.closeSync(fd);
      closed = true;
      fs.renameSync(tmpBlob, join(blobsDir, hex));
      fsyncDir(blobsDir);
      try {
        fs.renameSync(tmpLayer, join(layersDir, diffHex));
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (!((code === 'ENOTEMPTY' || code === 'EEXIST') && fs.existsSync(join(layersDir, diffHex)))) throw e;
        fs.rmSync(tmpLayer, { recursive: true, force: true }); // another writer won the race: same content
      }
      return written;
    } catch (e) {
      await chain; // no write of ours lands after the file is gone (nor an fsync after the close)
      await synced?.catch(() => undefined);
      if (!closed) fs.closeSync(fd);
      fs.rmSync(tmpBlob, { force: true });
      fs.rmSync(tmpLayer, { recursive: true, force: true });
      if (!ended) await Promise.resolve(it.return?.()).catch(() => undefined); // close the download
      throw e;
    }
  }

  function unpackLayer(layer: LayerRecord): Promise<void> {
    hexOf(layer.diffId);
    hexOf(layer.digest);
    const running = inflight.get(layer.diffId);
    if (running) return running;
    const p = unpackOnce(layer).finally(() => inflight.delete(layer.diffId));
    inflight.set(layer.diffId, p);
    return p;
  }

  // --- names ---

  function readNames(): Record<string, NameRecord> {
    let text: string;
    try { text = fs.readFileSync(reposFile, 'utf8'); } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return Object.create(null) as Record<string, NameRecord>;
      throw e;
    }
    try {
      const v = JSON.parse(text) as Record<string, NameRecord>;
      // no prototype: a name is only ever an own key (`__proto__` included)
      if (v && typeof v === 'object' && !Array.isArray(v)) return Object.assign(Object.create(null) as Record<string, NameRecord>, v);
    } catch { /* reported below */ }
    throw new RuntimeFailure('E_IMAGE_STORE', `${reposFile} is not valid JSON`, { hint: 'restore it, or remove it (the names are lost; the images stay until pruned)' });
  }

  /** Runs f holding the repositories lock (an O_EXCL file holding our pid; stale when that pid is dead). */
  function withLock<T>(f: () => T): T {
    ensure();
    const deadline = Date.now() + lockTimeoutMs;
    let fd: number | undefined;
    for (let wait = 5; fd === undefined; wait = Math.min(wait * 2, 100)) {
      try {
        fd = fs.openSync(lockFile, 'wx', 0o600);
        fs.writeSync(fd, String(process.pid));
        break;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
      const st = lstatOrUndefined(lockFile);
      let owner = NaN;
      try { owner = Number(fs.readFileSync(lockFile, 'utf8')); } catch { /* gone meanwhile */ }
      // an empty lock is one being written right now, unless it has stayed empty for a while
      const stale = st && (Number.isInteger(owner) && owner > 0 ? !pidAlive(owner) : Date.now() - st.mtimeMs > 5_000);
      if (stale && st.ino === lstatOrUndefined(lockFile)?.ino) {
        fs.rmSync(lockFile, { force: true });
        continue;
      }
      if (Date.now() > deadline) {
        throw new RuntimeFailure('E_IMAGE_LOCKED', `the image store is locked by process ${Number.isNaN(owner) ? '?' : owner} (${lockFile})`, { hint: `another niwa is changing image names; if no niwa process is running, remove ${lockFile}` });
      }
      sleepSync(wait);
    }
    try {
      return f();
    } finally {
      fs.closeSync(fd);
      fs.rmSync(lockFile, { force: true });
    }
  }

  function checkName(name: string): void {
    if (!name || /[\s\0]/.test(name) || name.length > 1024) throw new UserError('E_IMAGE_NAME', `invalid image name ${JSON.stringify(name)}`);
  }

  function manifestOf(digest: string): ImageManifest | undefined {
    if (!hasBlob(digest)) return undefined;
    if (fs.statSync(blobPath(digest)).size > MAX_MANIFEST) return undefined;
    try {
      const m = JSON.parse(readBlob(digest).toString('utf8')) as ImageManifest;
      return m && typeof m === 'object' && m.config && isDigest(m.config.digest) && Array.isArray(m.layers) ? m : undefined;
    } catch {
      return undefined;
    }
  }

  function configOf(m: ImageManifest): ImageConfigFile | undefined {
    if (!hasBlob(m.config.digest)) return undefined;
    try {
      const c = JSON.parse(readBlob(m.config.digest).toString('utf8')) as ImageConfigFile;
      return c && c.rootfs && Array.isArray(c.rootfs.diff_ids) ? c : undefined;
    } catch {
      return undefined;
    }
  }

  /** The layers of a manifest, paired with the config's diff_ids (a mismatch in count is a broken image). */
  function layersOf(m: ImageManifest, c: ImageConfigFile): LayerRecord[] {
    if (m.layers.length !== c.rootfs.diff_ids.length) {
      throw new RuntimeFailure('E_IMAGE_INVALID', `the manifest lists ${m.layers.length} layers but the config ${m.config.digest} has ${c.rootfs.diff_ids.length} diff_ids`);
    }
    return m.layers.map((l, i) => ({ digest: l.digest, diffId: c.rootfs.diff_ids[i], mediaType: l.mediaType, size: l.size }));
  }

  function tag(name: string, manifestDigest: string): void {
    checkName(name);
    hexOf(manifestDigest);
    withLock(() => {
      // checked under the lock: a concurrent prune cannot remove a piece between this check and the write
      const m = manifestOf(manifestDigest);
      if (!m) throw new RuntimeFailure('E_IMAGE_INCOMPLETE', `cannot name ${name}: manifest ${manifestDigest} is not stored (or is not an image manifest)`);
      const c = configOf(m);
      if (!c) throw new RuntimeFailure('E_IMAGE_INCOMPLETE', `cannot name ${name}: config ${m.config.digest} is not stored`);
      for (const l of layersOf(m, c)) {
        if (!hasBlob(l.digest)) throw new RuntimeFailure('E_IMAGE_INCOMPLETE', `cannot name ${name}: layer blob ${l.digest} is not stored`);
        if (!hasLayer(l.diffId)) throw new RuntimeFailure('E_IMAGE_INCOMPLETE', `cannot name ${name}: layer ${l.diffId} is not unpacked`);
      }
      const names = readNames();
      names[name] = { digest: manifestDigest, pulledAt: new Date().toISOString() };
      writeAtomic(tmpDir, reposFile, JSON.stringify(names, null, 2) + '\n');
    });
  }

  function untag(name: string): boolean {
    if (!fs.existsSync(reposFile)) return false;
    return withLock(() => {
      const names = readNames();
      if (!(name in names)) return false;
      delete names[name];
      writeAtomic(tmpDir, reposFile, JSON.stringify(names, null, 2) + '\n');
      return true;
    });
  }

  function image(digest: string, names: Record<string, NameRecord>): StoredImage | undefined {
    const m = manifestOf(digest);
    const c = m && configOf(m);
    if (!m || !c) return undefined;
    const mine = Object.entries(names).filter(([, r]) => r.digest === digest).sort(([a], [b]) => a.localeCompare(b));
    const pulledAt = mine.map(([, r]) => r.pulledAt).sort().pop() ?? fs.statSync(blobPath(digest)).mtime.toISOString();
    const layers = layersOf(m, c);
    return { digest, names: mine.map(([n]) => n), configDigest: m.config.digest, config: c, layers, size: layers.reduce((s, l) => s + l.size, 0), pulledAt };
  }

  function resolve(ref: string): StoredImage | undefined {
    const names = readNames();
    if (names[ref]) return image(names[ref].digest, names);
    const at = ref.lastIndexOf('@');
    if (at > 0 && isDigest(ref.slice(at + 1))) return image(ref.slice(at + 1), names);
    if (isDigest(ref)) return image(ref, names);
    const prefix = /^(?:sha256:)?([a-f0-9]{12,64})$/.exec(ref)?.[1];
    if (!prefix) return undefined;
    const matches = [...new Set(Object.values(names).map((r) => r.digest))].filter((d) => d.slice(7).startsWith(prefix));
    if (matches.length > 1) throw new UserError('E_IMAGE_AMBIGUOUS', `image ID prefix ${ref} matches ${matches.length} images`, [], 'give more of the digest');
    return matches.length ? image(matches[0], names) : undefined;
  }

  function list(): StoredImage[] {
    const names = readNames();
    const digests = [...new Set(Object.values(names).map((r) => r.digest))];
    return digests.flatMap((d) => image(d, names) ?? []).sort((a, b) => (a.names[0] ?? '').localeCompare(b.names[0] ?? ''));
  }

  // --- leases and prune ---

  function lease(initial: string[] = []): Lease {
    ensure();
    const file = join(tmpDir, tmpName('lease'));
    const held = new Set<string>();
    const save = () => writeAtomic(tmpDir, file, JSON.stringify([...held]), false); // dead with its process anyway
    const l: Lease = {
      add(d) { hexOf(d); if (!held.has(d)) { held.add(d); save(); } },
      release() { fs.rmSync(file, { force: true }); },
    };
    for (const d of initial) hexOf(d);
    initial.forEach((d) => held.add(d));
    save();
    return l;
  }

  function liveLeases(): string[] {
    if (!fs.existsSync(tmpDir)) return [];
    return fs.readdirSync(tmpDir).filter((f) => f.endsWith('.lease') && pidAlive(tmpOwner(f))).flatMap((f) => {
      try { return JSON.parse(fs.readFileSync(join(tmpDir, f), 'utf8')) as string[]; } catch { return []; }
    });
  }

  function prune(keep: Set<string>): { blobs: number; layers: number; bytes: number } {
    const freed = { blobs: 0, layers: 0, bytes: 0 };
    if (!fs.existsSync(root)) return freed;
    return withLock(() => {
      // leases first, then names: a pull that tags and releases in between is seen in one of the two
      const roots = [...liveLeases(), ...keep, ...Object.values(readNames()).map((r) => r.digest)].filter(isDigest);
      const blobs = new Set<string>(roots);
      const layers = new Set<string>(roots);
      for (const d of roots) {
        const m = manifestOf(d);
        if (!m) continue;
        blobs.add(m.config.digest);
        m.layers.forEach((l) => blobs.add(l.digest));
        configOf(m)?.rootfs.diff_ids.forEach((id) => layers.add(id));
      }
      const trash: string[] = [];
      for (const hex of fs.existsSync(blobsDir) ? fs.readdirSync(blobsDir) : []) {
        if (blobs.has('sha256:' + hex)) continue;
        freed.bytes += du(join(blobsDir, hex));
        fs.rmSync(join(blobsDir, hex), { force: true });
        freed.blobs++;
      }
      for (const hex of fs.existsSync(layersDir) ? fs.readdirSync(layersDir) : []) {
        if (layers.has('sha256:' + hex)) continue;
        // out of layers/ in one rename, so no one sees half a layer, then removed
        const t = join(tmpDir, tmpName('trash'));
        fs.renameSync(join(layersDir, hex), t);
        trash.push(t);
        freed.bytes += du(t);
        freed.layers++;
      }
      for (const f of fs.existsSync(tmpDir) ? fs.readdirSync(tmpDir) : []) {
        const p = join(tmpDir, f);
        if (trash.includes(p)) continue;
        if (pidAlive(tmpOwner(f))) continue; // still being written
        freed.bytes += du(p);
        fs.rmSync(p, { recursive: true, force: true });
      }
      for (const t of trash) fs.rmSync(t, { recursive: true, force: true });
      return freed;
    });
  }

  return {
    root,
    hasBlob,
    blobPath,
    readBlob,
    putBlob,
    hasLayer,
    layerDir,
    unpackLayer,
    putLayer,
    tag,
    untag,
    resolve,
    list,
    prune,
    names: readNames,
    lease,
  };
}
