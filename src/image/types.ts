// The image half of niwa, as data: references, manifests, image configs, the store's records and
// pull progress events. This file is the contract between the registry client (pull.ts,
// registry.ts), the content store (store.ts, unpack.ts), offline sources (archive.ts) and the
// run path (apply.ts → plan). It holds types and tiny pure helpers only.
//
// Store layout under the data root (`$NIWA_DATA_ROOT`, default /var/lib/niwa):
//   images/blobs/sha256/<hex>         every blob (layer, config, manifest, index), verified by digest + size
//   images/layers/sha256/<hex>/       a layer unpacked once, keyed by its diff_id (the uncompressed digest);
//                                     overlay-ready: whiteouts as 0/0 char devices, opaque dirs with
//                                     trusted.overlay.opaque=y. Appears only complete (atomic rename).
//   images/repositories.json          canonical name → manifest digest (+ when), written atomically under a lock
//   images/tmp/                       downloads and unpacks in progress (never used until renamed into place)
// Containers from images: <data root>/containers/<project>/<id>/{upper,work} (removed with the container).

/** A parsed image reference, normalised as Docker does (docker.io/library/busybox:latest). */
export interface ImageRef {
  /** Registry host[:port], e.g. docker.io, ghcr.io, 127.0.0.1:5000. */
  registry: string;
  /** Repository path, e.g. library/busybox. */
  repository: string;
  /** Tag, when given or implied ('latest' when neither tag nor digest was given). */
  tag?: string;
  /** sha256:… when given (wins over the tag for what is fetched). */
  digest?: string;
}

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

/** The part of an OCI/Docker image config that says how to run it (`config` in the config blob). */
export interface ImageRuntimeConfig {
  User?: string;
  ExposedPorts?: Record<string, object>;
  Env?: string[];
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  Volumes?: Record<string, object>;
  WorkingDir?: string;
  Labels?: Record<string, string>;
  StopSignal?: string;
  /** Docker's extension; durations in nanoseconds. Test: ["NONE"] | ["CMD", ...] | ["CMD-SHELL", cmd]. */
  Healthcheck?: { Test?: string[]; Interval?: number; Timeout?: number; StartPeriod?: number; StartInterval?: number; Retries?: number };
}

/** The image config blob (application/vnd.oci.image.config.v1+json or Docker's container config). */
export interface ImageConfigFile {
  architecture: string;
  os: string;
  variant?: string;
  created?: string;
  author?: string;
  config?: ImageRuntimeConfig;
  rootfs: { type: 'layers'; diff_ids: string[] };
  history?: { created?: string; created_by?: string; empty_layer?: boolean; comment?: string }[];
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: Platform & { 'os.version'?: string; 'os.features'?: string[]; features?: string[] };
  annotations?: Record<string, string>;
  urls?: string[];
}

/** OCI image manifest or Docker schema 2 manifest (same shape). */
export interface ImageManifest {
  schemaVersion: 2;
  mediaType?: string;
  config: Descriptor;
  layers: Descriptor[];
  annotations?: Record<string, string>;
}

/** OCI image index or Docker manifest list. */
export interface ImageIndex {
  schemaVersion: 2;
  mediaType?: string;
  manifests: Descriptor[];
  annotations?: Record<string, string>;
}

export const MEDIA = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  ociLayerNondistGzip: 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  dockerForeignLayerGzip: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
} as const;

/** How a layer blob is compressed, from its media type (the unpacker also sniffs magic bytes). */
export type Compression = 'none' | 'gzip' | 'zstd';

/** One layer of a stored image, bottom first. */
export interface LayerRecord {
  /** Digest of the blob as stored/transferred (compressed). */
  digest: string;
  /** Digest of the uncompressed tar (config rootfs.diff_ids[i]); names the unpacked layer dir. */
  diffId: string;
  mediaType: string;
  /** Size of the blob in bytes. */
  size: number;
}

