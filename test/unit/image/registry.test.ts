// The registry client against a scripted fetch: https first then http for loopback and listed
// registries (never for others), digests checked, bearer tokens fetched once per scope, registry
// errors turned into codes with hints.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { RegistryClient, RegistryError } from '../../../src/image/registry.js';
import { MEDIA } from '../../../src/image/types.js';

type Handler = (url: URL, init: RequestInit) => Response | Promise<Response>;
function fakeFetch(h: Handler) {
  const calls: { url: string; auth?: string }[] = [];
  const f = (async (input: string | URL, init: RequestInit = {}) => {
    const url = new URL(String(input));
    calls.push({ url: url.toString(), auth: (init.headers as Record<string, string> | undefined)?.Authorization });
    return h(url, init);
  }) as typeof fetch;
  return { f, calls };
}
const netError = (code: string) => Object.assign(new TypeError('fetch failed'), { cause: Object.assign(new Error(`${code} something`), { code }) });
const manifest = { schemaVersion: 2, mediaType: MEDIA.ociManifest, config: { mediaType: MEDIA.ociConfig, digest: 'sha256:' + 'a'.repeat(64), size: 2 }, layers: [] };
const body = Buffer.from(JSON.stringify(manifest));
const digest = 'sha256:' + createHash('sha256').update(body).digest('hex');
const ok = (headers: Record<string, string> = {}) => new Response(body, { status: 200, headers: { 'Content-Type': MEDIA.ociManifest, 'Docker-Content-Digest': digest, ...headers } });
const env = { HOME: '/nonexistent' };

test('loopback: https first, then plain http, remembered', async () => {
  const { f, calls } = fakeFetch((url) => { if (url.protocol === 'https:') throw netError('ERR_SSL_WRONG_VERSION_NUMBER'); return ok(); });
  const c = new RegistryClient('127.0.0.1:5000', { fetch: f, env });
  const m = await c.getManifest('x', 'latest');
  assert.equal(m.digest, digest);
  assert.equal(m.kind, 'manifest');
  await c.getManifest('x', 'latest');
  assert.deepEqual(calls.map((c2) => c2.url), ['https://127.0.0.1:5000/v2/x/manifests/latest', 'http://127.0.0.1:5000/v2/x/manifests/latest', 'http://127.0.0.1:5000/v2/x/manifests/latest']);
});

test('other registries: https only, unless listed in NIWA_INSECURE_REGISTRIES', async () => {
  const { f, calls } = fakeFetch((url) => { if (url.protocol === 'https:') throw netError('ECONNRESET'); return ok(); });
  await assert.rejects(new RegistryClient('reg.example:5000', { fetch: f, env }).getManifest('x', '1'), (e: unknown) => e instanceof RegistryError && e.code === 'E_REGISTRY_UNREACHABLE' && /reg\.example:5000/.test(e.message));
  assert.equal(calls.length, 1);
  const c = new RegistryClient('reg.example:5000', { fetch: f, env: { ...env, NIWA_INSECURE_REGISTRIES: 'other:1, reg.example:5000' } });
  assert.equal((await c.getManifest('x', '1')).digest, digest);
  // docker.io is reached at registry-1.docker.io.
  const hub = fakeFetch(() => ok());
  await new RegistryClient('docker.io', { fetch: hub.f, env }).getManifest('library/busybox', 'latest');
  assert.equal(hub.calls[0].url, 'https://registry-1.docker.io/v2/library/busybox/manifests/latest');
});

test('a refused connection names the host and is not retried', async () => {
  const { f } = fakeFetch(() => { throw netError('ECONNREFUSED'); });
  await assert.rejects(new RegistryClient('127.0.0.1:1234', { fetch: f, env }).getManifest('x', '1'), (e: unknown) =>
    e instanceof RegistryError && !e.retryable && /cannot connect to registry 127\.0\.0\.1:1234: ECONNREFUSED/.test(e.message) && /nothing listens at https:\/\/127\.0\.0\.1:1234/.test(e.hint!));
});

