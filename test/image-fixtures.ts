// Test images built in code: layer tars (hostile names and whiteouts written verbatim), host programs
// with their shared libraries, OCI image layouts (skopeo/umoci read them), OCI archives and
// `docker save` archives. Every image test in the project builds its inputs here.
//
// Tars are written with tar-stream's pack, which is asynchronous, so layerTar and the writers return
// Promises. Defaults are fixed (mtime 2020-01-01, uid/gid 0) so the same entries give the same digests.
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, posix, relative } from 'node:path';
import { gzipSync } from 'node:zlib';
import tar, { type Header } from 'tar-stream';
import { MEDIA, type Descriptor, type ImageConfigFile, type ImageIndex, type ImageManifest, type ImageRuntimeConfig, type LayerRecord, type Platform } from '../src/image/types.js';
import { hostPlatform } from '../src/image/platform.js';

export interface FixtureEntry {
  /** Written verbatim: `../evil`, `/abs`, `dir/.wh.name`, `dir/.wh..wh..opq` are all fine. */
  name: string;
  /** Default 'file'. */
  type?: 'file' | 'dir' | 'symlink' | 'link' | 'char' | 'block' | 'fifo';
  content?: string | Buffer;
  /** Permission bits incl. setuid/setgid/sticky; default 0644 (files) / 0755 (dirs) / 0777 (symlinks). */
  mode?: number;
  uid?: number;
  gid?: number;
  mtime?: Date;
  /** Symlink target or hard link target (a name in the same tar). */
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  /** PAX records, e.g. { 'SCHILY.xattr.user.x': 'v' }. */
  pax?: Record<string, string>;
}

export const FIXTURE_MTIME = new Date('2020-01-01T00:00:00Z');

const TAR_TYPE = { file: 'file', dir: 'directory', symlink: 'symlink', link: 'link', char: 'character-device', block: 'block-device', fifo: 'fifo' } as const;

