// Credentials files (docker's and podman's), WWW-Authenticate parsing, platform choice.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findCredentials, parseChallenges, removeCredentials, saveCredentials, authKeyHost } from '../../../src/image/auth.js';
import { armVariant, hostPlatform, parsePlatform, selectManifest } from '../../../src/image/platform.js';
import { isInsecure, isLoopback } from '../../../src/image/registry.js';
import { RuntimeFailure } from '../../../src/errors.js';
import type { ImageIndex } from '../../../src/image/types.js';

const dir = mkdtempSync(join(tmpdir(), 'niwa-auth-test-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const b64 = (s: string) => Buffer.from(s).toString('base64');

test('WWW-Authenticate: bearer with quoted params, basic, several challenges', () => {
  assert.deepEqual(parseChallenges('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull"'), [
    { scheme: 'bearer', params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/busybox:pull' } },
  ]);
  assert.deepEqual(parseChallenges('Basic realm="Registry Realm"'), [{ scheme: 'basic', params: { realm: 'Registry Realm' } }]);
  assert.deepEqual(parseChallenges('Bearer realm="a,b", scope="repository:x:pull,push", Basic realm=r'), [
    { scheme: 'bearer', params: { realm: 'a,b', scope: 'repository:x:pull,push' } },
    { scheme: 'basic', params: { realm: 'r' } },
  ]);
  assert.deepEqual(parseChallenges('Bearer realm="q\\"x"'), [{ scheme: 'bearer', params: { realm: 'q"x' } }]);
  assert.deepEqual(parseChallenges(''), []);
});

test('credentials: podman auth file first, then docker config; base64 auth or username/password; hub aliases', () => {
  const podman = join(dir, 'auth.json');
  const docker = join(dir, 'docker');
  mkdirSync(docker);
  writeFileSync(podman, JSON.stringify({ auths: { 'reg.example:5000': { auth: b64('p:pw:with:colons') } } }));
  writeFileSync(join(docker, 'config.json'), JSON.stringify({ auths: {
    'reg.example:5000': { auth: b64('d:dw') },
    'https://index.docker.io/v1/': { auth: b64('hub:h') },
    'https://other.example/v2/': { username: 'u', password: 'x' },
  } }));
  const env = { REGISTRY_AUTH_FILE: podman, DOCKER_CONFIG: docker, HOME: dir };
  assert.deepEqual(findCredentials('reg.example:5000', env), { username: 'p', password: 'pw:with:colons' });
  assert.deepEqual(findCredentials('docker.io', env), { username: 'hub', password: 'h' });
  assert.deepEqual(findCredentials('other.example', env), { username: 'u', password: 'x' });
  assert.equal(findCredentials('nothere.example', env), undefined);
  assert.deepEqual(findCredentials('reg.example:5000', { DOCKER_CONFIG: docker, HOME: dir }), { username: 'd', password: 'dw' });
  assert.equal(authKeyHost('https://index.docker.io/v1/'), 'docker.io');
  assert.equal(authKeyHost('registry-1.docker.io'), 'docker.io');
});

test('login writes docker config.json (0600, other keys kept); logout removes it', () => {
  const docker = join(dir, 'login');
  mkdirSync(docker);
  writeFileSync(join(docker, 'config.json'), JSON.stringify({ credsStore: '', auths: { 'keep.example': { auth: b64('k:k') } }, psFormat: 'x' }));
  const env = { DOCKER_CONFIG: docker, HOME: dir };
  const f = saveCredentials('127.0.0.1:5000', { username: 'alice', password: 's3cret' }, env);
  assert.equal(f, join(docker, 'config.json'));
  assert.equal(statSync(f).mode & 0o777, 0o600);
  const j = JSON.parse(readFileSync(f, 'utf8'));
  assert.equal(j.auths['127.0.0.1:5000'].auth, b64('alice:s3cret'));
  assert.equal(j.psFormat, 'x');
  assert.ok(j.auths['keep.example']);
  saveCredentials('docker.io', { username: 'h', password: 'p' }, env);
  assert.ok(JSON.parse(readFileSync(f, 'utf8')).auths['https://index.docker.io/v1/']);
  assert.deepEqual(removeCredentials('127.0.0.1:5000', env), [f]);
  assert.equal(findCredentials('127.0.0.1:5000', env), undefined);
  assert.deepEqual(removeCredentials('127.0.0.1:5000', env), []);
});

test('plain HTTP only for loopback and NIWA_INSECURE_REGISTRIES', () => {
  for (const h of ['127.0.0.1:5000', '127.1.2.3', 'localhost:5000', 'localhost', '[::1]:5000']) assert.ok(isLoopback(h), h);
  for (const h of ['128.0.0.1:5000', 'localhost.example.com', 'docker.io', '10.0.0.1:5000']) assert.ok(!isLoopback(h), h);
  assert.ok(isInsecure('10.0.0.1:5000', { NIWA_INSECURE_REGISTRIES: 'a.example, 10.0.0.1:5000' }));
  assert.ok(!isInsecure('10.0.0.1:5001', { NIWA_INSECURE_REGISTRIES: 'a.example, 10.0.0.1:5000' }));
  assert.ok(!isInsecure('ghcr.io', {}));
});

test('platforms: host names, arm variants from cpuinfo, parse', () => {
  assert.deepEqual(hostPlatform('x64'), { os: 'linux', architecture: 'amd64' });
  assert.deepEqual(hostPlatform('arm64'), { os: 'linux', architecture: 'arm64', variant: 'v8' });
  assert.deepEqual(hostPlatform('arm', () => 'processor\t: 0\nCPU architecture: 7\n'), { os: 'linux', architecture: 'arm', variant: 'v7' });
  assert.deepEqual(hostPlatform('arm', () => 'CPU architecture: 6\n'), { os: 'linux', architecture: 'arm', variant: 'v6' });
  assert.equal(armVariant('CPU architecture: 8'), 'v8');
  assert.deepEqual(parsePlatform('linux/arm/v7'), { os: 'linux', architecture: 'arm', variant: 'v7' });
  assert.deepEqual(parsePlatform('linux/x64'), { os: 'linux', architecture: 'amd64' });
  assert.throws(() => parsePlatform('linux'), /invalid platform/);
});

test('choosing from an index: exact variant, compatible variant, attestations skipped, clear error', () => {
  const d = (n: number, os: string, architecture: string, variant?: string) => ({ mediaType: 'm', digest: 'sha256:' + String(n).repeat(64).slice(0, 64), size: 1, platform: { os, architecture, ...(variant ? { variant } : {}) } });
  const index: ImageIndex = { schemaVersion: 2, manifests: [d(1, 'linux', 'arm', 'v6'), d(2, 'linux', 'arm', 'v7'), d(3, 'linux', 'amd64'), d(4, 'linux', 'arm64'), d(5, 'unknown', 'unknown')] };
  assert.equal(selectManifest(index, { os: 'linux', architecture: 'amd64' }, 'x').digest, index.manifests[2].digest);
  assert.equal(selectManifest(index, { os: 'linux', architecture: 'arm', variant: 'v7' }, 'x').digest, index.manifests[1].digest);
  assert.equal(selectManifest(index, { os: 'linux', architecture: 'arm', variant: 'v6' }, 'x').digest, index.manifests[0].digest);
  assert.equal(selectManifest({ ...index, manifests: [index.manifests[0]] }, { os: 'linux', architecture: 'arm', variant: 'v8' }, 'x').digest, index.manifests[0].digest);
  assert.equal(selectManifest(index, { os: 'linux', architecture: 'arm64', variant: 'v8' }, 'x').digest, index.manifests[3].digest);
  assert.throws(() => selectManifest({ ...index, manifests: [index.manifests[1]] }, { os: 'linux', architecture: 'arm', variant: 'v6' }, 'img'), RuntimeFailure);
  assert.throws(() => selectManifest(index, { os: 'linux', architecture: 's390x' }, 'img:1'), (e: unknown) => e instanceof RuntimeFailure && e.code === 'E_IMAGE_PLATFORM'
    && /img:1 has no image for linux\/s390x; it offers linux\/arm\/v6, linux\/arm\/v7, linux\/amd64, linux\/arm64$/.test(e.message));
});
