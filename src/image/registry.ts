// A distribution API v2 client over fetch: manifests (OCI and Docker schema 2, images and
// indexes), blobs as streams (redirects followed), digests checked, auth challenges answered
// (bearer tokens per scope, or basic), registry errors turned into RuntimeFailures with hints.
//
// Transport: HTTPS with certificate checks, except for loopback registries (127.0.0.0/8, ::1,
// localhost) and those listed in NIWA_INSECURE_REGISTRIES (comma-separated host[:port]). For those,
// niwa does what Docker does: try HTTPS first and fall back to plain HTTP when the TLS handshake
// fails; the scheme that worked is remembered for the rest of the process.
import { createHash } from 'node:crypto';
import { RuntimeFailure } from '../errors.js';
import { nodeFetch } from './http.js';
import { TokenCache, basicHeader, causeText, findCredentials, parseChallenges, type Challenge, type Credentials } from './auth.js';
import { apiHost, normalizeRegistry } from './reference.js';
import { MEDIA, type ImageIndex, type ImageManifest } from './types.js';

export const MANIFEST_ACCEPT = [MEDIA.ociManifest, MEDIA.ociIndex, MEDIA.dockerManifest, MEDIA.dockerList].join(', ');
const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
const USER_AGENT = 'niwa/0.1';

