// Pulling from a real registry (Debian's docker-registry on loopback, images pushed with skopeo):
// OCI and Docker schema 2 images, whiteouts and opaque dirs, an index with several platforms, zstd,
// pulls by digest and by tag+digest, basic auth and bearer tokens with `niwa login`, a corrupt blob,
// a second pull that downloads nothing, a pull killed with SIGKILL half-way, and the image verbs
// (ls, rm refusing an image a container uses, prune, inspect, load) through the CLI.
// Every test has its own data root (and registry when it needs auth), removed in `after`.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { niwa, niwaBin, needsRoot, repoRoot } from '../helpers.js';
import { startRegistry, startProxy, freePort, hasRegistryTools, hasHtpasswd, type TestRegistry } from '../registry.js';
import { writeOciLayout, dockerSaveArchive, shellImageEntries, type FixtureEntry, type FixtureLayout } from '../image-fixtures.js';
import { openStore } from '../../src/image/store.js';
import { ensureImage } from '../../src/image/pull.js';
import { hostPlatform } from '../../src/image/platform.js';
import { MEDIA, type PullEvent, type StoredImage } from '../../src/image/types.js';
import { prepareNative, realSys } from '../../src/runtime/sys/real.js';
import { RuntimeFailure } from '../../src/errors.js';

const skip = needsRoot() || hasRegistryTools();
let dir = '';
let reg: TestRegistry | undefined;
const registries: TestRegistry[] = [];