test('digests: Docker-Content-Digest and a requested digest must match the bytes', async () => {
  const other = 'sha256:' + 'b'.repeat(64);
  await assert.rejects(new RegistryClient('r.example', { fetch: fakeFetch(() => ok({ 'Docker-Content-Digest': other })).f, env }).getManifest('x', '1'), (e: unknown) => e instanceof RegistryError && e.code === 'E_IMAGE_DIGEST' && e.message.includes(other));
  await assert.rejects(new RegistryClient('r.example', { fetch: fakeFetch(() => ok({})).f, env }).getManifest('x', other), (e: unknown) => e instanceof RegistryError && e.code === 'E_IMAGE_DIGEST' && e.message.includes(digest));
  const schema1 = fakeFetch(() => new Response('{"schemaVersion":1}', { headers: { 'Content-Type': 'application/vnd.docker.distribution.manifest.v1+prettyjws' } }));
  await assert.rejects(new RegistryClient('r.example', { fetch: schema1.f, env }).getManifest('x', '1'), /schema 1 manifests are not supported/);
});

test('bearer: challenge answered with a token per scope, sent up front afterwards', async () => {
  const tokens: string[] = [];
  const { f, calls } = fakeFetch((url, init) => {
    if (url.pathname === '/token') {
      tokens.push(url.searchParams.getAll('scope').join(' '));
      return Response.json(tokens.length % 2 ? { token: `t${tokens.length}` } : { access_token: `t${tokens.length}` });
    }
    const auth = (init.headers as Record<string, string>).Authorization;
    if (!auth) return new Response('{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}', { status: 401, headers: { 'WWW-Authenticate': `Bearer realm="https://auth.example/token",service="reg",scope="repository:${url.pathname.split('/')[2]}:pull"` } });
    return ok();
  });
  const c = new RegistryClient('r.example', { fetch: f, env });
  await c.getManifest('a', '1');
  await c.getManifest('a', '2');
  await c.getManifest('b', '1');
  assert.deepEqual(tokens, ['repository:a:pull', 'repository:b:pull']);
  assert.deepEqual(calls.filter((x) => !x.url.includes('/token')).map((x) => x.auth ?? '-'), ['-', 'Bearer t1', 'Bearer t1', 'Bearer t2']);
});

test('registry errors: codes and hints', async () => {
  const err = (status: number, code: string) => fakeFetch(() => new Response(JSON.stringify({ errors: [{ code, message: code.toLowerCase() }] }), { status })).f;
  const get = (f: typeof fetch) => new RegistryClient('r.example', { fetch: f, env }).getManifest('o/n', 'v1');
  await assert.rejects(get(err(404, 'MANIFEST_UNKNOWN')), (e: unknown) => e instanceof RegistryError && e.code === 'E_IMAGE_NOT_FOUND' && /r\.example\/o\/n:v1: not found in r\.example \(MANIFEST_UNKNOWN/.test(e.message) && /niwa login r\.example/.test(e.hint!));
  await assert.rejects(get(err(403, 'DENIED')), (e: unknown) => e instanceof RegistryError && e.code === 'E_REGISTRY_DENIED' && /niwa login r\.example/.test(e.hint!));
  await assert.rejects(get(err(401, 'UNAUTHORIZED')), (e: unknown) => e instanceof RegistryError && e.code === 'E_REGISTRY_AUTH' && /log in first: niwa login r\.example/.test(e.hint!));
  await assert.rejects(get(err(429, 'TOOMANYREQUESTS')), (e: unknown) => e instanceof RegistryError && e.code === 'E_REGISTRY_RATE' && e.retryable);
  await assert.rejects(get(err(503, 'UNAVAILABLE')), (e: unknown) => e instanceof RegistryError && e.code === 'E_REGISTRY' && e.retryable);
});
