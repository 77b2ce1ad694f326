// The content store: verified blobs, layers unpacked once (also when two promises or two processes race),
// names under a lock (also from several processes), resolve by name/digest/prefix, prune with leases
// and stale tmp entries of dead processes.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, readFileSync, readdirSync, existsSync, statSync, writeFileSync, lstatSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { needsRoot, repoRoot } from '../../helpers.js';
import { randomBytes } from 'node:crypto';
import { writeOciLayout, sha256, type FixtureEntry, type FixtureImage, type FixtureLayout } from '../../image-fixtures.js';
import { openStore, type Store } from '../../../src/image/store.js';
import { RuntimeFailure } from '../../../src/errors.js';

const skip = needsRoot();
let base = '';
before(() => { base = mkdtempSync(join(tmpdir(), 'niwa-store-test-')); });
after(() => { rmSync(base, { recursive: true, force: true }); });

let n = 0;
/** A fresh data root and store. */
function fresh(): { data: string; store: Store } {
  const data = join(base, `root${n++}`);
  return { data, store: openStore(data) };
}

/** Incompressible-ish text (so a flipped byte lands inside real deflate data). */
const randomText = (n: number) => randomBytes(Math.ceil(n * 0.75)).toString('base64').slice(0, n);

const blobOf = (layout: FixtureLayout, d: string) => readFileSync(join(layout.dir, 'blobs', 'sha256', d.slice(7)));

/** Stores an image's blobs, unpacks its layers and (optionally) names it, as a pull would. */
async function putImage(store: Store, layout: FixtureLayout, img: FixtureImage, name?: string): Promise<void> {
  for (const l of img.layers) {
    await store.putBlob(l.digest, l.size, blobOf(layout, l.digest));
    await store.unpackLayer(l);
  }
  await store.putBlob(img.configDigest, img.configBytes.length, img.configBytes);
  await store.putBlob(img.manifestDigest, img.manifestBytes.length, img.manifestBytes);
  if (name) store.tag(name, img.manifestDigest);
}

async function layout(layers: FixtureEntry[][], tag = 'latest'): Promise<FixtureLayout> {
  return writeOciLayout(join(base, `layout${n++}`), { layers, tag });
}

