// Offline image sources: `docker save` archives, OCI archives (a tar of an OCI image layout, maybe
// gzip/zstd-compressed) and OCI image layout directories, loaded into the content store. Every blob
// is verified by digest (and size when a descriptor gives one) on its way in; a multi-platform index
// resolves to the host's platform; names are canonical (busybox → docker.io/library/busybox:latest).
//
// A docker-save image has no manifest of its own: one is synthesised (OCI media types, the layers
// as stored in the archive), so its manifest digest is niwa's own, not a registry's.
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { join, posix } from 'node:path';
import tar from 'tar-stream';
import { RuntimeFailure, UserError } from '../errors.js';
import { pickManifest, formatPlatform, hostPlatform } from './platform.js';
import { decompress, entryParts, sniffCompression } from './unpack.js';
import type { Store } from './store.js';
import { formatRef, parseRef } from './reference.js';
import { MEDIA, isDigest, type Descriptor, type ImageConfigFile, type ImageIndex, type ImageManifest, type ImageStore, type LayerRecord, type StoredImage } from './types.js';

/** Names as the registry client normalises them (busybox → docker.io/library/busybox:latest). */
export function canonicalName(s: string): string {
  return formatRef(parseRef(s));
}

/** True when a reference names a tag or digest itself (`app:1`, `app@sha256:…`), not just a repository. */
function hasTagOrDigest(s: string): boolean {
  return s.includes('@') || s.lastIndexOf(':') > s.lastIndexOf('/');
}

const bad = (what: string, msg: string, hint?: string) => new RuntimeFailure('E_IMAGE_ARCHIVE', `${what}: ${msg}`, { hint });
const sha256 = (b: Uint8Array) => 'sha256:' + createHash('sha256').update(b).digest('hex');

/** A file of a layout or archive: its size and how to read it. */
interface SourceFile {
  size: number;
  /** sha256 of the content, when already known (archive entries are hashed as they are extracted). */
  digest?: string;
  read(): Buffer;
  /** The first n bytes (sniffing compression without reading a whole layer). */
  head(n: number): Buffer;
  open(): AsyncIterable<Uint8Array>;
}

function headOf(p: string, n: number): Buffer {
  const fd = fs.openSync(p, 'r');
  try {
    const b = Buffer.alloc(n);
    return b.subarray(0, fs.readSync(fd, b, 0, n, 0));
  } finally {
    fs.closeSync(fd);
  }
}

/** Where an image's files come from: a directory, or an archive extracted to a private temp dir. */
interface Source {
  what: string;
  file(name: string): SourceFile | undefined;
}

function dirSource(dir: string): Source {
  return {
    what: dir,
    file(name) {
      const p = join(dir, ...entryParts(name, 'path'));
      let st: fs.Stats;
      try { st = fs.statSync(p); } catch { return undefined; }
      if (!st.isFile()) return undefined;
      return { size: st.size, read: () => fs.readFileSync(p), head: (k) => headOf(p, k), open: () => fs.createReadStream(p) };
    },
  };
}

/**
 * Extracts an archive's regular files into `tmp` (flat, numbered: names never become paths), hashing
 * each; symlinks and hard links are resolved within the archive's own names. Returns a Source.
 */