before(async () => {
  if (skip) return;
  await prepareNative();
  dir = mkdtempSync(join(tmpdir(), 'niwa-pull-test-'));
  reg = await startRegistry();
  registries.push(reg);
});
after(async () => {
  for (const r of registries) await r.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

let n = 0;
/** A fresh data root (and HOME/DOCKER_CONFIG with no credentials) for one test. */
function sandbox() {
  const root = join(dir, `t${++n}`);
  mkdirSync(join(root, 'docker'), { recursive: true });
  const env: NodeJS.ProcessEnv = { ...process.env, NIWA_DATA_ROOT: join(root, 'data'), NIWA_STATE_ROOT: join(root, 'state'), HOME: root, DOCKER_CONFIG: join(root, 'docker') };
  delete env.REGISTRY_AUTH_FILE;
  delete env.XDG_RUNTIME_DIR;
  const store = openStore(join(root, 'data'));
  const events: PullEvent[] = [];
  const pull = (ref: string, o: Partial<Parameters<typeof ensureImage>[1]> = {}) => ensureImage(ref, { store, env, onEvent: (e) => events.push(e), retryDelayMs: 50, ...o });
  const cli = (args: string[], input?: string) => niwa(args, { env, input, timeout: 120_000 });
  return { root, env, store, events, pull, cli };
}

async function layout(name: string, spec: Parameters<typeof writeOciLayout>[1]): Promise<FixtureLayout> {
  return writeOciLayout(join(dir, `layout-${name}-${++n}`), spec);
}

const sha = (b: Buffer) => 'sha256:' + createHash('sha256').update(b).digest('hex');

/** Every blob in the store hashes to its name; nothing is left in tmp/ but live leases. */
function checkStore(root: string): void {
  const blobs = join(root, 'data', 'images', 'blobs', 'sha256');
  for (const f of existsSync(blobs) ? readdirSync(blobs) : []) assert.equal(sha(readFileSync(join(blobs, f))), `sha256:${f}`, `blob ${f} verifies`);
}

// ---------------------------------------------------------------------------------------------

test('a one-layer OCI image: pulled, verified, unpacked and named', { skip }, async () => {
  const sb = sandbox();
  const lay = await layout('one', { layers: [[{ name: 'hello.txt', content: 'hello from a registry\n' }, { name: 'bin/', type: 'dir' }]] });
  reg!.push(lay.dir, 'latest', 'niwa/one:1');
  const img = await sb.pull(`${reg!.host}/niwa/one:1`);
  assert.equal(img.digest, lay.digest);
  assert.deepEqual(img.names, [`${reg!.host}/niwa/one:1`]);
  assert.equal(img.layers.length, 1);
  assert.equal(readFileSync(join(sb.store.layerDir(img.layers[0].diffId), 'hello.txt'), 'utf8'), 'hello from a registry\n');
  // A single-platform image asked for another platform: refused, saying which it is.
  await assert.rejects(sb.pull(`${reg!.host}/niwa/one:1`, { policy: 'always', platform: { os: 'linux', architecture: 's390x' } }),
    (e: unknown) => e instanceof RuntimeFailure && e.code === 'E_IMAGE_PLATFORM' && e.message.includes(`is an image for linux/${hostPlatform().architecture}`));
  assert.deepEqual(sb.events.map((e) => e.type === 'layer' ? `layer:${e.state}` : e.type).filter((t, i, a) => a.indexOf(t) === i).slice(0, 7),
    ['resolve', 'layer:waiting', 'layer:downloading', 'layer:verifying', 'layer:unpacking', 'layer:done', 'done']);
  checkStore(sb.root);
});

test('several layers with whiteouts and an opaque dir: each layer unpacked overlay-ready', { skip }, async () => {
  const sb = sandbox();
  const lower: FixtureEntry[] = [{ name: 'etc/', type: 'dir' }, { name: 'etc/passwd', content: 'root:x:0:0::/root:/bin/sh\n' }, { name: 'etc/keep', content: 'k' }, { name: 'opq/', type: 'dir' }, { name: 'opq/old', content: 'old' }];
  const upper: FixtureEntry[] = [{ name: 'etc/', type: 'dir' }, { name: 'etc/.wh.passwd' }, { name: 'opq/', type: 'dir' }, { name: 'opq/.wh..wh..opq' }, { name: 'opq/new', content: 'new' }];
  const top: FixtureEntry[] = [{ name: 'top.txt', content: 'top' }];
  const lay = await layout('multi', { layers: [lower, upper, top] });
  reg!.push(lay.dir, 'latest', 'niwa/multi:latest');
  const img = await sb.pull(`${reg!.host}/niwa/multi`);
  assert.equal(img.layers.length, 3);
  const [l0, l1, l2] = img.layers.map((l) => sb.store.layerDir(l.diffId));
  assert.equal(readFileSync(join(l0, 'etc/passwd'), 'utf8'), 'root:x:0:0::/root:/bin/sh\n');
  const wh = lstatSync(join(l1, 'etc/passwd'));
  assert.ok(wh.isCharacterDevice(), 'a whiteout is a 0/0 char device');
  assert.equal(wh.rdev, 0);
  assert.ok(!existsSync(join(l1, 'etc/.wh.passwd')));
  assert.equal(realSys.lgetxattr(join(l1, 'opq'), 'trusted.overlay.opaque')?.toString(), 'y');
  assert.ok(!existsSync(join(l1, 'opq/.wh..wh..opq')));
  assert.equal(readFileSync(join(l2, 'top.txt'), 'utf8'), 'top');
  assert.deepEqual(img.names, [`${reg!.host}/niwa/multi:latest`]);
});

test('a Docker schema 2 image (skopeo --format v2s2)', { skip }, async () => {
  const sb = sandbox();
  const lay = await layout('v2s2', { layers: [[{ name: 'docker.txt', content: 'v2s2' }], [{ name: 'b', content: 'b' }]] });
  reg!.push(lay.dir, 'latest', 'niwa/docker:v2s2', { format: 'v2s2' });
  const img = await sb.pull(`${reg!.host}/niwa/docker:v2s2`);
  const manifest = JSON.parse(sb.store.readBlob(img.digest).toString());
  assert.equal(manifest.mediaType, MEDIA.dockerManifest);
  assert.equal(manifest.config.mediaType, MEDIA.dockerConfig);
  assert.deepEqual(img.layers.map((l) => l.mediaType), [MEDIA.dockerLayerGzip, MEDIA.dockerLayerGzip]);
  assert.equal(readFileSync(join(sb.store.layerDir(img.layers[0].diffId), 'docker.txt'), 'utf8'), 'v2s2');
});

test('an OCI index with several platforms: the host\'s is chosen; a missing platform is named with what there is', { skip }, async () => {
  const sb = sandbox();
  const host = hostPlatform();
  const others = [{ os: 'linux', architecture: 'arm', variant: 'v7' }, { os: 'linux', architecture: 'arm64', variant: 'v8' }, { os: 'linux', architecture: 'amd64' }, { os: 'linux', architecture: 'riscv64' }]
    .filter((p) => !(p.architecture === host.architecture));
  const lay = await layout('index', { layers: [[{ name: 'multi-arch', content: 'x' }]], platforms: [others[0], host, others[1]] });
  reg!.push(lay.dir, 'latest', 'niwa/multiarch:1', { all: true });
  const img = await sb.pull(`${reg!.host}/niwa/multiarch:1`);
  const mine = lay.images.find((i) => i.platform === host)!;
  assert.equal(img.digest, mine.manifestDigest);
  assert.equal(img.config.architecture, host.architecture);
  // A platform the index does not have: the error lists what it has.
  await assert.rejects(sb.pull(`${reg!.host}/niwa/multiarch:1`, { policy: 'always', platform: { os: 'linux', architecture: 's390x' } }), (e: unknown) => {
    assert.ok(e instanceof RuntimeFailure);
    assert.equal(e.code, 'E_IMAGE_PLATFORM');
    for (const im of lay.images) assert.ok(e.message.includes(`${im.platform.os}/${im.platform.architecture}`), e.message);
    return true;
  });
  // The other platform on request, by the index digest.
  const other = await sb.pull(`${reg!.host}/niwa/multiarch@${lay.indexDigest}`, { platform: others[1] });
  assert.equal(other.config.architecture, others[1].architecture);
});

test('a zstd layer', { skip }, async () => {
  const sb = sandbox();
  const lay = await layout('zstd', { layers: [[{ name: 'z.txt', content: 'zstd compressed' }]], compression: 'zstd' });
  reg!.push(lay.dir, 'latest', 'niwa/zstd:1');
  const img = await sb.pull(`${reg!.host}/niwa/zstd:1`);
  assert.equal(img.layers[0].mediaType, MEDIA.ociLayerZstd);
  assert.equal(readFileSync(join(sb.store.layerDir(img.layers[0].diffId), 'z.txt'), 'utf8'), 'zstd compressed');
});

test('by digest, and by tag + digest; a second ensureImage makes no request at all', { skip }, async () => {
  const sb = sandbox();
  const lay = await layout('digest', { layers: [[{ name: 'd', content: 'by digest' }]] });
  reg!.push(lay.dir, 'latest', 'niwa/digest:1');
  const byDigest = `${reg!.host}/niwa/digest@${lay.digest}`;
  const img = await sb.pull(byDigest);
  assert.equal(img.digest, lay.digest);
  assert.deepEqual(img.names, [byDigest]);
  const before = (await reg!.requests()).length;
  assert.equal((await sb.pull(byDigest)).digest, lay.digest);
  assert.equal((await sb.pull(`${reg!.host}/niwa/digest:1@${lay.digest}`)).digest, lay.digest);
  assert.equal((await reg!.requests()).length, before, 'a local hit asks nothing of the registry');
  // Tag + digest pulls the digest (the tag is informative).
  const sb2 = sandbox();
  assert.equal((await sb2.pull(`${reg!.host}/niwa/digest:whatever@${lay.digest}`)).digest, lay.digest);
  // A digest the registry does not have.
  await assert.rejects(sb2.pull(`${reg!.host}/niwa/digest@sha256:${'0'.repeat(64)}`), (e: unknown) => e instanceof RuntimeFailure && e.code === 'E_IMAGE_NOT_FOUND' && /check the name and the tag/.test(e.hint!));
  // never: only what is stored.
  await assert.rejects(sb2.pull(`${reg!.host}/niwa/digest:1`, { policy: 'never' }), (e: unknown) => e instanceof RuntimeFailure && e.code === 'E_IMAGE_NOT_PRESENT' && /niwa pull/.test(e.hint!));
});

test('a second pull downloads nothing; policy always re-resolves the manifest only', { skip }, async () => {
  const sb = sandbox();
  const lay = await layout('twice', { layers: [[{ name: 'a', content: 'a' }], [{ name: 'b', content: randomBytes(200_000) }]] });
  reg!.push(lay.dir, 'latest', 'niwa/twice:1');
  const ref = `${reg!.host}/niwa/twice:1`;
  const g0 = await reg!.blobGets();
  await sb.pull(ref);
  const g1 = await reg!.blobGets();
  assert.equal(g1 - g0, 3, 'config + 2 layers');
  const first = sb.events.find((e) => e.type === 'done') as Extract<PullEvent, { type: 'done' }>;
  assert.equal(first.downloadedBytes, lay.images[0].manifest.config.size + lay.images[0].layers.reduce((s, l) => s + l.size, 0));
  const r1 = (await reg!.requests()).length;
  await sb.pull(ref); // missing: a local hit
  assert.equal((await reg!.requests()).length, r1);
  sb.events.length = 0;
  const again = await sb.pull(ref, { policy: 'always' });
  assert.equal(again.digest, lay.digest);
  assert.deepEqual((await reg!.requests()).slice(r1), ['GET /v2/niwa/twice/manifests/1'], 'one manifest request and nothing else');
  assert.equal(await reg!.blobGets(), g1, 'no blob downloaded again');
  const done = sb.events.find((e) => e.type === 'done') as Extract<PullEvent, { type: 'done' }>;
  assert.equal(done.downloadedBytes, 0);
  assert.ok(sb.events.some((e) => e.type === 'layer' && e.state === 'exists'));
  // Through the CLI too: nothing downloaded.
  const r = sb.cli(['pull', ref]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /already present/);
  assert.equal(await reg!.blobGets(), g1);
  assert.equal((await reg!.requests()).slice(r1).filter((q) => !/\/manifests\/1$/.test(q)).length, 0, 'the CLI too: manifests only');
});

test('concurrent pulls: one download in a process; two niwa processes both finish with one good copy', { skip }, async () => {
  const sb = sandbox();
  const lay = await layout('concurrent', { layers: [[{ name: 'c1', content: randomBytes(2_000_000) }], [{ name: 'c2', content: randomBytes(1_000_000) }]] });
  reg!.push(lay.dir, 'latest', 'niwa/concurrent:1');
  const ref = `${reg!.host}/niwa/concurrent:1`;
  const g0 = await reg!.blobGets();
  const [x, y] = await Promise.all([sb.pull(ref), sb.pull(ref)]);
  assert.equal(x.digest, lay.digest);
  assert.equal(y.digest, lay.digest);
  assert.equal((await reg!.blobGets()) - g0, 3, 'one pull in flight per name');
  const sb2 = sandbox();
  const run = () => new Promise<number>((resolve) => {
    const c = spawn(process.execPath, [niwaBin, 'pull', '-q', ref], { env: sb2.env, cwd: repoRoot, stdio: 'ignore' });
    c.once('exit', (code) => resolve(code ?? -1));
  });
  assert.deepEqual(await Promise.all([run(), run(), run()]), [0, 0, 0]);
  assert.equal(sb2.store.resolve(ref)?.digest, lay.digest);
  checkStore(sb2.root);
  assert.deepEqual(readdirSync(join(sb2.root, 'data', 'images', 'tmp')).filter((f) => !f.endsWith('.lease')), []);
});

test('a corrupt blob in the registry: the pull fails naming the digest and stores nothing', { skip }, async () => {
  const sb = sandbox();
  const lay = await layout('corrupt', { layers: [[{ name: 'good', content: 'good' }], [{ name: 'bad', content: randomBytes(50_000) }]] });
  reg!.push(lay.dir, 'latest', 'niwa/corrupt:1');
  const bad = lay.images[0].layers[1].digest;
  const file = reg!.blobFile(bad);
  const bytes = readFileSync(file);
  bytes[bytes.length >> 1] ^= 0xff; // same size, other content
  writeFileSync(file, bytes);
  const r = sb.cli(['pull', `${reg!.host}/niwa/corrupt:1`]);
  assert.equal(r.status, 1, r.stdout + r.stderr);
  assert.ok(r.stderr.includes(bad), r.stderr);
  assert.match(r.stderr, /does not match its digest/);
  assert.ok(!sb.store.hasBlob(bad), 'the corrupt blob is not stored');
  assert.equal(sb.store.resolve(`${reg!.host}/niwa/corrupt:1`), undefined);
  assert.ok(!sb.store.hasBlob(lay.digest), 'no manifest stored');
  const tmp = join(sb.root, 'data', 'images', 'tmp');
  assert.deepEqual(existsSync(tmp) ? readdirSync(tmp).filter((f) => !f.endsWith('.lease')) : [], []);
  checkStore(sb.root);
});

test('transient failures are retried (a 503 manifest, a blob cut half-way); blob redirects to another origin are followed', { skip }, async () => {
  const sb = sandbox();
  const lay = await layout('flaky', { layers: [[{ name: 'f', content: randomBytes(300_000) }], [{ name: 'g', content: 'g' }]], compression: 'none' });
  reg!.push(lay.dir, 'latest', 'niwa/flaky:1');
  const flaky = await startProxy(reg!.host, { failFirstManifest: 503, cutFirstBlobAfter: 100_000 });
  try {
    const img = await sb.pull(`${flaky.host}/niwa/flaky:1`);
    assert.equal(img.digest, lay.digest);
    assert.ok(flaky.log.some((l) => l.startsWith('fail ')) && flaky.log.some((l) => l.startsWith('cut ')), flaky.log.join('\n'));
    const retries = sb.events.filter((e) => e.type === 'layer' && e.state === 'retry');
    assert.equal(retries.length, 1);
    assert.match((retries[0] as { message: string }).message, /attempt 2 of 4 after: .*transfer broke after|closed after/);
    checkStore(sb.root);
  } finally { await flaky.stop(); }
  const sb2 = sandbox();
  const redirecting = await startProxy(reg!.host, { redirectBlobs: true });
  try {
    const img = await sb2.pull(`${redirecting.host}/niwa/flaky:1`);
    assert.equal(img.digest, lay.digest);
    assert.equal(redirecting.log.filter((l) => l.startsWith('storage ')).length, 3, redirecting.log.join('\n'));
  } finally { await redirecting.stop(); }
});

test('unreachable registry and unknown names: clear errors, exit 1', { skip }, async () => {
  const sb = sandbox();
  const port = await freePort();
  const r = sb.cli(['pull', `127.0.0.1:${port}/x/y:1`]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, new RegExp(`cannot connect to registry 127\\.0\\.0\\.1:${port}.*ECONNREFUSED`));
  assert.match(r.stderr, /hint: nothing listens at/);
  const u = sb.cli(['pull', `${reg!.host}/niwa/nothere:1`]);
  assert.equal(u.status, 1);
  assert.match(u.stderr, /not found in .*MANIFEST_UNKNOWN|NAME_UNKNOWN/);
  const bad = sb.cli(['pull', 'Upper/Case:1']);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /must be lowercase/);
});

test('basic auth: refused without credentials (login hint); niwa login writes docker\'s file; pull works; logout', { skip: skip || hasHtpasswd() }, async () => {
  const sb = sandbox();
  const r2 = await startRegistry({ htpasswd: { user: 'alice', password: 'wonder land' } });
  registries.push(r2);
  const lay = await layout('basic', { layers: [[{ name: 'secret', content: 'basic' }]] });
  r2.push(lay.dir, 'latest', 'private/app:1');
  const ref = `${r2.host}/private/app:1`;
  const no = sb.cli(['pull', ref]);
  assert.equal(no.status, 1);
  assert.match(no.stderr, /requires authentication/);
  assert.ok(no.stderr.includes(`hint: log in first: niwa login ${r2.host}`), no.stderr);
  const wrong = sb.cli(['login', '-u', 'alice', '--password-stdin', r2.host], 'wrong\n');
  assert.equal(wrong.status, 1);
  assert.match(wrong.stderr, /refused the credentials of 'alice'/);
  assert.ok(!existsSync(join(sb.root, 'docker', 'config.json')));
  const ok = sb.cli(['login', '-u', 'alice', '--password-stdin', r2.host], 'wonder land\n');
  assert.equal(ok.status, 0, ok.stderr);
  assert.match(ok.stdout, /Login Succeeded/);
  const conf = JSON.parse(readFileSync(join(sb.root, 'docker', 'config.json'), 'utf8'));
  assert.deepEqual(conf, { auths: { [r2.host]: { auth: Buffer.from('alice:wonder land').toString('base64') } } });
  assert.equal(statSync(join(sb.root, 'docker', 'config.json')).mode & 0o777, 0o600);
  const pulled = sb.cli(['pull', '-q', ref]);
  assert.equal(pulled.status, 0, pulled.stderr);
  assert.equal(pulled.stdout, `${ref}\n`);
  const out = sb.cli(['logout', r2.host]);
  assert.equal(out.status, 0);
  assert.match(out.stdout, /Removed login credentials/);
  assert.deepEqual(JSON.parse(readFileSync(join(sb.root, 'docker', 'config.json'), 'utf8')).auths, {});
  // podman's file is read too.
  const authFile = join(sb.root, 'auth.json');
  writeFileSync(authFile, JSON.stringify({ auths: { [r2.host]: { auth: Buffer.from('alice:wonder land').toString('base64') } } }));
  const sb2 = sandbox();
  const img = await sb2.pull(ref, { env: { ...sb2.env, REGISTRY_AUTH_FILE: authFile } });
  assert.equal(img.digest, lay.digest);
});

test('bearer tokens (a real registry with token auth): anonymous refused, login, tokens cached per scope', { skip }, async () => {
  const sb = sandbox();
  const r3 = await startRegistry({ token: { user: 'bob', password: 'builder' } });
  registries.push(r3);
  const lay = await layout('token', { layers: [[{ name: 't1', content: 'token' }], [{ name: 't2', content: 'token 2' }]] });
  r3.push(lay.dir, 'latest', 'team/app:2');
  const ref = `${r3.host}/team/app:2`;
  const no = sb.cli(['pull', ref]);
  assert.equal(no.status, 1);
  assert.ok(no.stderr.includes(`niwa login ${r3.host}`), no.stderr);
  const bad = sb.cli(['login', '-u', 'bob', '-p', 'nope', r3.host]);
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /token service refused the credentials of 'bob'/);
  const ok = sb.cli(['login', '-u', 'bob', '-p', 'builder', r3.host]);
  assert.equal(ok.status, 0, ok.stderr);
  assert.match(ok.stderr, /--password-stdin/);
  const before = r3.tokenRequests().length;
  const pulled = sb.cli(['pull', ref]);
  assert.equal(pulled.status, 0, pulled.stderr);
  const asked = r3.tokenRequests().slice(before);
  // One token for repository:team/app:pull, used for the manifest, the config and both layers.
  assert.deepEqual(asked, [{ scope: ['repository:team/app:pull'], user: 'bob' }]);
  assert.equal(sb.store.resolve(ref)?.digest, lay.digest);
});