/** A pid that certainly belonged to a process that has exited. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(r.stdout);
}

test('putBlob stores verified bytes (buffer or stream) 0600 under blobs/; store dirs have their modes', async () => {
  const { data, store } = fresh();
  const b = Buffer.from('hello blob');
  assert.equal(await store.putBlob(sha256(b), b.length, b), b.length);
  assert.ok(store.hasBlob(sha256(b)));
  assert.deepEqual(store.readBlob(sha256(b)), b);
  assert.equal(statSync(store.blobPath(sha256(b))).mode & 0o777, 0o600);
  const big = Buffer.alloc(1 << 20, 3);
  async function* chunks() { for (let i = 0; i < big.length; i += 4096) yield big.subarray(i, i + 4096); }
  assert.equal(await store.putBlob(sha256(big), undefined, chunks()), big.length);
  assert.equal(store.root, join(data, 'images'));
  const mode = (p: string) => statSync(join(data, 'images', p)).mode & 0o777;
  assert.deepEqual([mode(''), mode('blobs'), mode('blobs/sha256'), mode('layers'), mode('layers/sha256'), mode('tmp')], [0o711, 0o700, 0o700, 0o711, 0o711, 0o700]);
  assert.deepEqual(readdirSync(join(data, 'images', 'tmp')), []);
});

test('putBlob refuses corrupt or wrong-size content (E_IMAGE_DIGEST naming both digests) and leaves nothing', async () => {
  const { data, store } = fresh();
  const good = Buffer.from('the real content');
  const bad = Buffer.from('the evil content');
  await assert.rejects(store.putBlob(sha256(good), good.length, bad), (e: unknown) => {
    assert.ok(e instanceof RuntimeFailure);
    assert.equal(e.code, 'E_IMAGE_DIGEST');
    assert.ok(e.message.includes(sha256(good)) && e.message.includes(sha256(bad)), e.message);
    return true;
  });
  await assert.rejects(store.putBlob(sha256(good), good.length + 1, good), (e: unknown) => e instanceof RuntimeFailure && e.code === 'E_IMAGE_DIGEST' && /expected 17 bytes, got 16/.test(e.message));
  await assert.rejects(store.putBlob(sha256(good), 3, good), (e: unknown) => e instanceof RuntimeFailure && e.code === 'E_IMAGE_DIGEST');
  async function* broken() { yield good.subarray(0, 4); throw new Error('connection reset'); }
  await assert.rejects(store.putBlob(sha256(good), good.length, broken()), /connection reset/);
  assert.equal(store.hasBlob(sha256(good)), false);
  assert.deepEqual(readdirSync(join(data, 'images', 'blobs', 'sha256')), []);
  assert.deepEqual(readdirSync(join(data, 'images', 'tmp')), []);
});

test('malformed digests are never used as paths', async () => {
  const { store } = fresh();
  for (const d of ['sha256:../../etc/passwd', 'sha512:' + 'a'.repeat(128), 'sha256:' + 'A'.repeat(64), 'sha256:abc']) {
    assert.throws(() => store.blobPath(d), (e: unknown) => e instanceof RuntimeFailure && e.code === 'E_IMAGE_BAD_DIGEST');
    assert.throws(() => store.layerDir(d), /not a sha256 digest/);
    assert.equal(store.hasBlob(d), false);
    await assert.rejects(store.putBlob(d, 1, Buffer.from('x')), /not a sha256 digest/);
  }
  assert.throws(() => store.tag('x:1', 'sha256:../x'), /not a sha256 digest/);
});

test('tag, resolve (name, digest, prefix, name@digest), list and untag', { skip }, async () => {
  const { store } = fresh();
  const l = await layout([[{ name: 'a', content: 'A' }], [{ name: 'b', content: 'B' }]]);
  const img = l.images[0];
  // naming an image whose layers are not unpacked is refused
  await store.putBlob(img.configDigest, undefined, img.configBytes);
  await store.putBlob(img.manifestDigest, undefined, img.manifestBytes);
  assert.throws(() => store.tag('docker.io/library/x:latest', img.manifestDigest), (e: unknown) => e instanceof RuntimeFailure && e.code === 'E_IMAGE_INCOMPLETE');
  await putImage(store, l, img, 'docker.io/library/x:latest');
  store.tag('example.com/x:v1', img.manifestDigest);
  const byName = store.resolve('docker.io/library/x:latest');
  assert.ok(byName);
  assert.equal(byName.digest, img.manifestDigest);
  assert.deepEqual(byName.names, ['docker.io/library/x:latest', 'example.com/x:v1']);
  assert.equal(byName.configDigest, img.configDigest);
  assert.deepEqual(byName.layers.map((x) => x.diffId), img.config.rootfs.diff_ids);
  assert.equal(byName.size, img.layers[0].size + img.layers[1].size);
  assert.deepEqual(byName.config.config, img.config.config);
  assert.ok(!Number.isNaN(Date.parse(byName.pulledAt)));
  const hex = img.manifestDigest.slice(7);
  for (const ref of [img.manifestDigest, hex.slice(0, 12), 'sha256:' + hex.slice(0, 20), `docker.io/library/x@${img.manifestDigest}`, hex]) {
    assert.equal(store.resolve(ref)?.digest, img.manifestDigest, ref);
  }
  for (const ref of [hex.slice(0, 11), 'docker.io/library/x:other', 'sha256:' + 'f'.repeat(64), '__proto__', 'constructor']) assert.equal(store.resolve(ref), undefined, ref);
  assert.deepEqual(store.list().map((i) => i.names), [['docker.io/library/x:latest', 'example.com/x:v1']]);
  assert.equal(store.untag('example.com/x:v1'), true);
  assert.equal(store.untag('example.com/x:v1'), false);
  assert.deepEqual(store.resolve(img.manifestDigest)?.names, ['docker.io/library/x:latest']);
  assert.ok(store.hasLayer(img.layers[0].diffId));
  assert.equal(lstatSync(store.layerDir(img.layers[0].diffId)).mode & 0o777, 0o755);
});

/** A blob as a download would deliver it: small chunks, optionally changed or cut on the way. */
async function* chunked(b: Buffer, opts: { flipAt?: number; breakAt?: number; extra?: Buffer } = {}): AsyncGenerator<Uint8Array> {
  const c = Buffer.from(b);
  if (opts.flipAt !== undefined) c[opts.flipAt] ^= 0xff;
  for (let i = 0; i < c.length; i += 16384) {
    if (opts.breakAt !== undefined && i >= opts.breakAt) throw new Error('connection reset');
    yield c.subarray(i, i + 16384);
  }
  if (opts.extra) yield opts.extra;
}

/** Nothing of a refused layer anywhere: no blob, no layer dir, nothing in tmp/. */
function nothingLeft(data: string, store: Store, layer: { digest: string; diffId: string }): void {
  assert.equal(store.hasBlob(layer.digest), false, 'no blob');
  assert.equal(store.hasLayer(layer.diffId), false, 'no layer');
  assert.deepEqual(readdirSync(join(data, 'images', 'tmp')), [], 'nothing in tmp/');
}

