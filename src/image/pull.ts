// Pulling: `ensureImage` applies a pull policy (a local hit costs no network at all), and a pull
// resolves the manifest (index → this platform's manifest), fetches the config, downloads the
// missing layers in parallel (4 at a time, 3 retries with back-off) straight into the store, which
// unpacks each layer while its bytes arrive and verifies digest, size and diff_id before anything is
// renamed into place, and only then names the image. Progress goes out as PullEvents; nothing prints.
import { createHash } from 'node:crypto';
import { RuntimeFailure } from '../errors.js';
import { causeText } from './auth.js';
import { formatPlatform, hostPlatform, selectManifest } from './platform.js';
import { familiarName, formatRef, parseRef } from './reference.js';
import { RegistryClient, RegistryError, type FetchedManifest, type RegistryClientOptions } from './registry.js';
import { MEDIA, isDigest, type Descriptor, type ImageConfigFile, type ImageIndex, type ImageManifest, type ImageRef, type ImageStore, type LayerRecord, type Platform, type PullEvent, type PullPolicy, type StoredImage } from './types.js';

export interface EnsureImageOptions {
  store: ImageStore;
  policy?: PullPolicy;
  onEvent?: (e: PullEvent) => void;
  platform?: Platform;
  signal?: AbortSignal;
  /** Parallel layer downloads (default 4). */
  concurrency?: number;
  /** Retries of a failed request (default 3) and the first back-off in ms (doubles each time). */
  retries?: number;
  retryDelayMs?: number;
  /** For tests: the environment (credential files, NIWA_INSECURE_REGISTRIES) and fetch. */
  env?: NodeJS.ProcessEnv;
  fetch?: typeof fetch;
}

const LAYER_TYPES = new Set<string>([
  MEDIA.ociLayer, MEDIA.ociLayerGzip, MEDIA.ociLayerZstd, MEDIA.ociLayerNondistGzip, MEDIA.dockerLayerGzip, MEDIA.dockerForeignLayerGzip,
  'application/vnd.oci.image.layer.nondistributable.v1.tar', 'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd',
  'application/vnd.docker.image.rootfs.diff.tar', 'application/vnd.docker.image.rootfs.diff.tar.zstd',
]);

/** The store's name for a reference: registry/repo:tag, or registry/repo@digest when a digest is given. */
export function storeName(ref: ImageRef): string {
  return ref.digest ? formatRef({ registry: ref.registry, repository: ref.repository, digest: ref.digest }) : formatRef(ref);
}

/** The stored image a reference names, or undefined (never touches the network). */
export function findLocal(store: ImageStore, ref: ImageRef): StoredImage | undefined {
  if (ref.digest) {
    // Pulled by this digest (which may be an index's) under this name, or any image with that manifest digest.
    const name = storeName(ref);
    const byName = store.list().find((i) => i.names.includes(name));
    if (byName) return byName;
    const img = store.resolve(ref.digest);
    return img && img.digest === ref.digest ? img : undefined;
  }
  return store.resolve(formatRef(ref));
}

function normalizePolicy(p: PullPolicy | undefined): 'always' | 'missing' | 'never' {
  if (p === 'always' || p === 'never') return p;
  return 'missing'; // missing, if_not_present, and build (a build decides for itself before asking)
}

/** Pulls in progress in this process (store root + name): a second caller waits for the first. */
const inflight = new Map<string, Promise<StoredImage>>();

/**
 * The image a reference names, pulled when the policy says so. A digest reference already stored is
 * never fetched again, whatever the policy (its content cannot have changed).
 */
export async function ensureImage(refString: string, opts: EnsureImageOptions): Promise<StoredImage> {
  const ref = parseRef(refString);
  const policy = normalizePolicy(opts.policy);
  if (policy !== 'always' || ref.digest) {
    const local = findLocal(opts.store, ref);
    if (local) return local;
    if (policy === 'never') {
      throw new RuntimeFailure('E_IMAGE_NOT_PRESENT', `image ${familiarName(ref)} is not in the local store, and the pull policy is 'never'`, {
        hint: `pull it first: niwa pull ${familiarName(ref)}`,
      });
    }
  }
  const key = `${opts.store.root}\0${storeName(ref)}\0${JSON.stringify(opts.platform ?? null)}`;
  const running = inflight.get(key);
  if (running) return running;
  const p = pullImage(ref, opts).finally(() => inflight.delete(key));
  inflight.set(key, p);
  return p;
}