test('a pull killed with SIGKILL half-way is redone cleanly by the next pull', { skip }, async () => {
  const sb = sandbox();
  const big = randomBytes(96 << 20);
  const lay = await layout('big', { layers: [[{ name: 'small', content: 's' }], [{ name: 'big.bin', content: big }]], compression: 'none' });
  reg!.push(lay.dir, 'latest', 'niwa/big:1');
  const ref = `${reg!.host}/niwa/big:1`;
  const bigDigest = lay.images[0].layers[1].digest;
  const tmp = join(sb.root, 'data', 'images', 'tmp');
  const startPull = () => spawn(process.execPath, [niwaBin, 'pull', ref], { env: sb.env, cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
  const onDownloading = (c: ReturnType<typeof startPull>, f: () => void) => {
    let text = '';
    c.stdout.on('data', (b) => { text += b; if (text.includes(`${bigDigest.slice(7, 19)} downloading`)) { f(); f = () => undefined; } });
  };
  // Ctrl-C first: the pull stops, says so, and removes its partial download.
  const int = startPull();
  let err = '';
  int.stderr.on('data', (b) => { err += b; });
  onDownloading(int, () => int.kill('SIGINT'));
  const intCode = await new Promise<number | null>((r) => int.once('exit', (code) => r(code)));
  assert.equal(intCode, 1, err);
  assert.match(err, /pull interrupted/);
  assert.deepEqual(readdirSync(tmp).filter((f) => f.endsWith('.blob')), [], 'no partial blob left by an interrupted pull');
  assert.equal(sb.store.resolve(ref), undefined);
  // Then SIGKILL half-way.
  const child = spawn(process.execPath, [niwaBin, 'pull', ref], { env: sb.env, cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const killed = await new Promise<boolean>((resolve) => {
    child.stdout.on('data', (b) => {
      out += b;
      if (new RegExp(`${bigDigest.slice(7, 19)} downloading`).test(out) && child.exitCode === null) { child.kill('SIGKILL'); resolve(true); }
    });
    child.once('exit', () => resolve(false));
  });
  await new Promise<void>((r) => { if (child.exitCode !== null || child.signalCode !== null) r(); else child.once('exit', () => r()); });
  assert.ok(killed, `the pull was killed half-way (output: ${out})`);
  assert.equal(child.signalCode, 'SIGKILL');
  assert.ok(!sb.store.hasBlob(bigDigest), 'the big blob was not complete when killed');
  assert.equal(sb.store.resolve(ref), undefined);
  const again = sb.cli(['pull', ref]);
  assert.equal(again.status, 0, again.stderr);
  const img = sb.store.resolve(ref)!;
  assert.equal(img.digest, lay.digest);
  assert.equal(statSync(join(sb.store.layerDir(img.layers[1].diffId), 'big.bin')).size, big.length);
  checkStore(sb.root);
  // What the killed pull left in tmp/ goes with prune (its pid is dead).
  const pr = sb.cli(['image', 'prune']);
  assert.equal(pr.status, 0, pr.stderr);
  assert.deepEqual(readdirSync(tmp), []);
  assert.ok(sb.store.resolve(ref), 'prune keeps named images');
});

test('image ls / inspect / rm / prune through the CLI; rm refuses an image a container uses unless -f', { skip }, async () => {
  const sb = sandbox();
  const a = await layout('cli-a', { layers: [[{ name: 'a', content: 'a' }]] });
  const b = await layout('cli-b', { layers: [[{ name: 'b', content: randomBytes(30_000) }]] });
  reg!.push(a.dir, 'latest', 'niwa/a:1');
  reg!.push(a.dir, 'latest', 'niwa/a:2');
  reg!.push(b.dir, 'latest', 'niwa/b:1');
  for (const r of ['niwa/a:1', 'niwa/a:2', 'niwa/b:1']) assert.equal(sb.cli(['pull', '-q', `${reg!.host}/${r}`]).status, 0);
  const ls = sb.cli(['images']);
  assert.equal(ls.status, 0, ls.stderr);
  assert.match(ls.stdout, /^NAME\s+DIGEST\s+SIZE\s+PULLED\n/);
  for (const r of ['niwa/a:1', 'niwa/a:2', 'niwa/b:1']) assert.match(ls.stdout, new RegExp(`${reg!.host}/${r}\\s+sha256:[a-f0-9]{12}\\s+\\S+B\\s+(just now|\\d+ seconds ago)`));
  const json = JSON.parse(sb.cli(['image', 'ls', '--json']).stdout) as StoredImage[];
  assert.equal(json.length, 2);
  assert.deepEqual(json.find((i) => i.digest === a.digest)!.names.sort(), [`${reg!.host}/niwa/a:1`, `${reg!.host}/niwa/a:2`]);
  const insp = JSON.parse(sb.cli(['image', 'inspect', `${reg!.host}/niwa/b:1`]).stdout) as StoredImage[];
  assert.equal(insp[0].digest, b.digest);
  assert.equal(insp[0].configDigest, b.images[0].configDigest);
  assert.deepEqual(insp[0].layers.map((l) => l.diffId), b.images[0].config.rootfs.diff_ids);
  assert.equal(JSON.parse(sb.cli(['image', 'inspect', b.digest.slice(7, 19)]).stdout)[0].digest, b.digest, 'by digest prefix');
  const none = sb.cli(['image', 'inspect', `${reg!.host}/niwa/none:1`]);
  assert.equal(none.status, 2);
  assert.match(none.stderr, /no such image/);

  // A container runs b: its plan.json names the image.
  const cdir = join(sb.root, 'state', 'proj', 'web');
  mkdirSync(cdir, { recursive: true });
  writeFileSync(join(cdir, 'plan.json'), JSON.stringify({ name: 'web', image: { ref: `${reg!.host}/niwa/b:1`, digest: b.digest }, steps: [] }));
  const refused = sb.cli(['image', 'rm', `${reg!.host}/niwa/b:1`]);
  assert.equal(refused.status, 1);
  assert.match(refused.stderr, /is used by container proj\/web/);
  assert.match(refused.stderr, /hint: .*-f/);
  assert.ok(sb.store.resolve(`${reg!.host}/niwa/b:1`));
  // Removing one of two names of a is fine; the last one frees its blobs.
  const rmA = sb.cli(['image', 'rm', `${reg!.host}/niwa/a:1`]);
  assert.equal(rmA.status, 0, rmA.stderr);
  assert.ok(sb.store.hasBlob(a.digest));
  const rmA2 = sb.cli(['image', 'rm', `${reg!.host}/niwa/a:2`]);
  assert.equal(rmA2.status, 0, rmA2.stderr);
  assert.match(rmA2.stdout, /Untagged: .*niwa\/a:2\nDeleted: 3 blobs, 1 layer/);
  assert.ok(!sb.store.hasBlob(a.digest));
  // -f removes b's name; prune keeps its content while the container exists.
  const forced = sb.cli(['image', 'rm', '-f', `${reg!.host}/niwa/b:1`]);
  assert.equal(forced.status, 0, forced.stderr);
  assert.equal(sb.store.resolve(`${reg!.host}/niwa/b:1`), undefined);
  const layerB = sb.store.layerDir(b.images[0].layers[0].diffId);
  assert.ok(existsSync(layerB));
  assert.match(sb.cli(['image', 'prune']).stdout, /^Freed 0B \(0 blobs, 0 layers\)/);
  assert.ok(existsSync(layerB), 'prune keeps what a container uses');
  rmSync(join(sb.root, 'state'), { recursive: true });
  const pr = sb.cli(['image', 'prune']);
  assert.equal(pr.status, 0);
  assert.match(pr.stdout, /^Freed \d+(\.\d+)?kB \(3 blobs, 1 layer\)/);
  assert.ok(!existsSync(layerB));
  assert.equal(sb.cli(['image', 'ls', '-q']).stdout, '');
});

test('niwa image load (a docker save archive) and niwa image import (an OCI layout dir)', { skip }, async () => {
  const sb = sandbox();
  const file = join(dir, 'saved.tar');
  const saved = await dockerSaveArchive(file, { layers: [shellImageEntries(), [{ name: 'loaded.txt', content: 'loaded' }]], repoTags: ['saved/app:3'] });
  const r = sb.cli(['image', 'load', file]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /Loaded: .*saved\/app:3/);
  const img = sb.store.resolve('docker.io/saved/app:3')!;
  assert.ok(img, sb.cli(['images']).stdout);
  assert.equal(img.configDigest, saved.configDigest);
  assert.equal(readFileSync(join(sb.store.layerDir(saved.diffIds[1]), 'loaded.txt'), 'utf8'), 'loaded');
  assert.match(sb.cli(['images']).stdout, /saved\/app:3/);
  const lay = await layout('import', { layers: [[{ name: 'imported.txt', content: 'imported' }]], tag: 'v1' });
  const im = sb.cli(['image', 'import', lay.dir, 'local/imported:v1']);
  assert.equal(im.status, 0, im.stderr);
  assert.equal(im.stdout, `Loaded: local/imported:v1 (${lay.digest})\n`);
  assert.equal(sb.store.resolve('docker.io/local/imported:v1')?.digest, lay.digest);
});