/** An image the store holds: a manifest, its config and its layers, plus the names that point at it. */
export interface StoredImage {
  /** Manifest digest: the image's identity in niwa (what `ls` shows, what `@sha256:` pulls match). */
  digest: string;
  /** Canonical names pointing at this manifest (docker.io/library/busybox:latest, …). */
  names: string[];
  configDigest: string;
  config: ImageConfigFile;
  layers: LayerRecord[];
  /** Sum of the layer blob sizes (bytes). */
  size: number;
  /** When this name was last pulled/loaded (ISO time). */
  pulledAt: string;
}

/** Pull policies, as compose's pull_policy spells them (`if_not_present` = `missing`). */
export type PullPolicy = 'always' | 'missing' | 'never' | 'if_not_present' | 'build';

/** Progress of a pull: emitted, never printed, by pull.ts; rendered by the CLI or the live view. */
export type PullEvent =
  | { type: 'resolve'; ref: string; digest: string; layers: number }
  | { type: 'layer'; ref: string; digest: string; state: 'exists' | 'waiting' | 'downloading' | 'verifying' | 'unpacking' | 'done' | 'retry'; current?: number; total?: number; message?: string }
  | { type: 'done'; ref: string; digest: string; downloadedBytes: number; ms: number }
  | { type: 'error'; ref: string; message: string };

/** The data root: `$NIWA_DATA_ROOT`, default /var/lib/niwa. */
export function dataRoot(env: NodeJS.ProcessEnv = process.env): string {
  return env.NIWA_DATA_ROOT || '/var/lib/niwa';
}

/** `sha256:<64 hex>` only (the only algorithm niwa accepts; anything else is refused, never used as a path). */
export function isDigest(s: string): boolean {
  return /^sha256:[a-f0-9]{64}$/.test(s);
}

/**
 * The content store (implemented in store.ts as `openStore(dataRoot)`). Every method that writes
 * is safe against a second niwa process doing the same at the same time and against being killed
 * half-way: nothing becomes visible under blobs/ or layers/ until it is complete and verified.
 */
export interface ImageStore {
  /** <data root>/images */
  readonly root: string;
  hasBlob(digest: string): boolean;
  /** Absolute path of a stored blob (whether or not it exists). Throws on a malformed digest. */
  blobPath(digest: string): string;
  /** Read a stored blob (manifests, configs). */
  readBlob(digest: string): Buffer;
  /**
   * Store a blob from bytes or a stream, verifying sha256 and (when given) size while writing to
   * tmp/; renamed into blobs/ only when both match. A mismatch throws an error naming the digest
   * (code E_IMAGE_DIGEST) and leaves nothing behind. Returns the number of bytes written.
   */
  putBlob(digest: string, size: number | undefined, data: Uint8Array | AsyncIterable<Uint8Array>): Promise<number>;
  hasLayer(diffId: string): boolean;
  /** The unpacked layer's directory (an overlay lower dir). */
  layerDir(diffId: string): string;
  /** Unpack a stored layer blob once (gzip/zstd/plain sniffed), verifying diffId of the tar stream. */
  unpackLayer(layer: LayerRecord): Promise<void>;
  /**
   * Store a layer's blob and unpack it in one pass over a stream (a download): both are written to
   * tmp/ and renamed into place only when the blob's size and digest and the tar's diff_id all
   * match; any failure leaves neither. Returns the number of blob bytes.
   */
  putLayer(layer: LayerRecord, data: AsyncIterable<Uint8Array>): Promise<number>;
  /** Point a canonical name at a manifest whose blobs (manifest, config, layers) are all stored and unpacked. */
  tag(name: string, manifestDigest: string): void;
  /** Remove a name; returns false when it did not exist. */
  untag(name: string): boolean;
  /** By canonical name, by manifest digest (`sha256:…`, or a unique prefix of its hex of 12+ chars), or name@digest. */
  resolve(refOrDigest: string): StoredImage | undefined;
  list(): StoredImage[];
  /**
   * Remove blobs and layers no named image references and no digest in `keep` (manifest digests of
   * images containers still use) references; also stale tmp/ entries. Returns what it freed.
   */
  prune(keep: Set<string>): { blobs: number; layers: number; bytes: number };
}
