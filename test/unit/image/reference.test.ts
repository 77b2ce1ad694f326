// Image references against the distribution reference grammar and Docker's normalisation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { apiHost, familiarName, formatRef, parseRef } from '../../../src/image/reference.js';
import { UserError } from '../../../src/errors.js';

const D = 'sha256:' + 'ab'.repeat(32);

test('Docker Hub short names get docker.io, library/ and latest', () => {
  assert.deepEqual(parseRef('busybox'), { registry: 'docker.io', repository: 'library/busybox', tag: 'latest' });
  assert.deepEqual(parseRef('busybox:1.36'), { registry: 'docker.io', repository: 'library/busybox', tag: '1.36' });
  assert.deepEqual(parseRef('user/app'), { registry: 'docker.io', repository: 'user/app', tag: 'latest' });
  assert.deepEqual(parseRef('user/team/app:v1'), { registry: 'docker.io', repository: 'user/team/app', tag: 'v1' });
  assert.equal(formatRef(parseRef('busybox')), 'docker.io/library/busybox:latest');
});

test('docker.io, index.docker.io and registry-1.docker.io are one registry, reached at registry-1.docker.io', () => {
  for (const h of ['docker.io', 'index.docker.io', 'registry-1.docker.io']) {
    assert.equal(formatRef(parseRef(`${h}/busybox`)), 'docker.io/library/busybox:latest', h);
    assert.equal(formatRef(parseRef(`${h}/library/busybox:1`)), 'docker.io/library/busybox:1', h);
  }
  assert.equal(apiHost('docker.io'), 'registry-1.docker.io');
  assert.equal(apiHost('ghcr.io'), 'ghcr.io');
});

test('other registries: a dot, a port or localhost in the first component', () => {
  assert.deepEqual(parseRef('ghcr.io/o/n:tag'), { registry: 'ghcr.io', repository: 'o/n', tag: 'tag' });
  assert.deepEqual(parseRef('localhost:5000/x'), { registry: 'localhost:5000', repository: 'x', tag: 'latest' });
  assert.deepEqual(parseRef('localhost/x'), { registry: 'localhost', repository: 'x', tag: 'latest' });
  assert.deepEqual(parseRef(`127.0.0.1:5000/x@${D}`), { registry: '127.0.0.1:5000', repository: 'x', digest: D });
  assert.deepEqual(parseRef('[::1]:5000/a/b:c'), { registry: '[::1]:5000', repository: 'a/b', tag: 'c' });
  assert.deepEqual(parseRef('quay.io/a/b/c/d'), { registry: 'quay.io', repository: 'a/b/c/d', tag: 'latest' });
  // Without . : or localhost the first component is a path (no library/ for two components).
  assert.deepEqual(parseRef('myhost/x'), { registry: 'docker.io', repository: 'myhost/x', tag: 'latest' });
  // An uppercase first component can only be a host (Docker's rule).
  assert.equal(parseRef('MyHost/x').registry, 'MyHost');
});

test('tag and digest together keep both; digest alone has no tag', () => {
  assert.deepEqual(parseRef(`busybox:1.36@${D}`), { registry: 'docker.io', repository: 'library/busybox', tag: '1.36', digest: D });
  assert.deepEqual(parseRef(`busybox@${D}`), { registry: 'docker.io', repository: 'library/busybox', digest: D });
  assert.equal(formatRef(parseRef(`localhost:5000/x:t@${D}`)), `localhost:5000/x:t@${D}`);
  assert.equal(formatRef(parseRef(`localhost:5000/x@${D}`)), `localhost:5000/x@${D}`);
});

test('separators of path components: . _ __ and runs of -', () => {
  for (const ok of ['a.b', 'a_b', 'a__b', 'a-b', 'a---b', 'a0/b-c.d_e__f', 'x/y.z/w']) assert.doesNotThrow(() => parseRef(ok), ok);
  for (const bad of ['a..b', 'a___b', '-a', 'a-', '.a', 'a_', 'a//b', 'a/', '/a', 'a/_b']) {
    assert.throws(() => parseRef(bad), (e: unknown) => e instanceof UserError && e.code === 'E_IMAGE_REF', bad);
  }
});

test('tags: word characters, . and -, at most 128, not starting with . or -', () => {
  assert.equal(parseRef('a:V1.2-rc_3').tag, 'V1.2-rc_3');
  assert.equal(parseRef('a:' + 'x'.repeat(128)).tag, 'x'.repeat(128));
  for (const bad of ['a:' + 'x'.repeat(129), 'a:.x', 'a:-x', 'a:', 'a:x/y', 'a:b:c']) assert.throws(() => parseRef(bad), UserError, bad);
});

test('uppercase repository names are refused with a lowercase suggestion', () => {
  const e = (() => { try { parseRef('ghcr.io/Owner/App:1'); } catch (x) { return x as UserError; } })()!;
  assert.ok(e instanceof UserError);
  assert.equal(e.code, 'E_IMAGE_REF');
  assert.equal(e.exitCode, 2);
  assert.match(e.message, /must be lowercase/);
  assert.match(e.hint!, /ghcr\.io\/owner\/app:1/);
  assert.throws(() => parseRef('Busybox'), /must be lowercase/);
});

test('digests: sha256 with 64 lowercase hex only; other algorithms and lengths refused', () => {
  assert.throws(() => parseRef('a@sha256:abc'), (e: unknown) => e instanceof UserError && /sha256 digest has exactly 64/.test(e.hint!));
  assert.throws(() => parseRef('a@sha256:' + 'AB'.repeat(32)), /unsupported digest/);
  assert.throws(() => parseRef('a@sha512:' + 'ab'.repeat(64)), (e: unknown) => e instanceof UserError && /sha256 digests only/.test(e.hint!));
  assert.throws(() => parseRef('a@nope'), /not a digest/);
  assert.throws(() => parseRef('@' + D), /name is missing/);
});

test('other invalid input: empty, spaces, a bare 64-hex ID, bad hosts, too long', () => {
  for (const bad of ['', '  ', 'a b', 'ab'.repeat(32), 'exa_mple.com/x', 'host:port/x', 'a.com:/x', `docker.io/${'a'.repeat(250)}`]) {
    assert.throws(() => parseRef(bad), (e: unknown) => e instanceof UserError && /invalid image reference/.test(e.message) && Boolean(e.hint), JSON.stringify(bad));
  }
  // A name of exactly 255 characters is fine.
  assert.doesNotThrow(() => parseRef(`example.com/${'a'.repeat(255 - 'example.com/'.length)}`));
});

test('familiar names: what people type', () => {
  assert.equal(familiarName(parseRef('busybox')), 'busybox:latest');
  assert.equal(familiarName(parseRef('docker.io/library/busybox:1')), 'busybox:1');
  assert.equal(familiarName(parseRef('index.docker.io/user/app')), 'user/app:latest');
  assert.equal(familiarName(parseRef('docker.io/library/a/b')), 'library/a/b:latest');
  assert.equal(familiarName(parseRef('ghcr.io/o/n:tag')), 'ghcr.io/o/n:tag');
  assert.equal(familiarName(parseRef(`localhost:5000/x@${D}`)), `localhost:5000/x@${D}`);
  assert.equal(familiarName(parseRef(`busybox:1@${D}`)), `busybox:1@${D}`);
});