async function extractArchive(file: string, tmp: string): Promise<Source> {
  const files = new Map<string, { path: string; size: number; digest: string }>();
  const links = new Map<string, string>();
  const ex = tar.extract();
  let n = 0;
  const feed = (async () => {
    for await (const c of decompress(fs.createReadStream(file))) {
      if (!ex.write(c)) await new Promise<void>((res) => { ex.once('drain', res); ex.once('close', res); });
      if (ex.destroying) return;
    }
    ex.end(null);
  })();
  feed.catch((e) => ex.destroy(e));
  try {
    for await (const entry of ex) {
      const h = entry.header;
      const name = entryParts(h.name, 'archive entry').join('/');
      if (h.type === 'file' || h.type === 'contiguous-file') {
        const p = join(tmp, String(n++));
        const fd = fs.openSync(p, 'wx', 0o600);
        const hash = createHash('sha256');
        let size = 0;
        try {
          for await (const c of entry as AsyncIterable<Uint8Array>) { hash.update(c); fs.writeSync(fd, c); size += c.byteLength; }
        } finally {
          fs.closeSync(fd);
        }
        files.set(name, { path: p, size, digest: 'sha256:' + hash.digest('hex') });
        links.delete(name);
      } else if (h.type === 'symlink' || h.type === 'link') {
        const l = h.linkname ?? '';
        const target = h.type === 'link' || l.startsWith('/') ? l : posix.join(posix.dirname(name), l);
        links.set(name, entryParts(target, 'archive link target').join('/'));
        files.delete(name);
      }
      entry.resume();
    }
    await feed;
  } catch (e) {
    if (e instanceof RuntimeFailure) throw new RuntimeFailure(e.code, `${file}: ${e.message}`, { hint: e.hint, cause: e });
    throw bad(file, `not a readable tar archive (${(e as Error).message})`, 'docker save and skopeo copy … oci-archive: write archives niwa reads');
  }
  return {
    what: file,
    file(name) {
      let key = entryParts(name, 'path').join('/');
      for (let hops = 0; links.has(key) && hops < 16; hops++) key = links.get(key)!;
      const f = files.get(key);
      if (!f) return undefined;
      return { size: f.size, digest: f.digest, read: () => fs.readFileSync(f.path), head: (k) => headOf(f.path, k), open: () => fs.createReadStream(f.path) };
    },
  };
}

function json<T>(src: Source, name: string, f: SourceFile | undefined = src.file(name)): T {
  if (!f) throw bad(src.what, `${name} is missing`);
  if (f.size > 16 << 20) throw bad(src.what, `${name} is too large (${f.size} bytes) to be image metadata`);
  try {
    return JSON.parse(f.read().toString('utf8')) as T;
  } catch (e) {
    throw bad(src.what, `${name} is not valid JSON (${(e as Error).message})`);
  }
}

/** A blob of a layout, checked against its descriptor (digest always, size when given). */
function layoutBlob(src: Source, d: Pick<Descriptor, 'digest' | 'size'>, what: string): SourceFile {
  if (!isDigest(d.digest)) throw bad(src.what, `${what} has an unsupported digest ${JSON.stringify(d.digest)}`, 'niwa accepts sha256 digests only');
  const f = src.file(`blobs/sha256/${d.digest.slice(7)}`);
  if (!f) throw bad(src.what, `${what} ${d.digest} is missing from blobs/`);
  if (typeof d.size === 'number' && f.size !== d.size) {
    throw new RuntimeFailure('E_IMAGE_DIGEST', `${src.what}: ${what} ${d.digest} is ${f.size} bytes, its descriptor says ${d.size}`);
  }
  return f;
}

/** Reads a small blob and checks its sha256 (manifests, indexes, configs). */
function verifiedJson<T>(src: Source, f: SourceFile, digest: string, what: string): { value: T; bytes: Buffer } {
  const bytes = f.read();
  const actual = sha256(bytes);
  if (actual !== digest) throw new RuntimeFailure('E_IMAGE_DIGEST', `${src.what}: ${what} does not match its digest: expected ${digest}, got ${actual}`);
  try {
    return { value: JSON.parse(bytes.toString('utf8')) as T, bytes };
  } catch (e) {
    throw bad(src.what, `${what} ${digest} is not valid JSON (${(e as Error).message})`);
  }
}

type StoreLike = ImageStore & Partial<Pick<Store, 'lease'>>;

/** Stores an image (layers, config, manifest), unpacks its layers and names it. */
async function storeImage(store: StoreLike, src: Source, m: { bytes: Buffer; digest: string; manifest: ImageManifest }, config: { bytes: Buffer; value: ImageConfigFile }, layers: { file: SourceFile; record: LayerRecord }[], names: string[]): Promise<StoredImage> {
  const lease = store.lease?.([m.digest, m.manifest.config.digest, ...layers.flatMap((l) => [l.record.digest, l.record.diffId])]);
  try {
    for (const l of layers) {
      if (!store.hasBlob(l.record.digest)) await store.putBlob(l.record.digest, l.file.size, l.file.open());
      try {
        await store.unpackLayer(l.record);
      } catch (e) {
        if (e instanceof RuntimeFailure) throw new RuntimeFailure(e.code, `${src.what}: ${e.message}`, { hint: e.hint, cause: e });
        throw e;
      }
    }
    await store.putBlob(m.manifest.config.digest, config.bytes.length, config.bytes);
    await store.putBlob(m.digest, m.bytes.length, m.bytes);
    for (const n of names) store.tag(n, m.digest);
  } finally {
    lease?.release();
  }
  const img = store.resolve(m.digest);
  if (!img) throw new RuntimeFailure('E_IMAGE_STORE', `${src.what}: image ${m.digest} was stored but cannot be read back`);
  return img;
}