/** Connection failures worth another try (a refused connection or an unknown host is not). */
const TRANSIENT = new Set(['ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ECONNABORTED', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CLOSED']);

/** A registry answered with an error (or could not be reached). `retryable`: worth trying again. */
export class RegistryError extends RuntimeFailure {
  readonly status?: number;
  readonly retryable: boolean;
  readonly registryCode?: string;
  constructor(code: string, message: string, opts: { hint?: string; cause?: unknown; status?: number; retryable?: boolean; registryCode?: string } = {}) {
    super(code, message, { hint: opts.hint, cause: opts.cause });
    this.status = opts.status;
    this.retryable = opts.retryable ?? false;
    this.registryCode = opts.registryCode;
  }
}

/** 127.0.0.0/8, ::1, localhost (with or without a port). */
export function isLoopback(registry: string): boolean {
  const host = registry.startsWith('[') ? registry.slice(1, registry.indexOf(']')) : registry.replace(/:\d+$/, '');
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/** Registries that may be spoken to over plain HTTP: loopback, and NIWA_INSECURE_REGISTRIES. */
export function isInsecure(registry: string, env: NodeJS.ProcessEnv = process.env): boolean {
  if (isLoopback(registry)) return true;
  const list = (env.NIWA_INSECURE_REGISTRIES ?? '').split(',').map((s) => normalizeRegistry(s.trim())).filter(Boolean);
  return list.includes(normalizeRegistry(registry));
}

export type ManifestKind = 'manifest' | 'index';

export interface FetchedManifest {
  digest: string;
  mediaType: string;
  kind: ManifestKind;
  bytes: Buffer;
  json: ImageManifest | ImageIndex;
}

export interface RegistryClientOptions {
  env?: NodeJS.ProcessEnv;
  fetch?: typeof fetch;
  /** Credentials to use instead of the credential files (login). */
  credentials?: Credentials;
  tokens?: TokenCache;
}

const sha256 = (b: Uint8Array) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

export function manifestKind(mediaType: string | undefined, json: Record<string, unknown>): ManifestKind | undefined {
  if (mediaType === MEDIA.ociIndex || mediaType === MEDIA.dockerList) return 'index';
  if (mediaType === MEDIA.ociManifest || mediaType === MEDIA.dockerManifest) return 'manifest';
  if (!mediaType || mediaType === 'application/json') {
    if (Array.isArray(json.manifests)) return 'index';
    if (json.config && Array.isArray(json.layers)) return 'manifest';
  }
  return undefined;
}

/** One registry (canonical host: docker.io, ghcr.io, 127.0.0.1:5000). */
export class RegistryClient {
  readonly registry: string;
  private readonly host: string;
  private readonly env: NodeJS.ProcessEnv;
  private readonly fetchImpl: typeof fetch;
  private readonly tokens: TokenCache;
  private creds: Credentials | undefined | null = null;
  private base?: string;
  /** The auth scheme learnt from the first challenge, used up front from then on. */
  private challenge?: Challenge;

  constructor(registry: string, opts: RegistryClientOptions = {}) {
    this.registry = normalizeRegistry(registry);
    this.host = apiHost(this.registry);
    this.env = opts.env ?? process.env;
    this.fetchImpl = opts.fetch ?? nodeFetch;
    this.tokens = opts.tokens ?? new TokenCache(this.fetchImpl);
    if (opts.credentials) this.creds = opts.credentials;
  }

  private credentials(): Credentials | undefined {
    if (this.creds === null) this.creds = findCredentials(this.registry, this.env);
    return this.creds;
  }

  private unreachable(e: unknown, url: string): RegistryError {
    const why = causeText(e);
    const code = (e as { cause?: { code?: string } })?.cause?.code ?? '';
    const refused = code === 'ECONNREFUSED';
    const unknownHost = code === 'ENOTFOUND' || code === 'EAI_AGAIN';
    return new RegistryError('E_REGISTRY_UNREACHABLE', `cannot connect to registry ${this.registry}${this.host !== this.registry ? ` (${this.host})` : ''}: ${why}`, {
      cause: e,
      retryable: TRANSIENT.has(code),
      hint: refused ? `nothing listens at ${url.replace(/\/v2\/.*$/, '')}: is the registry running, and is the port right?`
        : unknownHost ? `check the registry host name '${this.host}' (and the network/DNS)`
          : /certificate|self.signed|TLS|SSL/i.test(why) ? `the registry's TLS certificate was refused; for a registry without valid TLS, list it in NIWA_INSECURE_REGISTRIES=${this.registry}` : undefined,
    });
  }

  /** fetch with the scheme decided (https, or http for insecure registries when https fails). */
  private async send(path: string, init: RequestInit): Promise<Response> {
    // Once a scheme worked it is kept; until then HTTPS first, and plain HTTP only for an insecure
    // registry whose HTTPS attempt failed for another reason than nothing listening (as Docker does).
    const bases = this.base ? [this.base] : [`https://${this.host}`, `http://${this.host}`];
    for (let i = 0; ; i++) {
      try {
        const r = await this.fetchImpl(bases[i] + path, init);
        this.base = bases[i];
        return r;
      } catch (e) {
        if ((init.signal as AbortSignal | undefined)?.aborted) throw e;
        const refused = (e as { cause?: { code?: string } })?.cause?.code === 'ECONNREFUSED';
        if (i + 1 >= bases.length || refused || !isInsecure(this.registry, this.env)) throw this.unreachable(e, bases[i] + path);
      }
    }
  }

  /** The Authorization header for a scope: the scope a 401 asked for, or ours when sent up front. */
  private async authorization(challenge: Challenge, scope: string | undefined, signal?: AbortSignal): Promise<string | undefined> {
    const creds = this.credentials();
    if (challenge.scheme === 'basic') return creds ? basicHeader(creds) : undefined;
    if (challenge.scheme === 'bearer') return this.tokens.fetchToken(this.registry, challenge.params, scope, creds, signal);
    return undefined;
  }

  /** A request with auth: the scheme already learnt is used up front; a 401 is answered once. */
  async request(path: string, opts: { scope?: string; accept?: string; signal?: AbortSignal; method?: string; what: string; body?: Uint8Array; contentType?: string }): Promise<Response> {
    const headers: Record<string, string> = { 'User-Agent': USER_AGENT };
    if (opts.accept) headers.Accept = opts.accept;
    if (opts.contentType) headers['Content-Type'] = opts.contentType;
    if (opts.body) headers['Content-Length'] = String(opts.body.byteLength);
    const init = (): RequestInit => ({ method: opts.method ?? 'GET', headers, signal: opts.signal, redirect: 'follow', ...(opts.body ? { body: opts.body as unknown as BodyInit } : {}) });
    if (this.challenge) {
      const a = await this.authorization(this.challenge, opts.scope, opts.signal);
      if (a) headers.Authorization = a;
    }
    let r = await this.send(path, init());
    if (r.status !== 401) return r;
    const header = r.headers.get('www-authenticate') ?? '';
    const body = await r.text().catch(() => '');
    const challenges = parseChallenges(header);
    const ch = challenges.find((c) => c.scheme === 'bearer') ?? challenges.find((c) => c.scheme === 'basic');
    const creds = this.credentials();
    if (!ch) throw this.errorFrom(401, body, opts.what);
    // Basic without credentials: nothing to answer with.
    if (ch.scheme === 'basic' && !creds) throw this.errorFrom(401, body, opts.what);
    this.challenge = ch;
    const a = await this.authorization(ch, ch.params.scope ?? opts.scope, opts.signal);
    if (!a) throw this.errorFrom(401, body, opts.what);
    headers.Authorization = a;
    r = await this.send(path, init());
    return r;
  }

  /** Turns an error answer into a RegistryError with a hint. */
  errorFrom(status: number, bodyText: string, what: string): RegistryError {
    let code: string | undefined;
    let message: string | undefined;
    try {
      const j = JSON.parse(bodyText) as { errors?: { code?: string; message?: string; detail?: unknown }[] };
      code = j.errors?.[0]?.code;
      message = j.errors?.[0]?.message;
    } catch { /* not JSON */ }
    const reg = this.registry;
    const login = `niwa login ${reg}`;
    const said = message ? ` (${code ? `${code}: ` : ''}${message})` : code ? ` (${code})` : '';
    if (status === 401 || code === 'UNAUTHORIZED') {
      const creds = this.credentials();
      return new RegistryError('E_REGISTRY_AUTH', `${what}: ${creds ? `the registry refused the credentials of '${creds.username}'` : 'the registry requires authentication'}${said}`, {
        status, registryCode: code, hint: creds ? `log in again: ${login}` : `log in first: ${login} (and check the name: registries answer this for names that do not exist, too)`,
      });
    }
    if (status === 403 || code === 'DENIED') {
      return new RegistryError('E_REGISTRY_DENIED', `${what}: access denied by ${reg}${said}`, {
        status, registryCode: code, hint: `check the name, and that your account may pull it (${login})`,
      });
    }
    if (status === 404 || code === 'MANIFEST_UNKNOWN' || code === 'NAME_UNKNOWN' || code === 'BLOB_UNKNOWN') {
      return new RegistryError('E_IMAGE_NOT_FOUND', `${what}: not found in ${reg}${said}`, {
        status, registryCode: code, hint: `check the name and the tag; a private image needs ${login}`,
      });
    }
    if (status === 429 || code === 'TOOMANYREQUESTS') {
      return new RegistryError('E_REGISTRY_RATE', `${what}: ${reg} says too many requests${said}`, {
        status, registryCode: code, retryable: true, hint: `wait and try again, or log in (${login}) for a higher limit`,
      });
    }
    return new RegistryError('E_REGISTRY', `${what}: ${reg} answered HTTP ${status}${said}`, { status, registryCode: code, retryable: status >= 500 || status === 408 });
  }

  /** GET /v2/: succeeds when the registry accepts our credentials (or needs none). */
  async ping(signal?: AbortSignal): Promise<void> {
    const r = await this.request('/v2/', { signal, what: `${this.registry}` });
    const body = await r.text().catch(() => '');
    if (!r.ok) throw this.errorFrom(r.status, body, `${this.registry}`);
  }

  /** A manifest or index by tag or digest, its digest checked. */
  async getManifest(repository: string, reference: string, opts: { signal?: AbortSignal; what?: string } = {}): Promise<FetchedManifest> {
    const what = opts.what ?? `${this.registry}/${repository}${reference.includes(':') ? '@' : ':'}${reference}`;
    const r = await this.request(`/v2/${repository}/manifests/${reference}`, { scope: `repository:${repository}:pull`, accept: MANIFEST_ACCEPT, signal: opts.signal, what });
    if (!r.ok) throw this.errorFrom(r.status, await r.text().catch(() => ''), what);
    const len = Number(r.headers.get('content-length'));
    if (len > MAX_MANIFEST_BYTES) {
      await r.body?.cancel();
      throw new RegistryError('E_IMAGE_MANIFEST', `${what}: the manifest is ${len} bytes (more than ${MAX_MANIFEST_BYTES}): refused`);
    }
    let bytes: Buffer;
    try { bytes = Buffer.from(await r.arrayBuffer()); } catch (e) {
      throw new RegistryError('E_REGISTRY_UNREACHABLE', `${what}: the connection broke while reading the manifest: ${causeText(e)}`, { cause: e, retryable: true });
    }
    if (bytes.length > MAX_MANIFEST_BYTES) throw new RegistryError('E_IMAGE_MANIFEST', `${what}: the manifest is larger than ${MAX_MANIFEST_BYTES} bytes: refused`);
    const digest = sha256(bytes);
    if (reference.startsWith('sha256:') && reference !== digest) {
      throw new RegistryError('E_IMAGE_DIGEST', `${what}: the registry sent a manifest whose digest is ${digest}, not ${reference}: refused`, { hint: 'the registry or something between it and niwa altered the manifest' });
    }
    const header = r.headers.get('docker-content-digest');
    if (header && header.startsWith('sha256:') && header !== digest) {
      throw new RegistryError('E_IMAGE_DIGEST', `${what}: Docker-Content-Digest says ${header} but the manifest received hashes to ${digest}: refused`, { retryable: true });
    }
    let json: Record<string, unknown>;
    try { json = JSON.parse(bytes.toString('utf8')); } catch (e) {
      throw new RegistryError('E_IMAGE_MANIFEST', `${what}: the manifest is not valid JSON`, { cause: e });
    }
    const ctype = (r.headers.get('content-type') ?? '').split(';')[0].trim();
    const mediaType = (typeof json.mediaType === 'string' ? json.mediaType : '') || ctype;
    if (json.schemaVersion === 1 || mediaType.startsWith('application/vnd.docker.distribution.manifest.v1+')) {
      throw new RegistryError('E_IMAGE_MANIFEST', `${what}: Docker schema 1 manifests are not supported`, { hint: 'push the image again with a current docker/skopeo/buildah (schema 2 or OCI)' });
    }
    const kind = manifestKind(mediaType, json);
    if (!kind) throw new RegistryError('E_IMAGE_MANIFEST', `${what}: unsupported manifest type '${mediaType || 'unknown'}'`);
    if (json.schemaVersion !== 2) throw new RegistryError('E_IMAGE_MANIFEST', `${what}: unsupported manifest schemaVersion ${String(json.schemaVersion)}`);
    return { digest, mediaType: mediaType || (kind === 'index' ? MEDIA.ociIndex : MEDIA.ociManifest), kind, bytes, json: json as unknown as ImageManifest | ImageIndex };
  }

  /** A blob as a stream (redirects to storage followed). The caller verifies the digest. */
  async getBlob(repository: string, digest: string, opts: { signal?: AbortSignal; what?: string } = {}): Promise<{ body: AsyncIterable<Uint8Array>; length?: number }> {
    const what = opts.what ?? `blob ${digest} of ${this.registry}/${repository}`;
    const r = await this.request(`/v2/${repository}/blobs/${digest}`, { scope: `repository:${repository}:pull`, signal: opts.signal, what });
    if (!r.ok) throw this.errorFrom(r.status, await r.text().catch(() => ''), what);
    if (!r.body) throw new RegistryError('E_REGISTRY', `${what}: empty answer`, { retryable: true });
    const cl = r.headers.get('content-length');
    return { body: r.body as unknown as AsyncIterable<Uint8Array>, length: cl === null ? undefined : Number(cl) };
  }
}