const sleep = (ms: number, signal?: AbortSignal) => new Promise<void>((resolve, reject) => {
  if (signal?.aborted) { reject(signal.reason); return; }
  const t = setTimeout(() => { signal?.removeEventListener('abort', onAbort); resolve(); }, ms);
  const onAbort = () => { clearTimeout(t); reject(signal!.reason); };
  signal?.addEventListener('abort', onAbort, { once: true });
});

function retryable(e: unknown): boolean {
  if (e instanceof RegistryError) return e.retryable;
  return e instanceof TransferError;
}

/** A transfer that broke half-way (connection reset, short body): worth another try. */
class TransferError extends RuntimeFailure {}

async function withRetries<T>(what: string, f: () => Promise<T>, o: { retries: number; delayMs: number; signal?: AbortSignal; onRetry?: (attempt: number, e: unknown) => void }): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try { return await f(); } catch (e) {
      if (o.signal?.aborted || attempt >= o.retries || !retryable(e)) throw e;
      o.onRetry?.(attempt + 1, e);
      await sleep(o.delayMs * 2 ** attempt, o.signal);
    }
  }
}

/** Runs tasks with at most `n` at once. */
function limiter(n: number): <T>(f: () => Promise<T>) => Promise<T> {
  let active = 0;
  const queue: (() => void)[] = [];
  return async <T>(f: () => Promise<T>): Promise<T> => {
    if (active >= n) await new Promise<void>((r) => queue.push(r));
    active++;
    try { return await f(); } finally {
      active--;
      queue.shift()?.();
    }
  };
}

function badManifest(what: string, why: string): RuntimeFailure {
  return new RuntimeFailure('E_IMAGE_MANIFEST', `${what}: invalid manifest: ${why}`);
}

function checkDescriptor(d: Descriptor | undefined, what: string, field: string): void {
  if (!d || typeof d !== 'object') throw badManifest(what, `${field} is missing`);
  if (typeof d.digest !== 'string' || !isDigest(d.digest)) throw badManifest(what, `${field}.digest '${String(d.digest)}' is not a sha256 digest`);
  if (typeof d.size !== 'number' || !Number.isSafeInteger(d.size) || d.size < 0) throw badManifest(what, `${field}.size is not a byte count`);
}

/** The stored image with this manifest digest when its manifest, config, blobs and layers are all there. */
function complete(store: ImageStore, digest: string): StoredImage | undefined {
  if (!isDigest(digest) || !store.hasBlob(digest)) return undefined;
  let img: StoredImage | undefined;
  try { img = store.resolve(digest); } catch { return undefined; }
  return img && img.digest === digest && img.layers.every((l) => store.hasBlob(l.digest) && store.hasLayer(l.diffId)) ? img : undefined;
}