/** The putLayer tests run twice: unpacking on the main thread, and on a worker thread (threadMin 0). */
const modes = [{ how: 'in line', threadMin: Infinity }, { how: 'on a worker thread', threadMin: 0 }];
function freshIn(threadMin: number): { data: string; store: Store } {
  const data = join(base, `root${n++}`);
  return { data, store: openStore(data, { threadMin }) };
}

for (const { how, threadMin } of modes) {
test(`putLayer (${how}) stores the blob and unpacks the layer in one pass from a stream (gzip and zstd)`, { skip }, async () => {
  for (const compression of ['gzip', 'zstd'] as const) {
    const { store } = freshIn(threadMin);
    const files: FixtureEntry[] = [{ name: 'd/', type: 'dir' }, ...Array.from({ length: 50 }, (_, i) => ({ name: `d/f${i}`, content: `file ${i}\n`.repeat(2000) })),
      { name: 'big', content: Buffer.alloc(3 << 20, 7) }, { name: 'l', type: 'symlink', linkname: 'd/f1' }, { name: 'h', type: 'link', linkname: 'd/f2' }] as FixtureEntry[];
    const l = await writeOciLayout(join(base, `layout${n++}`), { layers: [files], compression });
    const layer = l.images[0].layers[0];
    const blob = blobOf(l, layer.digest);
    assert.equal(await store.putLayer(layer, chunked(blob)), blob.length);
    assert.deepEqual(readFileSync(store.blobPath(layer.digest)), blob);
    const dir = store.layerDir(layer.diffId);
    assert.equal(readdirSync(join(dir, 'd')).length, 50);
    assert.equal(readFileSync(join(dir, 'd', 'f49'), 'utf8'), 'file 49\n'.repeat(2000));
    assert.equal(statSync(join(dir, 'big')).size, 3 << 20);
    assert.equal(lstatSync(join(dir, 'l')).isSymbolicLink(), true);
    assert.equal(statSync(join(dir, 'h')).ino, statSync(join(dir, 'd', 'f2')).ino);
    assert.deepEqual(readdirSync(join(store.root, 'tmp')), []);
  }
});

test(`putLayer (${how}): a blob corrupted mid-stream, cut short, too long or broken leaves neither blob nor layer`, { skip }, async () => {
  const { data, store } = freshIn(threadMin);
  const files: FixtureEntry[] = Array.from({ length: 40 }, (_, i) => ({ name: `f${i}`, content: randomText(20_000 + i) }));
  const l = await layout([files]);
  const layer = l.images[0].layers[0];
  const blob = blobOf(l, layer.digest);
  const digestError = (re: RegExp) => (e: unknown) => e instanceof RuntimeFailure && e.code === 'E_IMAGE_DIGEST' && re.test(e.message);
  // a byte changed in the middle: the gzip stream or the tar breaks, or the diff_id differs; the blob's digest is what is reported
  await assert.rejects(store.putLayer(layer, chunked(blob, { flipAt: blob.length >> 1 })), digestError(new RegExp(`expected ${layer.digest}`)));
  nothingLeft(data, store, layer);
  // near the end (the gzip trailer): the unpacker may finish, the digest still refuses it
  await assert.rejects(store.putLayer(layer, chunked(blob, { flipAt: blob.length - 3 })), (e: unknown) => e instanceof RuntimeFailure && e.code === 'E_IMAGE_DIGEST');
  nothingLeft(data, store, layer);
  await assert.rejects(store.putLayer(layer, chunked(blob.subarray(0, blob.length - 100))), (e: unknown) => e instanceof RuntimeFailure && e.code === 'E_IMAGE_DIGEST');
  nothingLeft(data, store, layer);
  await assert.rejects(store.putLayer(layer, chunked(blob, { extra: Buffer.from('more') })), digestError(/got \d+ or more/));
  nothingLeft(data, store, layer);
  await assert.rejects(store.putLayer(layer, chunked(blob, { breakAt: blob.length >> 1 })), /connection reset/);
  nothingLeft(data, store, layer);
  // then the real thing still goes in
  await store.putLayer(layer, chunked(blob));
  assert.ok(store.hasBlob(layer.digest) && store.hasLayer(layer.diffId));
});

test(`putLayer (${how}): a diff_id mismatch, or an unsafe tar with a good digest, leaves neither blob nor layer`, { skip }, async () => {
  const { data, store } = freshIn(threadMin);
  const l = await layout([[{ name: 'a', content: 'A' }]]);
  const layer = l.images[0].layers[0];
  const blob = blobOf(l, layer.digest);
  const wrong = { ...layer, diffId: sha256(Buffer.from('not this tar')) };
  await assert.rejects(store.putLayer(wrong, chunked(blob)), (e: unknown) => e instanceof RuntimeFailure && e.code === 'E_IMAGE_DIGEST' && /diff_id/.test(e.message));
  nothingLeft(data, store, wrong);
  const evil = await layout([[{ name: '../../evil', content: 'x' }]]);
  const el = evil.images[0].layers[0];
  await assert.rejects(store.putLayer(el, chunked(blobOf(evil, el.digest))), (e: unknown) => e instanceof RuntimeFailure && e.code === 'E_IMAGE_UNSAFE');
  nothingLeft(data, store, el);
  assert.equal(existsSync(join(data, 'evil')), false);
});
}