function checkConfig(src: Source, c: ImageConfigFile, what: string): void {
  if (!c || typeof c !== 'object' || !c.rootfs || !Array.isArray(c.rootfs.diff_ids) || !c.rootfs.diff_ids.every((d) => typeof d === 'string')) {
    throw bad(src.what, `${what} is not an image config (no rootfs.diff_ids)`);
  }
  for (const d of c.rootfs.diff_ids) if (!isDigest(d)) throw bad(src.what, `${what} has an unsupported diff_id ${JSON.stringify(d)}`, 'niwa accepts sha256 digests only');
}

// --- docker save ---

interface DockerSaveItem { Config: string; RepoTags?: string[] | null; Layers: string[] }

async function loadDockerSave(store: StoreLike, src: Source, name?: string): Promise<StoredImage[]> {
  const items = json<DockerSaveItem[]>(src, 'manifest.json');
  if (!Array.isArray(items) || !items.length) throw bad(src.what, 'manifest.json lists no image');
  if (name && items.length > 1) throw new UserError('E_IMAGE_NAME', `${src.what} holds ${items.length} images; a single name cannot apply to them all`);
  const out: StoredImage[] = [];
  for (const [i, item] of items.entries()) {
    const where = `manifest.json[${i}]`;
    if (!item || typeof item.Config !== 'string' || !Array.isArray(item.Layers)) throw bad(src.what, `${where} has no Config or Layers`);
    const cfgFile = src.file(item.Config);
    if (!cfgFile) throw bad(src.what, `${where}: config ${item.Config} is missing`);
    const configBytes = cfgFile.read();
    const configDigest = sha256(configBytes);
    // the file is named for its digest (<hex>.json, or blobs/sha256/<hex> since Docker 25): check it
    const named = /([a-f0-9]{64})(?:\.json)?$/.exec(item.Config)?.[1];
    if (named && `sha256:${named}` !== configDigest) {
      throw new RuntimeFailure('E_IMAGE_DIGEST', `${src.what}: config ${item.Config} does not match its name: expected sha256:${named}, got ${configDigest}`);
    }
    let config: ImageConfigFile;
    try { config = JSON.parse(configBytes.toString('utf8')) as ImageConfigFile; } catch (e) { throw bad(src.what, `${item.Config} is not valid JSON (${(e as Error).message})`); }
    checkConfig(src, config, item.Config);
    if (config.rootfs.diff_ids.length !== item.Layers.length) {
      throw bad(src.what, `${where} lists ${item.Layers.length} layers but its config has ${config.rootfs.diff_ids.length} diff_ids`);
    }
    const layers = item.Layers.map((path, k) => {
      const file = src.file(path);
      if (!file) throw bad(src.what, `${where}: layer ${path} is missing`);
      const digest = file.digest ?? sha256(file.read()); // archive entries are hashed as they are extracted
      const diffId = config.rootfs.diff_ids[k];
      const compression = sniffCompression(file.head(4));
      if (compression === 'none' && digest !== diffId) {
        throw new RuntimeFailure('E_IMAGE_DIGEST', `${src.what}: layer ${path} does not match its diff_id: expected ${diffId}, got ${digest}`);
      }
      const mediaType = compression === 'gzip' ? MEDIA.ociLayerGzip : compression === 'zstd' ? MEDIA.ociLayerZstd : MEDIA.ociLayer;
      return { file, record: { digest, diffId, mediaType, size: file.size } satisfies LayerRecord };
    });
    const manifest: ImageManifest = {
      schemaVersion: 2,
      mediaType: MEDIA.ociManifest,
      config: { mediaType: MEDIA.ociConfig, digest: configDigest, size: configBytes.length },
      layers: layers.map((l) => ({ mediaType: l.record.mediaType, digest: l.record.digest, size: l.record.size })),
    };
    const bytes = Buffer.from(JSON.stringify(manifest));
    const names = name ? [canonicalName(name)] : (item.RepoTags ?? []).map(canonicalName);
    out.push(await storeImage(store, src, { bytes, digest: sha256(bytes), manifest }, { bytes: configBytes, value: config }, layers, names));
  }
  return out;
}