/** Pull a reference from its registry (always asks the registry; downloads only what is missing). */
export async function pullImage(ref: ImageRef, opts: EnsureImageOptions): Promise<StoredImage> {
  const started = Date.now();
  const store = opts.store;
  const shown = familiarName(ref);
  const emit = (e: PullEvent) => { try { opts.onEvent?.(e); } catch { /* a reporter's bug must not break the pull */ } };
  const retries = opts.retries ?? 3;
  const delayMs = opts.retryDelayMs ?? 500;
  const abort = new AbortController();
  const onOuterAbort = () => abort.abort(opts.signal!.reason);
  if (opts.signal?.aborted) throw opts.signal.reason;
  opts.signal?.addEventListener('abort', onOuterAbort, { once: true });
  const signal = abort.signal;
  const clientOpts: RegistryClientOptions = { env: opts.env, fetch: opts.fetch };
  const client = new RegistryClient(ref.registry, clientOpts);
  const repo = ref.repository;
  const retry = <T>(what: string, f: () => Promise<T>, onRetry?: (attempt: number, e: unknown) => void) => withRetries(what, f, { retries, delayMs, signal, onRetry });
  try {
    // 1. The manifest: by digest when given (it wins over the tag), else by tag.
    let top: FetchedManifest = await retry('manifest', () => client.getManifest(repo, ref.digest ?? ref.tag ?? 'latest', { signal, what: shown }));
    const fromIndex = top.kind === 'index';
    let present: StoredImage | undefined;
    if (top.kind === 'index') {
      const platform = opts.platform ?? hostPlatform();
      const d = selectManifest(top.json as ImageIndex, platform, shown);
      checkDescriptor(d, shown, 'manifests[]');
      // a manifest is content-addressed: a complete stored copy needs no second request
      present = complete(store, d.digest);
      if (!present) {
        top = await retry('manifest', () => client.getManifest(repo, d.digest, { signal, what: `${shown} (${d.digest})` }));
        if (top.kind !== 'manifest') throw badManifest(shown, `the index entry for this platform is not an image manifest (${top.mediaType})`);
      }
    } else {
      present = complete(store, top.digest);
    }
    // An image that is not an index says its platform in its config: a platform asked for must match.
    const checkPlatform = (config: ImageConfigFile | undefined) => {
      if (opts.platform && !fromIndex && config && (config.os !== opts.platform.os || config.architecture !== opts.platform.architecture)) {
        throw new RuntimeFailure('E_IMAGE_PLATFORM', `${shown} is an image for ${formatPlatform({ os: config.os, architecture: config.architecture, variant: config.variant })} only, not ${formatPlatform(opts.platform)}`, {
          hint: 'leave out --platform to take it as it is, or use an image built for that platform',
        });
      }
    };
    if (present) {
      checkPlatform(present.config);
      // Up to date: no blob, no lease, no write (unless this name pointed elsewhere: then only the name moves).
      emit({ type: 'resolve', ref: shown, digest: present.digest, layers: present.layers.length });
      for (const l of new Map(present.layers.map((l) => [l.digest, l])).values()) emit({ type: 'layer', ref: shown, digest: l.digest, state: 'exists', total: l.size });
      const name = storeName(ref);
      if (!present.names.includes(name)) store.tag(name, present.digest);
      const img = store.resolve(name) ?? present;
      emit({ type: 'done', ref: shown, digest: img.digest, downloadedBytes: 0, ms: Date.now() - started });
      return img;
    }
    const manifest = top.json as ImageManifest;
    const manifestDigest = top.digest;
    checkDescriptor(manifest.config, shown, 'config');
    if (!Array.isArray(manifest.layers)) throw badManifest(shown, 'layers is not a list');
    manifest.layers.forEach((l, i) => {
      checkDescriptor(l, shown, `layers[${i}]`);
      if (!LAYER_TYPES.has(l.mediaType)) throw badManifest(shown, `layers[${i}] has unsupported media type '${l.mediaType}'`);
    });
    emit({ type: 'resolve', ref: shown, digest: manifestDigest, layers: manifest.layers.length });

    // Keep what this pull writes safe from a concurrent `image prune` until the name exists.
    const lease = (store as ImageStore & { lease?: (d?: string[]) => { add(d: string): void; release(): void } }).lease?.([
      manifestDigest, manifest.config.digest, ...manifest.layers.map((l) => l.digest),
    ]);
    try {
      let downloaded = 0;
      // 2. The config (small: into memory, then the store).
      const cfgDesc = manifest.config;
      if (!store.hasBlob(cfgDesc.digest)) {
        await retry('config', async () => {
          const { body } = await client.getBlob(repo, cfgDesc.digest, { signal, what: `config ${cfgDesc.digest} of ${shown}` });
          const n = await store.putBlob(cfgDesc.digest, cfgDesc.size, counted(body, cfgDesc, () => undefined));
            downloaded += n;
        });
      }
      let config: ImageConfigFile;
      try { config = JSON.parse(store.readBlob(cfgDesc.digest).toString('utf8')) as ImageConfigFile; } catch (e) {
        throw new RuntimeFailure('E_IMAGE_CONFIG', `${shown}: the image config ${cfgDesc.digest} is not valid JSON`, { cause: e });
      }
      checkPlatform(config);
      const diffIds = config?.rootfs?.diff_ids;
      if (!Array.isArray(diffIds) || diffIds.length !== manifest.layers.length) {
        throw new RuntimeFailure('E_IMAGE_CONFIG', `${shown}: the config lists ${Array.isArray(diffIds) ? diffIds.length : 'no'} layer diff_ids for ${manifest.layers.length} layers`);
      }
      diffIds.forEach((d, i) => { if (!isDigest(d)) throw new RuntimeFailure('E_IMAGE_CONFIG', `${shown}: rootfs.diff_ids[${i}] '${d}' is not a sha256 digest`); });
      const layers: LayerRecord[] = manifest.layers.map((l, i) => ({ digest: l.digest, diffId: diffIds[i], mediaType: l.mediaType, size: l.size }));
      for (const d of diffIds) lease?.add(d);

      // 3. The layers: download what is missing (in parallel), each unpacked while it arrives.
      const unique = [...new Map(layers.map((l) => [l.digest, l])).values()];
      const downloads = limiter(Math.max(1, opts.concurrency ?? 4));
      const unpacks = limiter(2);
      const layerEvent = (l: LayerRecord, state: Extract<PullEvent, { type: 'layer' }>['state'], extra: { current?: number; total?: number; message?: string } = {}) =>
        emit({ type: 'layer', ref: shown, digest: l.digest, state, ...extra });
      for (const l of unique) layerEvent(l, store.hasBlob(l.digest) && store.hasLayer(l.diffId) ? 'exists' : 'waiting', { total: l.size });
      /** One layer's blob from the registry into `put` (the store), with retries and progress events. */
      const download = (l: LayerRecord, done: () => boolean, put: (stream: AsyncIterable<Uint8Array>) => Promise<number>, unpacking: boolean) =>
        downloads(() => retry(`layer ${l.digest}`, async () => {
          if (done()) return; // another pull stored it meanwhile
          signal.throwIfAborted();
          layerEvent(l, 'downloading', { current: 0, total: l.size });
          const { body } = await client.getBlob(repo, l.digest, { signal, what: `layer ${l.digest} of ${shown}` });
          let last = 0;
          const stream = counted(body, l, (n) => {
            const now = Date.now();
            if (now - last >= 100 || n === l.size) { last = now; layerEvent(l, n === l.size ? 'verifying' : 'downloading', { current: n, total: l.size }); }
            if (unpacking && n === l.size) layerEvent(l, 'unpacking'); // the last bytes are still being unpacked
          });
          const n = await put(stream);
          downloaded += n; // after the await: += across one would lose concurrent updates
        }, (attempt, e) => layerEvent(l, 'retry', { message: `attempt ${attempt + 1} of ${retries + 1} after: ${(e as Error).message}` })));
      const work = unique.map(async (l) => {
        if (store.hasBlob(l.digest) && store.hasLayer(l.diffId)) return;
        if (!store.hasBlob(l.digest) && !store.hasLayer(l.diffId)) {
          // neither: downloaded and unpacked in one pass; the store renames both only when all verifies
          await download(l, () => store.hasBlob(l.digest) && store.hasLayer(l.diffId), (stream) => store.putLayer(l, stream), true);
        } else if (!store.hasBlob(l.digest)) {
          await download(l, () => store.hasBlob(l.digest), (stream) => store.putBlob(l.digest, l.size, stream), false);
        }
        if (!store.hasLayer(l.diffId)) {
          await unpacks(async () => {
            signal.throwIfAborted();
            layerEvent(l, 'unpacking');
            await store.unpackLayer(l);
          });
        }
        layerEvent(l, 'done', { current: l.size, total: l.size });
      });
      const results = await Promise.allSettled(work.map((p) => p.catch((e) => { abort.abort(e); throw e; })));
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected' && !(r.reason instanceof Error && r.reason.name === 'AbortError'));
      if (failed) throw failed.reason;
      const anyFailed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (anyFailed) throw anyFailed.reason;

      // 4. The manifest last, then the name: the image exists only when everything it needs does.
      if (!store.hasBlob(manifestDigest)) await store.putBlob(manifestDigest, top.bytes.length, top.bytes);
      const name = storeName(ref);
      store.tag(name, manifestDigest);
      const img = store.resolve(name) ?? store.resolve(manifestDigest);
      if (!img) throw new RuntimeFailure('E_IMAGE_STORE', `${shown}: stored as ${manifestDigest} but the store cannot resolve it`);
      emit({ type: 'done', ref: shown, digest: manifestDigest, downloadedBytes: downloaded, ms: Date.now() - started });
      return img;
    } finally {
      lease?.release();
    }
  } catch (e) {
    const err = signal.aborted && opts.signal?.aborted ? opts.signal.reason : e;
    emit({ type: 'error', ref: shown, message: err instanceof Error ? err.message : String(err) });
    throw err;
  } finally {
    opts.signal?.removeEventListener('abort', onOuterAbort);
  }
}