/** An uncompressed tar of the entries, in order. */
export async function layerTar(entries: FixtureEntry[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const done = (async () => { for await (const c of pack) chunks.push(c as Buffer); })();
  for (const e of entries) {
    const type = e.type ?? 'file';
    if ((type === 'symlink' || type === 'link') && !e.linkname) throw new Error(`fixture entry ${e.name}: a ${type} needs a linkname`);
    const header: Partial<Header> & { name: string } = {
      name: e.name,
      type: TAR_TYPE[type],
      mode: e.mode ?? (type === 'dir' ? 0o755 : type === 'symlink' ? 0o777 : 0o644),
      uid: e.uid ?? 0,
      gid: e.gid ?? 0,
      mtime: e.mtime ?? FIXTURE_MTIME,
      linkname: e.linkname,
      devmajor: e.devmajor,
      devminor: e.devminor,
    };
    if (e.pax) header.pax = e.pax;
    const body = type === 'file' ? Buffer.from(e.content ?? '') : undefined;
    await new Promise<void>((res, rej) => {
      if (body) pack.entry(header, body, (err) => (err ? rej(err) : res()));
      else pack.entry(header, (err) => (err ? rej(err) : res())); // no body: done once the header is out
    });
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

/**
 * Entries for host programs and every shared library `ldd` names, each copied (symlinks followed) to
 * the path given, with parent directories first: hostFiles(['/bin/sh', '/bin/cat', '/usr/bin/env'])
 * makes an image whose /bin/sh works. Keep the list short: libc alone is ~2 MB.
 */
export function hostFiles(paths: string[]): FixtureEntry[] {
  const files = new Set<string>();
  for (const p of paths) {
    files.add(p);
    const ldd = spawnSync('ldd', [p], { encoding: 'utf8' });
    for (const line of (ldd.stdout ?? '').split('\n')) {
      const m = line.match(/=>\s*(\/\S+)/) ?? line.match(/^\s*(\/\S+)\s+\(/);
      if (m) files.add(m[1]);
    }
  }
  const dirs = new Set<string>();
  for (const f of files) for (let d = posix.dirname(f); d !== '/'; d = posix.dirname(d)) dirs.add(d);
  const dirEntries = [...dirs].sort().map((d): FixtureEntry => ({ name: d.slice(1) + '/', type: 'dir', mode: 0o755 }));
  const fileEntries = [...files].sort().map((f): FixtureEntry => ({
    name: f.slice(1),
    content: readFileSync(f),
    mode: statSync(f).mode & 0o7777,
  }));
  return [...dirEntries, ...fileEntries];
}

export const sha256 = (b: Uint8Array): string => 'sha256:' + createHash('sha256').update(b).digest('hex');

export function compress(tarBuf: Buffer, how: 'gzip' | 'zstd' | 'none'): Buffer {
  if (how === 'gzip') return gzipSync(tarBuf);
  if (how === 'zstd') {
    const r = spawnSync('zstd', ['-q', '-c', '-3'], { input: tarBuf, maxBuffer: 1 << 30 });
    if (r.status !== 0) throw new Error(`zstd failed: ${r.stderr}`);
    return r.stdout;
  }
  return tarBuf;
}

const LAYER_MEDIA = { gzip: MEDIA.ociLayerGzip, zstd: MEDIA.ociLayerZstd, none: MEDIA.ociLayer } as const;

export interface FixtureImageSpec {
  /** Bottom first: entry lists (tarred here) or ready uncompressed tars. */
  layers: (FixtureEntry[] | Buffer)[];
  compression?: 'gzip' | 'zstd' | 'none';
  /** The runtime config (`config` in the config blob); default { Cmd: ['/bin/sh'] }. */
  config?: ImageRuntimeConfig;
  /** More than one → an OCI index with one manifest per platform (same layers, each its own config). */
  platforms?: Platform[];
  /** org.opencontainers.image.ref.name in index.json; default 'latest'. */
  tag?: string;
}

/** One image written into a layout: every digest a test may want to check. */
export interface FixtureImage {
  platform: Platform;
  manifestDigest: string;
  manifest: ImageManifest;
  manifestBytes: Buffer;
  configDigest: string;
  config: ImageConfigFile;
  configBytes: Buffer;
  layers: LayerRecord[];
  /** Uncompressed layer tars, bottom first (diffId = sha256 of each). */
  tars: Buffer[];
}

export interface FixtureLayout {
  dir: string;
  tag: string;
  /** What index.json names for the tag: the manifest digest, or the nested index's digest for several platforms. */
  digest: string;
  /** The nested image index, when several platforms were asked for. */
  indexDigest?: string;
  images: FixtureImage[];
}

class BlobDir {
  constructor(readonly dir: string) { mkdirSync(join(dir, 'blobs', 'sha256'), { recursive: true }); }
  put(b: Buffer): string {
    const d = sha256(b);
    writeFileSync(join(this.dir, 'blobs', 'sha256', d.slice(7)), b);
    return d;
  }
}

async function tarsOf(layers: (FixtureEntry[] | Buffer)[]): Promise<Buffer[]> {
  return Promise.all(layers.map((l) => (Buffer.isBuffer(l) ? l : layerTar(l))));
}

/** A config blob for these layer tars (correct rootfs.diff_ids, one history line per layer). */
export function imageConfig(tars: Buffer[], runtime: ImageRuntimeConfig | undefined, platform: Platform): ImageConfigFile {
  return {
    architecture: platform.architecture,
    os: platform.os,
    ...(platform.variant ? { variant: platform.variant } : {}),
    created: FIXTURE_MTIME.toISOString(),
    config: runtime ?? { Cmd: ['/bin/sh'] },
    rootfs: { type: 'layers', diff_ids: tars.map(sha256) },
    history: tars.map((_, i) => ({ created: FIXTURE_MTIME.toISOString(), created_by: `niwa test fixture layer ${i}` })),
  };
}

/**
 * Writes a valid OCI image layout in `dir` (created if missing; blobs are added to what is there, and
 * index.json gains this tag): `skopeo inspect oci:DIR:TAG` and `umoci stat --image DIR:TAG` read it.
 */
export async function writeOciLayout(dir: string, image: FixtureImageSpec): Promise<FixtureLayout> {
  const blobs = new BlobDir(dir);
  const how = image.compression ?? 'gzip';
  const tag = image.tag ?? 'latest';
  const tars = await tarsOf(image.layers);
  const layers: LayerRecord[] = tars.map((t) => {
    const blob = compress(t, how);
    return { digest: blobs.put(blob), diffId: sha256(t), mediaType: LAYER_MEDIA[how], size: blob.length };
  });
  const images = (image.platforms?.length ? image.platforms : [hostPlatform()]).map((platform): FixtureImage => {
    const config = imageConfig(tars, image.config, platform);
    const configBytes = Buffer.from(JSON.stringify(config));
    const configDigest = blobs.put(configBytes);
    const manifest: ImageManifest = {
      schemaVersion: 2,
      mediaType: MEDIA.ociManifest,
      config: { mediaType: MEDIA.ociConfig, digest: configDigest, size: configBytes.length },
      layers: layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
    };
    const manifestBytes = Buffer.from(JSON.stringify(manifest));
    return { platform, manifestDigest: blobs.put(manifestBytes), manifest, manifestBytes, configDigest, config, configBytes, layers, tars };
  });
  const manifestDesc = (im: FixtureImage): Descriptor => ({ mediaType: MEDIA.ociManifest, digest: im.manifestDigest, size: im.manifestBytes.length });
  let top: Descriptor;
  let indexDigest: string | undefined;
  if (image.platforms?.length) {
    const nested: ImageIndex = { schemaVersion: 2, mediaType: MEDIA.ociIndex, manifests: images.map((im) => ({ ...manifestDesc(im), platform: im.platform })) };
    const bytes = Buffer.from(JSON.stringify(nested));
    indexDigest = blobs.put(bytes);
    top = { mediaType: MEDIA.ociIndex, digest: indexDigest, size: bytes.length };
  } else {
    top = manifestDesc(images[0]);
  }
  top.annotations = { 'org.opencontainers.image.ref.name': tag };
  const indexFile = join(dir, 'index.json');
  let index: ImageIndex = { schemaVersion: 2, mediaType: MEDIA.ociIndex, manifests: [] };
  try { index = JSON.parse(readFileSync(indexFile, 'utf8')) as ImageIndex; } catch { /* a new layout */ }
  index.manifests = [...index.manifests.filter((m) => m.annotations?.['org.opencontainers.image.ref.name'] !== tag), top];
  writeFileSync(indexFile, JSON.stringify(index));
  writeFileSync(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  return { dir, tag, digest: top.digest, indexDigest, images };
}

/** A tar of the files under `dir` (dirs first, names relative, no leading ./), as `tar -C dir -cf - .` would hold. */
export async function tarOfDir(dir: string): Promise<Buffer> {
  const entries: FixtureEntry[] = [];
  const walk = (d: string): void => {
    for (const f of readdirSync(d, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = join(d, f.name);
      const name = relative(dir, p);
      if (f.isDirectory()) { entries.push({ name: name + '/', type: 'dir' }); walk(p); } else entries.push({ name, content: readFileSync(p) });
    }
  };
  walk(dir);
  return layerTar(entries);
}

/** An OCI archive (a tar of an OCI layout, as `skopeo copy … oci-archive:FILE` writes). */
export async function writeOciArchive(file: string, image: FixtureImageSpec): Promise<FixtureLayout> {
  const tmp = mkdtempSync(join(tmpdir(), 'niwa-fixture-oci-'));
  try {
    const layout = await writeOciLayout(tmp, image);
    writeFileSync(file, await tarOfDir(tmp));
    return { ...layout, dir: file };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

export interface DockerSaveSpec {
  layers: (FixtureEntry[] | Buffer)[];
  config?: ImageRuntimeConfig;
  /** e.g. ['busybox:latest'] (Docker writes them short like this); default none. */
  repoTags?: string[];
  /** Leave manifest.json out (a broken archive). */
  omitManifest?: boolean;
}

export interface DockerSaveResult {
  file: string;
  configDigest: string;
  config: ImageConfigFile;
  /** Uncompressed layer tars; in a docker save archive each layer's digest is its diff_id. */
  tars: Buffer[];
  diffIds: string[];
}

/**
 * A classic `docker save` archive: manifest.json ([{Config, RepoTags, Layers}]), `<config hex>.json`,
 * `<id>/layer.tar` (uncompressed, id = diff_id hex) with `<id>/VERSION` and `<id>/json`, and `repositories`.
 */
export async function dockerSaveArchive(file: string, spec: DockerSaveSpec): Promise<DockerSaveResult> {
  const tars = await tarsOf(spec.layers);
  const config = imageConfig(tars, spec.config, hostPlatform());
  const configBytes = Buffer.from(JSON.stringify(config));
  const configDigest = sha256(configBytes);
  const diffIds = tars.map(sha256);
  const entries: FixtureEntry[] = [];
  tars.forEach((t, i) => {
    const id = diffIds[i].slice(7);
    entries.push({ name: `${id}/`, type: 'dir' }, { name: `${id}/VERSION`, content: '1.0' }, { name: `${id}/json`, content: JSON.stringify({ id }) }, { name: `${id}/layer.tar`, content: t });
  });
  entries.push({ name: `${configDigest.slice(7)}.json`, content: configBytes });
  const repoTags = spec.repoTags ?? [];
  if (!spec.omitManifest) {
    entries.push({ name: 'manifest.json', content: JSON.stringify([{ Config: `${configDigest.slice(7)}.json`, RepoTags: repoTags.length ? repoTags : null, Layers: diffIds.map((d) => `${d.slice(7)}/layer.tar`) }]) });
  }
  const repos: Record<string, Record<string, string>> = {};
  for (const t of repoTags) {
    const i = t.lastIndexOf(':');
    (repos[t.slice(0, i)] ??= {})[t.slice(i + 1)] = diffIds[diffIds.length - 1]?.slice(7) ?? '';
  }
  if (repoTags.length) entries.push({ name: 'repositories', content: JSON.stringify(repos) });
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, await layerTar(entries));
  return { file, configDigest, config, tars, diffIds };
}

/** A small image that runs: /bin/sh (dash), cat, env, id, ls and their libraries, plus /etc/passwd and /tmp. */
export function shellImageEntries(): FixtureEntry[] {
  const progs = ['/bin/sh', '/bin/cat', '/usr/bin/env', '/usr/bin/id', '/bin/ls'].filter((p) => { try { realpathSync(p); return true; } catch { return false; } });
  return [
    ...hostFiles(progs),
    { name: 'etc/', type: 'dir' },
    { name: 'etc/passwd', content: 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/sh\n' },
    { name: 'etc/group', content: 'root:x:0:\nnogroup:x:65534:\n' },
    { name: 'tmp/', type: 'dir', mode: 0o1777 },
    { name: 'root/', type: 'dir', mode: 0o700 },
  ];
}