// --- OCI layouts ---

const REF_NAME = 'org.opencontainers.image.ref.name';
const CONTAINERD_NAME = 'io.containerd.image.name';
const INDEX_TYPES: string[] = [MEDIA.ociIndex, MEDIA.dockerList];
const MANIFEST_TYPES: string[] = [MEDIA.ociManifest, MEDIA.dockerManifest];

/** The manifest for this host under a descriptor (following nested indexes, at most a few deep). */
function hostManifest(src: Source, d: Descriptor, what: string, depth = 0): { desc: Descriptor; bytes: Buffer; manifest: ImageManifest } {
  const f = layoutBlob(src, d, what);
  const { value, bytes } = verifiedJson<ImageManifest & ImageIndex & { mediaType?: string }>(src, f, d.digest, what);
  const type = value.mediaType ?? d.mediaType;
  if (INDEX_TYPES.includes(type) || (Array.isArray(value.manifests) && !value.config)) {
    if (depth > 3) throw bad(src.what, `${what}: indexes nested too deep`);
    const host = hostPlatform();
    const usable = value.manifests.filter((m) => m.platform && m.platform.os !== 'unknown');
    const pick = pickManifest(usable, host) ?? (value.manifests.length === 1 && !value.manifests[0].platform ? value.manifests[0] : undefined);
    if (!pick) {
      const offers = [...new Set(usable.map((m) => formatPlatform(m.platform!)))];
      throw new RuntimeFailure('E_IMAGE_PLATFORM', `${src.what}: ${what} has no image for ${formatPlatform(host)}; it offers ${offers.join(', ') || 'no platform at all'}`);
    }
    return hostManifest(src, pick, `${what} → ${formatPlatform(pick.platform ?? host)} manifest`, depth + 1);
  }
  if (!MANIFEST_TYPES.includes(type) && !(value.config && Array.isArray(value.layers))) throw bad(src.what, `${what} ${d.digest} is neither an image manifest nor an index (${type})`);
  if (!value.config || !Array.isArray(value.layers)) throw bad(src.what, `${what} ${d.digest} has no config or layers`);
  return { desc: d, bytes, manifest: value };
}

async function importImage(store: StoreLike, src: Source, top: Descriptor, names: string[], what: string): Promise<StoredImage> {
  const { desc, bytes, manifest } = hostManifest(src, top, what);
  const cfg = verifiedJson<ImageConfigFile>(src, layoutBlob(src, manifest.config, `${what}'s config`), manifest.config.digest, `${what}'s config`);
  checkConfig(src, cfg.value, `config ${manifest.config.digest}`);
  if (cfg.value.rootfs.diff_ids.length !== manifest.layers.length) {
    throw bad(src.what, `${what} lists ${manifest.layers.length} layers but its config has ${cfg.value.rootfs.diff_ids.length} diff_ids`);
  }
  const layers = manifest.layers.map((l, i) => ({
    file: layoutBlob(src, l, `layer ${i}`),
    record: { digest: l.digest, diffId: cfg.value.rootfs.diff_ids[i], mediaType: l.mediaType, size: l.size } satisfies LayerRecord,
  }));
  return storeImage(store, src, { bytes, digest: desc.digest, manifest }, cfg, layers, names);
}

/** The name an index.json entry carries: a full reference, a bare tag, or nothing. */
function entryRef(d: Descriptor): { full?: string; tag?: string } {
  const full = d.annotations?.[CONTAINERD_NAME];
  if (full) return { full };
  const r = d.annotations?.[REF_NAME];
  if (!r) return {};
  return /[/:@]/.test(r) ? { full: r } : { tag: r };
}

