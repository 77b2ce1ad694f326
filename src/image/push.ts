// Pushing an image from the store to a registry (distribution API v2): every blob the manifest
// names (layers, then the config) is checked with HEAD and, when missing, uploaded monolithically
// (POST an upload session, PUT the bytes with ?digest=); then the manifest is PUT under the tag.
// Authentication is the pull's (registry.ts: the same credential files and token scopes, asking for
// `pull,push`). The registry checks every digest; niwa sends bytes straight from the verified store.
import * as fs from 'node:fs';
import { RuntimeFailure } from '../errors.js';
import { formatRef, parseRef } from './reference.js';
import { RegistryClient } from './registry.js';
import { MEDIA, type ImageStore, type StoredImage } from './types.js';

export type PushEvent =
  | { type: 'blob'; digest: string; size: number; state: 'exists' | 'uploading' | 'done' }
  | { type: 'done'; ref: string; digest: string; uploadedBytes: number; ms: number };

export interface PushOptions {
  store: ImageStore;
  env?: NodeJS.ProcessEnv;
  onEvent?: (e: PushEvent) => void;
  signal?: AbortSignal;
  client?: RegistryClient;
}

/** The path and query of an upload Location (absolute or relative: registries send either). */
function locationPath(loc: string): string {
  const u = new URL(loc, 'http://registry.invalid');
  return u.pathname + u.search;
}

export async function pushImage(img: StoredImage, dest: string, opts: PushOptions): Promise<{ digest: string; uploadedBytes: number }> {
  const t0 = Date.now();
  const ref = parseRef(dest);
  const client = opts.client ?? new RegistryClient(ref.registry, { env: opts.env });
  const repo = ref.repository;
  const scope = `repository:${repo}:pull,push`;
  const what = formatRef(ref);
  const emit = opts.onEvent ?? (() => {});
  let uploadedBytes = 0;
  const manifestBytes = opts.store.readBlob(img.digest);
  const manifest = JSON.parse(manifestBytes.toString('utf8')) as { mediaType?: string };
  const blobs = [...img.layers.map((l) => ({ digest: l.digest, size: l.size })), { digest: img.configDigest, size: opts.store.readBlob(img.configDigest).length }];
  for (const b of blobs) {
    const head = await client.request(`/v2/${repo}/blobs/${b.digest}`, { method: 'HEAD', scope, signal: opts.signal, what: `${what}: blob ${b.digest}` });
    await head.body?.cancel();
    if (head.status === 200) { emit({ type: 'blob', digest: b.digest, size: b.size, state: 'exists' }); continue; }
    if (head.status !== 404) throw client.errorFrom(head.status, '', `${what}: blob ${b.digest}`);
    emit({ type: 'blob', digest: b.digest, size: b.size, state: 'uploading' });
    const start = await client.request(`/v2/${repo}/blobs/uploads/`, { method: 'POST', scope, signal: opts.signal, what: `${what}: upload of ${b.digest}`, body: new Uint8Array(0) });
    const startBody = await start.text().catch(() => '');
    if (start.status !== 202) throw client.errorFrom(start.status, startBody, `${what}: upload of ${b.digest}`);
    const loc = start.headers.get('location');
    if (!loc) throw new RuntimeFailure('E_REGISTRY', `${what}: the registry started an upload without saying where (no Location header)`);
    const path = locationPath(loc);
    const bytes = fs.readFileSync(opts.store.blobPath(b.digest));
    const put = await client.request(`${path}${path.includes('?') ? '&' : '?'}digest=${encodeURIComponent(b.digest)}`, { method: 'PUT', scope, signal: opts.signal, what: `${what}: upload of ${b.digest}`, body: bytes, contentType: 'application/octet-stream' });
    const putBody = await put.text().catch(() => '');
    if (put.status !== 201) throw client.errorFrom(put.status, putBody, `${what}: upload of ${b.digest}`);
    uploadedBytes += bytes.length;
    emit({ type: 'blob', digest: b.digest, size: b.size, state: 'done' });
  }
  const tag = ref.digest ?? ref.tag ?? 'latest';
  const r = await client.request(`/v2/${repo}/manifests/${tag}`, { method: 'PUT', scope, signal: opts.signal, what: `${what}: manifest`, body: manifestBytes, contentType: manifest.mediaType ?? MEDIA.ociManifest });
  const body = await r.text().catch(() => '');
  if (r.status !== 201 && r.status !== 200) throw client.errorFrom(r.status, body, `${what}: manifest`);
  const said = r.headers.get('docker-content-digest');
  if (said && said !== img.digest) throw new RuntimeFailure('E_IMAGE_DIGEST', `${what}: the registry stored the manifest as ${said}, not ${img.digest}`);
  emit({ type: 'done', ref: what, digest: img.digest, uploadedBytes, ms: Date.now() - t0 });
  return { digest: img.digest, uploadedBytes };
}
