// Registry credentials and challenges: reading and writing the credential files docker and podman
// use, parsing `WWW-Authenticate`, and fetching (and caching per scope) bearer tokens.
//
// Where credentials are read from, first match wins:
//   1. $REGISTRY_AUTH_FILE, else $XDG_RUNTIME_DIR/containers/auth.json   (podman, skopeo, buildah)
//   2. $DOCKER_CONFIG/config.json, else ~/.docker/config.json            (docker)
// Both hold `{"auths": {"HOST": {"auth": base64("user:pass")}}}` (or `username`/`password`).
// `niwa login` writes $REGISTRY_AUTH_FILE when it is set, otherwise docker's config.json (which
// podman and skopeo also read). Credential helpers (`credsStore`, `credHelpers`) are not run.
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { RuntimeFailure } from '../errors.js';
import { normalizeRegistry } from './reference.js';

export interface Credentials { username: string; password: string }

/** Docker Hub's key in docker's config.json. */
const DOCKER_HUB_KEY = 'https://index.docker.io/v1/';

export function podmanAuthFile(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.REGISTRY_AUTH_FILE) return env.REGISTRY_AUTH_FILE;
  if (env.XDG_RUNTIME_DIR) return join(env.XDG_RUNTIME_DIR, 'containers', 'auth.json');
  return undefined;
}

export function dockerConfigFile(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.DOCKER_CONFIG || join(env.HOME || homedir(), '.docker'), 'config.json');
}

/** The files consulted, in order. */
export function authFiles(env: NodeJS.ProcessEnv = process.env): string[] {
  return [podmanAuthFile(env), dockerConfigFile(env)].filter((f): f is string => Boolean(f));
}

/** The file `niwa login` writes. */
export function loginFile(env: NodeJS.ProcessEnv = process.env): string {
  return env.REGISTRY_AUTH_FILE || dockerConfigFile(env);
}