test('two concurrent unpacks of one layer (same store, and two stores racing) end with one complete dir', { skip }, async () => {
  const { data, store } = fresh();
  const files: FixtureEntry[] = Array.from({ length: 300 }, (_, i) => ({ name: `d/f${i}`, content: `file ${i}\n`.repeat(50) }));
  const l = await layout([files]);
  const layer = l.images[0].layers[0];
  await store.putBlob(layer.digest, layer.size, blobOf(l, layer.digest));
  await Promise.all([store.unpackLayer(layer), store.unpackLayer(layer)]);
  assert.equal(readdirSync(join(store.layerDir(layer.diffId), 'd')).length, 300);
  rmSync(store.layerDir(layer.diffId), { recursive: true });
  const other = openStore(data); // its own in-process bookkeeping: a real race on the rename
  await Promise.all([store.unpackLayer(layer), other.unpackLayer(layer), store.unpackLayer(layer)]);
  assert.equal(readdirSync(join(store.layerDir(layer.diffId), 'd')).length, 300);
  assert.deepEqual(readdirSync(join(data, 'images', 'tmp')), [], 'the loser dropped its copy');
});

test('two processes unpacking the same layer at once end with one complete dir and no tmp left', { skip }, async () => {
  const { data, store } = fresh();
  const files: FixtureEntry[] = Array.from({ length: 800 }, (_, i) => ({ name: `d${i % 10}/f${i}`, content: `file ${i}\n`.repeat(20) }));
  const l = await layout([files]);
  const layer = l.images[0].layers[0];
  await store.putBlob(layer.digest, layer.size, blobOf(l, layer.digest));
  const script = `import { openStore } from ${JSON.stringify(join(repoRoot, 'dist', 'src', 'image', 'store.js'))};
    await openStore(process.argv[1]).unpackLayer(JSON.parse(process.argv[2]));`;
  const run = () => new Promise<number>((res) => {
    const c = spawn(process.execPath, ['--input-type=module', '-e', script, data, JSON.stringify(layer)], { stdio: ['ignore', 'inherit', 'inherit'] });
    c.on('exit', (code) => res(code ?? -1));
  });
  assert.deepEqual(await Promise.all([run(), run(), run()]), [0, 0, 0]);
  const dir = store.layerDir(layer.diffId);
  let count = 0;
  for (const d of readdirSync(dir)) count += readdirSync(join(dir, d)).length;
  assert.equal(count, 800);
  assert.deepEqual(readdirSync(join(data, 'images', 'tmp')), []);
});

test('a stale tmp entry of a dead process is ignored, then pruned (bytes counted); a live one is kept', { skip }, async () => {
  const { data, store } = fresh();
  const l = await layout([[{ name: 'a', content: 'A' }]]);
  const img = l.images[0];
  const dead = join(data, 'images', 'tmp', `${deadPid()}.0123456789ab.layer`);
  mkdirSync(join(dead, 'half'), { recursive: true });
  writeFileSync(join(dead, 'half', 'written'), Buffer.alloc(1000));
  const live = join(data, 'images', 'tmp', `${process.pid}.0123456789ab.blob`);
  writeFileSync(live, Buffer.alloc(10));
  await putImage(store, l, img, 'docker.io/library/a:latest');
  assert.equal(readFileSync(join(store.layerDir(img.layers[0].diffId), 'a'), 'utf8'), 'A');
  const r = store.prune(new Set());
  assert.deepEqual(r, { blobs: 0, layers: 0, bytes: 1000 });
  assert.equal(existsSync(dead), false);
  assert.equal(existsSync(live), true);
});

