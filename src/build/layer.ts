// Build results become layers exactly like pulled ones: a tar (tar-stream's pack) hashed as it is
// written (its diff_id), gzipped with node:zlib into images/tmp/ and hashed again (the blob digest),
// then handed to the store (putBlob verifies it, unpackLayer unpacks it once under its diff_id), so
// a built image can be run, listed, inspected, pruned and pushed like any other. Nothing appears in
// blobs/ or layers/ before it is complete; a failure removes the temporary file.
//
// A RUN step's layer is its overlay upper dir, converted to OCI form: a whiteout (a 0/0 character
// device) becomes an empty `.wh.NAME` file, a directory marked opaque (trusted.overlay.opaque=y)
// gets a `.wh..wh..opq` entry, hard links inside the layer stay links. The files niwa itself writes
// into every container's root (/etc/hosts, /etc/hostname, /etc/resolv.conf) are left out, as Docker
// leaves out the ones it bind-mounts.
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import tar, { type Header } from 'tar-stream';
import { MEDIA, type ImageStore, type LayerRecord } from '../image/types.js';

export interface LayerEntry {
  /** Path inside the image, without a leading slash (`usr/bin/x`). */
  name: string;
  type: 'file' | 'dir' | 'symlink' | 'link' | 'whiteout' | 'opaque';
  mode?: number;
  uid?: number;
  gid?: number;
  mtime?: Date;
  /** A file's content: a host file to stream, or bytes. */
  host?: string;
  data?: Buffer;
  size?: number;
  /** symlink target, or for `link` the name of the entry it is a hard link of. */
  linkname?: string;
}

/** Files niwa writes into every container root: never part of a built layer. */
export const GENERATED_FILES = new Set(['etc/hosts', 'etc/hostname', 'etc/resolv.conf']);

const EPOCH = new Date(0);

function headerOf(e: LayerEntry): Partial<Header> & { name: string } {
  const base = { name: e.name, uid: e.uid ?? 0, gid: e.gid ?? 0, mtime: e.mtime ?? EPOCH };
  switch (e.type) {
    case 'dir': return { ...base, name: e.name + '/', type: 'directory', mode: e.mode ?? 0o755 };
    case 'symlink': return { ...base, type: 'symlink', mode: e.mode ?? 0o777, linkname: e.linkname };
    case 'link': return { ...base, type: 'link', mode: e.mode ?? 0o644, linkname: e.linkname };
    case 'whiteout': return { ...base, name: join(e.name, '..', `.wh.${e.name.split('/').pop()}`), type: 'file', mode: 0o600, size: 0 };
    case 'opaque': return { ...base, name: `${e.name}/.wh..wh..opq`, type: 'file', mode: 0o600, size: 0 };
    default: return { ...base, type: 'file', mode: e.mode ?? 0o644, size: e.data ? e.data.length : e.size ?? 0 };
  }
}

/**
 * Writes the entries as a layer into the store. Returns its record (blob digest, diff_id, size), or
 * undefined when `entries` is empty and `skipEmpty` (a RUN that changed nothing adds no layer).
 */
export async function writeLayer(store: ImageStore, entries: AsyncIterable<LayerEntry> | Iterable<LayerEntry>, opts: { skipEmpty?: boolean } = {}): Promise<LayerRecord | undefined> {
  const tmpDir = join(store.root, 'tmp');
  fs.mkdirSync(tmpDir, { recursive: true, mode: 0o700 });
  const tmp = join(tmpDir, `${process.pid}.${randomBytes(6).toString('hex')}.layer.gz`);
  const pack = tar.pack();
  const diff = createHash('sha256');
  const blob = createHash('sha256');
  let size = 0;
  let count = 0;
  const gzip = createGzip();
  const out = fs.createWriteStream(tmp, { mode: 0o600 });
  const tap = (f: (c: Buffer) => void) => new Transform({ transform(c: Buffer, _e, cb) { f(c); cb(null, c); } });
  const written = pipeline(pack as unknown as NodeJS.ReadableStream, tap((c) => diff.update(c)), gzip, tap((c) => { blob.update(c); size += c.length; }), out);
  written.catch(() => undefined); // awaited below
  try {
    for await (const e of entries) {
      count++;
      const h = headerOf(e);
      if (e.type === 'file' && e.host && !e.data) {
        await new Promise<void>((res, rej) => {
          const w = pack.entry(h, (err) => (err ? rej(err) : res()));
          fs.createReadStream(e.host!).on('error', rej).pipe(w);
        });
      } else {
        await new Promise<void>((res, rej) => {
          if (e.type === 'file' || e.type === 'whiteout' || e.type === 'opaque') pack.entry(h, e.data ?? Buffer.alloc(0), (err) => (err ? rej(err) : res()));
          else pack.entry(h, (err) => (err ? rej(err) : res()));
        });
      }
    }
    pack.finalize();
    await written;
    if (!count && opts.skipEmpty) return undefined;
    const record: LayerRecord = { digest: 'sha256:' + blob.digest('hex'), diffId: 'sha256:' + diff.digest('hex'), mediaType: MEDIA.ociLayerGzip, size };
    if (!store.hasBlob(record.digest)) await store.putBlob(record.digest, size, fs.createReadStream(tmp));
    if (!store.hasLayer(record.diffId)) await store.unpackLayer(record);
    return record;
  } catch (e) {
    pack.destroy();
    await written.catch(() => undefined);
    throw e;
  } finally {
    fs.rmSync(tmp, { force: true });
  }
}

/** The entries of an overlay upper dir, in OCI form (see the top of this file). */
export async function* upperEntries(upper: string, isOpaque: (dir: string) => boolean): AsyncGenerator<LayerEntry> {
  const links = new Map<string, string>();
  async function* walk(rel: string): AsyncGenerator<LayerEntry> {
    const names = fs.readdirSync(join(upper, rel)).sort();
    for (const n of names) {
      const r = rel ? `${rel}/${n}` : n;
      const p = join(upper, r);
      const st = fs.lstatSync(p);
      if (GENERATED_FILES.has(r) && (st.isFile() || st.isSymbolicLink())) continue;
      const base = { name: r, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: st.mtime };
      if (st.isCharacterDevice() && st.rdev === 0) { yield { ...base, type: 'whiteout' }; continue; }
      if (st.isDirectory()) {
        yield { ...base, type: 'dir' };
        if (isOpaque(p)) yield { ...base, type: 'opaque' };
        yield* walk(r);
      } else if (st.isSymbolicLink()) {
        yield { ...base, type: 'symlink', linkname: fs.readlinkSync(p) };
      } else if (st.isFile()) {
        const key = `${st.dev}:${st.ino}`;
        const first = st.nlink > 1 ? links.get(key) : undefined;
        if (first) { yield { ...base, type: 'link', linkname: first }; continue; }
        if (st.nlink > 1) links.set(key, r);
        yield { ...base, type: 'file', host: p, size: st.size };
      }
      // sockets, fifos and devices a RUN made are not kept (Docker keeps fifos; devices need mknod anyway)
    }
  }
  yield* walk('');
}