/**
 * The body of a blob, counted: calls `progress(bytesSoFar)`, throws a retryable TransferError when
 * the connection breaks or ends short, and an error naming the digest when more arrives than the
 * descriptor's size (the store checks the digest itself).
 */
async function* counted(body: AsyncIterable<Uint8Array>, d: { digest: string; size: number }, progress: (n: number) => void): AsyncIterable<Uint8Array> {
  let n = 0;
  progress(0);
  try {
    for await (const chunk of body) {
      n += chunk.length;
      if (n > d.size) throw new RuntimeFailure('E_IMAGE_DIGEST', `blob ${d.digest}: the registry sent more than the ${d.size} bytes the manifest declares: refused`);
      progress(n);
      yield chunk;
    }
  } catch (e) {
    if (e instanceof RuntimeFailure) throw e;
    if ((e as Error)?.name === 'AbortError') throw e;
    throw new TransferError('E_REGISTRY_TRANSFER', `blob ${d.digest}: the transfer broke after ${n} of ${d.size} bytes: ${causeText(e)}`, { cause: e });
  }
  if (n < d.size) throw new TransferError('E_REGISTRY_TRANSFER', `blob ${d.digest}: the connection closed after ${n} of ${d.size} bytes`);
}


/** What a registry says of an image without downloading its layers: the manifest, the config, the layer list. */
export interface RemoteImage {
  /** Canonical name (docker.io/library/busybox:latest). */
  name: string;
  /** Manifest digest (this platform's, when the reference names an index). */
  digest: string;
  configDigest: string;
  config: ImageConfigFile;
  layers: LayerRecord[];
  /** Sum of the layer blob sizes (bytes): what a pull downloads at most. */
  size: number;
}