test('prune keeps what names, `keep` and live leases reach; frees the rest with a byte count', { skip }, async () => {
  const { data, store } = fresh();
  const baseLayer: FixtureEntry[] = [{ name: 'base', content: 'shared base layer' }];
  const la = await layout([baseLayer, [{ name: 'a', content: 'only in A' }]]);
  const lb = await layout([baseLayer, [{ name: 'b', content: 'only in B, a bit longer' }]]);
  const a = la.images[0];
  const b = lb.images[0];
  await putImage(store, la, a, 'docker.io/library/a:latest');
  await putImage(store, lb, b, 'docker.io/library/b:latest');
  const stray = Buffer.from('a blob nothing references');
  await store.putBlob(sha256(stray), stray.length, stray);
  // named: only the stray goes
  assert.deepEqual(store.prune(new Set()), { blobs: 1, layers: 0, bytes: stray.length });
  // B unnamed but kept (a container uses it)
  store.untag('docker.io/library/b:latest');
  assert.deepEqual(store.prune(new Set([b.manifestDigest])), { blobs: 0, layers: 0, bytes: 0 });
  // a lease (another process mid-pull) keeps it too
  const lease = store.lease([b.manifestDigest]);
  assert.deepEqual(store.prune(new Set()), { blobs: 0, layers: 0, bytes: 0 });
  lease.release();
  // now B's manifest, config and own layer (blob + dir) go; the shared base stays
  const bOnly = b.layers[1];
  const expect = b.manifestBytes.length + b.configBytes.length + bOnly.size + Buffer.byteLength('only in B, a bit longer');
  assert.deepEqual(store.prune(new Set()), { blobs: 3, layers: 1, bytes: expect });
  assert.equal(store.hasBlob(b.manifestDigest), false);
  assert.equal(store.hasLayer(bOnly.diffId), false);
  assert.ok(store.hasBlob(b.layers[0].digest) && store.hasLayer(b.layers[0].diffId), 'shared base kept');
  for (const l of a.layers) assert.ok(store.hasBlob(l.digest) && store.hasLayer(l.diffId));
  assert.equal(store.resolve('docker.io/library/a:latest')?.digest, a.manifestDigest);
  assert.deepEqual(readdirSync(join(data, 'images', 'tmp')), []);
});

test('names: a stale lock (dead pid) is taken over; a live one makes tag wait, then fail clearly', { skip }, async () => {
  const { data, store } = fresh();
  const l = await layout([[{ name: 'a', content: 'A' }]]);
  await putImage(store, l, l.images[0]);
  const lock = join(data, 'images', 'repositories.lock');
  writeFileSync(lock, String(deadPid()));
  store.tag('docker.io/library/a:1', l.images[0].manifestDigest);
  assert.equal(existsSync(lock), false);
  const sleeper = spawn('sleep', ['30']);
  try {
    writeFileSync(lock, String(sleeper.pid));
    const t0 = Date.now();
    assert.throws(() => openStore(data, { lockTimeoutMs: 300 }).tag('docker.io/library/a:2', l.images[0].manifestDigest), (e: unknown) => {
      assert.ok(e instanceof RuntimeFailure);
      assert.equal(e.code, 'E_IMAGE_LOCKED');
      assert.ok(e.message.includes(String(sleeper.pid)) && e.message.includes(lock), e.message);
      return true;
    });
    assert.ok(Date.now() - t0 >= 300);
  } finally {
    sleeper.kill('SIGKILL');
  }
  assert.equal(existsSync(lock), true, 'a live lock is never removed');
  rmSync(lock);
});

test('names written by several processes at once are all kept (the lock serialises them)', { skip }, async () => {
  const { data, store } = fresh();
  const l = await layout([[{ name: 'a', content: 'A' }]]);
  const d = l.images[0].manifestDigest;
  await putImage(store, l, l.images[0]);
  const script = `import { openStore } from ${JSON.stringify(join(repoRoot, 'dist', 'src', 'image', 'store.js'))};
    const s = openStore(process.argv[1]);
    for (let i = 0; i < 15; i++) s.tag('example.com/p' + process.argv[2] + ':' + i, process.argv[3]);`;
  const run = (k: number) => new Promise<number>((res) => {
    spawn(process.execPath, ['--input-type=module', '-e', script, data, String(k), d], { stdio: 'inherit' }).on('exit', (c) => res(c ?? -1));
  });
  assert.deepEqual(await Promise.all([0, 1, 2, 3].map(run)), [0, 0, 0, 0]);
  assert.equal(Object.keys(store.names()).length, 60);
  assert.equal(statSync(join(data, 'images', 'repositories.json')).mode & 0o777, 0o600);
});