/** `https://host/v1/`, `host/v2/`, `HOST` → host (docker.io for Docker Hub's aliases). */
export function authKeyHost(key: string): string {
  const h = key.replace(/^[a-z]+:\/\//i, '').replace(/\/.*$/, '');
  return normalizeRegistry(h);
}

interface AuthEntry { auth?: string; username?: string; password?: string; identitytoken?: string }

function readAuths(file: string): Record<string, AuthEntry> | undefined {
  let text: string;
  try { text = readFileSync(file, 'utf8'); } catch { return undefined; }
  try {
    const j = JSON.parse(text) as { auths?: Record<string, AuthEntry> };
    return j && typeof j === 'object' && j.auths && typeof j.auths === 'object' ? j.auths : undefined;
  } catch (e) {
    throw new RuntimeFailure('E_AUTH_FILE', `cannot read credentials from ${file}: ${(e as Error).message}`, { hint: 'fix or remove the file', cause: e });
  }
}

function decodeEntry(e: AuthEntry): Credentials | undefined {
  if (e.auth) {
    const s = Buffer.from(e.auth, 'base64').toString('utf8');
    const i = s.indexOf(':');
    if (i > 0) return { username: s.slice(0, i), password: s.slice(i + 1) };
  }
  if (e.username && e.password !== undefined) return { username: e.username, password: e.password };
  return undefined;
}

/** Credentials for a registry (canonical host, e.g. docker.io or 127.0.0.1:5000), or undefined. */
export function findCredentials(registry: string, env: NodeJS.ProcessEnv = process.env): Credentials | undefined {
  const want = normalizeRegistry(registry);
  for (const f of authFiles(env)) {
    const auths = readAuths(f);
    if (!auths) continue;
    // An exact key first (podman allows host/namespace keys; niwa looks up by host).
    const keys = Object.keys(auths).sort((a, b) => Number(b === want) - Number(a === want));
    for (const k of keys) {
      if (authKeyHost(k) !== want) continue;
      const c = decodeEntry(auths[k]);
      if (c) return c;
    }
  }
  return undefined;
}

function writeJsonAtomic(file: string, data: unknown): void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.niwa-${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(data, null, '\t') + '\n', { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, file);
}

function readConfig(file: string): Record<string, unknown> {
  if (!existsSync(file)) return {};
  try {
    const j = JSON.parse(readFileSync(file, 'utf8'));
    return j && typeof j === 'object' ? j : {};
  } catch (e) {
    throw new RuntimeFailure('E_AUTH_FILE', `cannot update ${file}: it is not valid JSON (${(e as Error).message})`, { hint: 'fix or remove the file', cause: e });
  }
}

/** Store credentials the way `docker login` does (other keys of the file are kept). Returns the file. */
export function saveCredentials(registry: string, c: Credentials, env: NodeJS.ProcessEnv = process.env): string {
  const file = loginFile(env);
  const host = normalizeRegistry(registry);
  const conf = readConfig(file);
  const auths = (conf.auths && typeof conf.auths === 'object' ? conf.auths : {}) as Record<string, AuthEntry>;
  for (const k of Object.keys(auths)) if (authKeyHost(k) === host) delete auths[k];
  auths[host === 'docker.io' ? DOCKER_HUB_KEY : host] = { auth: Buffer.from(`${c.username}:${c.password}`).toString('base64') };
  conf.auths = auths;
  writeJsonAtomic(file, conf);
  return file;
}

/** Remove a registry's credentials from every file that has them. Returns the files changed. */
export function removeCredentials(registry: string, env: NodeJS.ProcessEnv = process.env): string[] {
  const host = normalizeRegistry(registry);
  const changed: string[] = [];
  for (const file of authFiles(env)) {
    if (!existsSync(file)) continue;
    const conf = readConfig(file);
    const auths = conf.auths as Record<string, AuthEntry> | undefined;
    if (!auths || typeof auths !== 'object') continue;
    const keys = Object.keys(auths).filter((k) => authKeyHost(k) === host);
    if (!keys.length) continue;
    for (const k of keys) delete auths[k];
    writeJsonAtomic(file, conf);
    changed.push(file);
  }
  return changed;
}

// ---- challenges -------------------------------------------------------------------------------

export interface Challenge { scheme: string; params: Record<string, string> }

/** Parse a `WWW-Authenticate` value: `Bearer realm="…",service="…",scope="…"`, `Basic realm="…"`. */
export function parseChallenges(header: string): Challenge[] {
  const out: Challenge[] = [];
  let i = 0;
  const s = header;
  const skipWs = () => { while (i < s.length && /[\s,]/.test(s[i])) i++; };
  while (i < s.length) {
    skipWs();
    const m = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+/.exec(s.slice(i));
    if (!m) break;
    i += m[0].length;
    const ch: Challenge = { scheme: m[0].toLowerCase(), params: {} };
    out.push(ch);
    // params: key=value or key="quoted", separated by commas; a bare token starts the next challenge.
    for (;;) {
      const save = i;
      skipWs();
      const km = /^([A-Za-z0-9!#$%&'*+.^_`|~-]+)\s*=\s*/.exec(s.slice(i));
      if (!km) { i = save; break; }
      i += km[0].length;
      let v = '';
      if (s[i] === '"') {
        i++;
        while (i < s.length && s[i] !== '"') {
          if (s[i] === '\\' && i + 1 < s.length) i++;
          v += s[i++];
        }
        i++;
      } else {
        const vm = /^[^,\s]*/.exec(s.slice(i))!;
        v = vm[0];
        i += v.length;
      }
      ch.params[km[1].toLowerCase()] = v;
    }
    // A token68 (e.g. `Negotiate abc==`) without '=' pairs: skip to the next comma.
    if (!Object.keys(ch.params).length) { while (i < s.length && s[i] !== ',') i++; }
  }
  return out;
}

export function basicHeader(c: Credentials): string {
  return `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}`;
}

interface CachedToken { header: string; expires: number }

/**
 * Bearer tokens per (realm, service, scope), reused until they expire. `fetchToken` asks the
 * realm with the user's credentials (basic) when there are any, anonymously otherwise.
 */
export class TokenCache {
  private readonly tokens = new Map<string, CachedToken>();
  constructor(private readonly fetchImpl: typeof fetch = fetch) {}

  get(key: string): string | undefined {
    const t = this.tokens.get(key);
    if (t && t.expires > Date.now()) return t.header;
    if (t) this.tokens.delete(key);
    return undefined;
  }

  async fetchToken(registry: string, params: Record<string, string>, scope: string | undefined, creds: Credentials | undefined, signal?: AbortSignal): Promise<string> {
    const realm = params.realm;
    if (!realm) throw new RuntimeFailure('E_REGISTRY_AUTH', `registry ${registry} asked for a bearer token without saying where to get one (no realm)`);
    const key = `${realm}|${params.service ?? ''}|${scope ?? ''}|${creds?.username ?? ''}`;
    const cached = this.get(key);
    if (cached) return cached;
    const url = new URL(realm);
    if (params.service) url.searchParams.set('service', params.service);
    for (const sc of (scope ?? '').split(' ').filter(Boolean)) url.searchParams.append('scope', sc);
    if (creds) url.searchParams.set('account', creds.username);
    const headers: Record<string, string> = { 'User-Agent': 'niwa/0.1' };
    if (creds) headers.Authorization = basicHeader(creds);
    let r: Response;
    try {
      r = await this.fetchImpl(url, { headers, signal });
    } catch (e) {
      throw new RuntimeFailure('E_REGISTRY_AUTH', `cannot reach the token service of ${registry} at ${url.origin}: ${causeText(e)}`, { cause: e });
    }
    if (r.status === 401 || r.status === 403) {
      await r.body?.cancel();
      throw new RuntimeFailure('E_REGISTRY_AUTH', `${registry}: the token service refused ${creds ? `the credentials of '${creds.username}'` : 'an anonymous request'} (HTTP ${r.status})`, {
        hint: creds ? `check the user name and password: niwa login ${registry}` : `log in first: niwa login ${registry}`,
      });
    }
    if (!r.ok) {
      await r.body?.cancel();
      throw new RuntimeFailure('E_REGISTRY_AUTH', `${registry}: the token service at ${url.origin} answered HTTP ${r.status}`);
    }
    let body: { token?: string; access_token?: string; expires_in?: number; issued_at?: string };
    try { body = (await r.json()) as typeof body; } catch (e) {
      throw new RuntimeFailure('E_REGISTRY_AUTH', `${registry}: the token service sent something that is not JSON`, { cause: e });
    }
    const token = body.token || body.access_token;
    if (!token) throw new RuntimeFailure('E_REGISTRY_AUTH', `${registry}: the token service sent no token`);
    // Tokens live at least 60 s (the spec's default); renew 10 s early.
    const lifetime = Math.max(60, Number(body.expires_in) || 60);
    const header = `Bearer ${token}`;
    this.tokens.set(key, { header, expires: Date.now() + (lifetime - 10) * 1000 });
    return header;
  }
}

/** The text of a fetch failure's cause (ECONNREFUSED, ENOTFOUND, certificate errors, ...). */
export function causeText(e: unknown): string {
  const err = e as { cause?: { code?: string; message?: string }; message?: string; code?: string };
  const c = err?.cause;
  if (c?.code) return c.message && !c.message.includes(c.code) ? `${c.code}: ${c.message}` : c.message ?? c.code;
  if (c?.message) return c.message;
  return err?.message ?? String(e);
}