async function loadLayout(store: StoreLike, src: Source, name?: string): Promise<StoredImage[]> {
  const lf = src.file('oci-layout');
  if (!lf) throw bad(src.what, 'not an OCI image layout or docker save archive (no oci-layout, no manifest.json)', 'docker save, skopeo copy … oci-archive:FILE and oci:DIR write what niwa reads');
  const layout = json<{ imageLayoutVersion?: string }>(src, 'oci-layout', lf);
  if (typeof layout.imageLayoutVersion !== 'string') throw bad(src.what, 'oci-layout has no imageLayoutVersion');
  const index = json<ImageIndex>(src, 'index.json');
  if (!Array.isArray(index.manifests) || !index.manifests.length) throw bad(src.what, 'index.json lists no image');
  // entries that share a name (one per platform, directly in index.json) are one image: pick the host's
  const groups = new Map<string, Descriptor[]>();
  for (const d of index.manifests) {
    const r = entryRef(d);
    const key = r.full ?? r.tag ?? `#${d.digest}`;
    groups.set(key, [...(groups.get(key) ?? []), d]);
  }
  let entries = [...groups.entries()].map(([key, ds]) => {
    const pick = ds.length === 1 ? ds[0] : pickManifest(ds, hostPlatform());
    if (!pick) throw new RuntimeFailure('E_IMAGE_PLATFORM', `${src.what}: ${key} has no image for ${formatPlatform(hostPlatform())}`);
    return { desc: pick, ref: entryRef(pick) };
  });
  if (name && hasTagOrDigest(name) && entries.length > 1) {
    // `app:v2` picks the entry tagged v2 from a layout holding several
    const tag = name.slice(name.lastIndexOf(':') + 1);
    const hit = entries.filter((e) => e.ref.tag === tag || (e.ref.full && e.ref.full.endsWith(`:${tag}`)));
    if (hit.length !== 1) {
      throw new UserError('E_IMAGE_NAME', `${src.what} holds ${entries.length} images (${entries.map((e) => e.ref.full ?? e.ref.tag ?? e.desc.digest).join(', ')}); none is tagged ${tag} alone`, [], 'name one by its tag, e.g. app:<tag>');
    }
    entries = hit;
  }
  const out: StoredImage[] = [];
  for (const e of entries) {
    let names: string[];
    if (name) names = [canonicalName(hasTagOrDigest(name) || !e.ref.tag ? name : `${name}:${e.ref.tag}`)];
    else if (e.ref.full) names = [canonicalName(e.ref.full)];
    else {
      throw new UserError('E_IMAGE_NAME', `${src.what}: the image ${e.ref.tag ? `tagged '${e.ref.tag}'` : e.desc.digest} carries no repository name`, [], 'give one, e.g. niwa image load --name myapp (the tag is kept: myapp:<tag>)');
    }
    out.push(await importImage(store, src, e.desc, names, e.ref.full ?? e.ref.tag ?? 'index.json entry'));
  }
  return out;
}

/**
 * Imports an OCI image layout directory. Names: an entry's io.containerd.image.name, or its
 * org.opencontainers.image.ref.name when that is a full reference. A bare tag (`latest`, `v1`) needs
 * `name`: `app` gives docker.io/library/app:<tag>; `app:v2` names the single image (or picks the
 * entry tagged v2 from several). A multi-platform index resolves to this host's platform.
 */
export async function importLayout(store: StoreLike, dir: string, name?: string): Promise<StoredImage[]> {
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new UserError('E_IMAGE_ARCHIVE', `${dir} is not a directory`);
  return loadLayout(store, dirSource(dir), name);
}

/**
 * Loads a `docker save` archive (manifest.json; RepoTags become names) or an OCI archive (a tar of an
 * OCI layout; names as importLayout), plain or gzip/zstd-compressed. `name` overrides the archive's
 * names (for an archive that holds one image). Extracts to a private dir under the store's tmp/.
 */
export async function loadArchive(store: StoreLike, file: string, name?: string): Promise<StoredImage[]> {
  if (!fs.existsSync(file)) throw new UserError('E_IMAGE_ARCHIVE', `${file} does not exist`);
  const tmpRoot = join(store.root, 'tmp');
  fs.mkdirSync(tmpRoot, { recursive: true, mode: 0o700 });
  const tmp = join(tmpRoot, `${process.pid}.${randomBytes(6).toString('hex')}.archive`);
  fs.mkdirSync(tmp, { mode: 0o700 });
  try {
    const src = await extractArchive(file, tmp);
    if (src.file('manifest.json')) return await loadDockerSave(store, src, name);
    return await loadLayout(store, src, name);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}