/**
 * Resolves a reference to this platform's manifest and fetches only the image config (a few KB):
 * enough to compile a plan (command, user, env, the layer directories the pull will make) without
 * downloading a layer. Nothing is written to the store.
 */
export async function fetchImageConfig(refString: string, opts: Pick<EnsureImageOptions, 'platform' | 'signal' | 'retries' | 'retryDelayMs' | 'env' | 'fetch'> = {}): Promise<RemoteImage> {
  const ref = parseRef(refString);
  const shown = familiarName(ref);
  const client = new RegistryClient(ref.registry, { env: opts.env, fetch: opts.fetch });
  const retry = <T>(what: string, f: () => Promise<T>) => withRetries(what, f, { retries: opts.retries ?? 3, delayMs: opts.retryDelayMs ?? 500, signal: opts.signal });
  const repo = ref.repository;
  let top: FetchedManifest = await retry('manifest', () => client.getManifest(repo, ref.digest ?? ref.tag ?? 'latest', { signal: opts.signal, what: shown }));
  if (top.kind === 'index') {
    const d = selectManifest(top.json as ImageIndex, opts.platform ?? hostPlatform(), shown);
    checkDescriptor(d, shown, 'manifests[]');
    top = await retry('manifest', () => client.getManifest(repo, d.digest, { signal: opts.signal, what: `${shown} (${d.digest})` }));
    if (top.kind !== 'manifest') throw badManifest(shown, `the index entry for this platform is not an image manifest (${top.mediaType})`);
  }
  const manifest = top.json as ImageManifest;
  checkDescriptor(manifest.config, shown, 'config');
  if (!Array.isArray(manifest.layers)) throw badManifest(shown, 'layers is not a list');
  manifest.layers.forEach((l, i) => checkDescriptor(l, shown, `layers[${i}]`));
  const cfg = manifest.config;
  const bytes = await retry('config', async () => {
    const { body } = await client.getBlob(repo, cfg.digest, { signal: opts.signal, what: `config ${cfg.digest} of ${shown}` });
    const chunks: Uint8Array[] = [];
    for await (const c of counted(body, cfg, () => undefined)) chunks.push(c);
    return Buffer.concat(chunks);
  });
  const actual = 'sha256:' + createHash('sha256').update(bytes).digest('hex');
  if (actual !== cfg.digest) throw new RuntimeFailure('E_IMAGE_DIGEST', `${shown}: the config does not match its digest: expected ${cfg.digest}, got ${actual}`);
  let config: ImageConfigFile;
  try { config = JSON.parse(bytes.toString('utf8')) as ImageConfigFile; } catch (e) {
    throw new RuntimeFailure('E_IMAGE_CONFIG', `${shown}: the image config ${cfg.digest} is not valid JSON`, { cause: e });
  }
  const diffIds = config?.rootfs?.diff_ids;
  if (!Array.isArray(diffIds) || diffIds.length !== manifest.layers.length || !diffIds.every(isDigest)) {
    throw new RuntimeFailure('E_IMAGE_CONFIG', `${shown}: the config's rootfs.diff_ids do not match the manifest's ${manifest.layers.length} layers`);
  }
  const layers: LayerRecord[] = manifest.layers.map((l, i) => ({ digest: l.digest, diffId: diffIds[i], mediaType: l.mediaType, size: l.size }));
  return { name: storeName(ref), digest: top.digest, configDigest: cfg.digest, config, layers, size: layers.reduce((n, l) => n + l.size, 0) };
}
