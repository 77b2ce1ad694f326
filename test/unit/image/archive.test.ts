// Offline sources into the store: docker-save archives (ours and skopeo's), OCI layouts and OCI
// archives (ours and skopeo's), multi-platform indexes resolved to this host, canonical names, and
// clear errors for broken archives (missing manifest, digest mismatches, missing blobs).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, readFileSync, readdirSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { needsRoot } from '../../helpers.js';
import { layerTar, writeOciLayout, writeOciArchive, dockerSaveArchive, sha256, type FixtureEntry } from '../../image-fixtures.js';
import { openStore, type Store } from '../../../src/image/store.js';
import { loadArchive, importLayout, canonicalName } from '../../../src/image/archive.js';
import { hostPlatform } from '../../../src/image/platform.js';
import { RuntimeFailure, UserError } from '../../../src/errors.js';

const skip = needsRoot();
const noSkopeo = spawnSync('sh', ['-c', 'command -v skopeo']).status === 0 ? false : 'skopeo not installed';
let base = '';
let n = 0;
before(() => { base = mkdtempSync(join(tmpdir(), 'niwa-archive-test-')); });
after(() => { rmSync(base, { recursive: true, force: true }); });
const fresh = (): Store => openStore(join(base, `root${n++}`));
const path = (name: string) => join(base, `${n++}-${name}`);
const tmpEmpty = (s: Store) => assert.deepEqual(readdirSync(join(s.root, 'tmp')), [], 'no temp files left');

const L1: FixtureEntry[] = [{ name: 'etc/', type: 'dir' }, { name: 'etc/hello', content: 'hello from layer 1\n' }, { name: 'etc/gone', content: 'x' }];
const L2: FixtureEntry[] = [{ name: 'etc/', type: 'dir' }, { name: 'etc/.wh.gone', content: '' }, { name: 'etc/two', content: '2' }];

test('canonical names, as Docker normalises them', () => {
  assert.equal(canonicalName('busybox'), 'docker.io/library/busybox:latest');
  assert.equal(canonicalName('busybox:1.36'), 'docker.io/library/busybox:1.36');
  assert.equal(canonicalName('me/app'), 'docker.io/me/app:latest');
  assert.equal(canonicalName('index.docker.io/library/alpine:3'), 'docker.io/library/alpine:3');
  assert.equal(canonicalName('localhost:5000/a/b'), 'localhost:5000/a/b:latest');
  assert.equal(canonicalName('ghcr.io/o/n:v1'), 'ghcr.io/o/n:v1');
  const d = 'sha256:' + 'a'.repeat(64);
  assert.equal(canonicalName(`x@${d}`), `docker.io/library/x@${d}`);
  for (const bad of ['', 'Upper', 'a b', 'x@sha256:abc', 'x:-bad']) assert.throws(() => canonicalName(bad), (e: unknown) => e instanceof UserError && e.code === 'E_IMAGE_REF', bad);
});

test('a docker save archive (plain and gzip-compressed) loads; RepoTags become canonical names', { skip }, async () => {
  const file = path('save.tar');
  const saved = await dockerSaveArchive(file, { layers: [L1, L2], repoTags: ['busybox:latest', 'example.com/team/tool:1'], config: { Cmd: ['/bin/true'] } });
  for (const f of [file, (writeFileSync(file + '.gz', gzipSync(readFileSync(file))), file + '.gz')]) {
    const store = fresh();
    const [img, ...rest] = await loadArchive(store, f);
    assert.equal(rest.length, 0);
    assert.deepEqual(img.names, ['docker.io/library/busybox:latest', 'example.com/team/tool:1']);
    assert.equal(img.configDigest, saved.configDigest);
    assert.deepEqual(img.layers.map((l) => l.diffId), saved.diffIds);
    assert.deepEqual(img.layers.map((l) => l.digest), saved.diffIds, 'uncompressed layers: blob digest = diff_id');
    assert.deepEqual(img.config.config?.Cmd, ['/bin/true']);
    assert.equal(store.resolve('docker.io/library/busybox:latest')?.digest, img.digest);
    assert.equal(readFileSync(join(store.layerDir(saved.diffIds[0]), 'etc', 'hello'), 'utf8'), 'hello from layer 1\n');
    tmpEmpty(store);
  }
});

test('loadArchive with a name overrides RepoTags; an archive without tags needs one', { skip }, async () => {
  const file = path('untagged.tar');
  await dockerSaveArchive(file, { layers: [L1] });
  const store = fresh();
  const [unnamed] = await loadArchive(store, file);
  assert.deepEqual(unnamed.names, []);
  const [named] = await loadArchive(store, file, 'mine:2');
  assert.deepEqual(named.names, ['docker.io/library/mine:2']);
  assert.equal(named.digest, unnamed.digest, 'the synthesised manifest is deterministic');
});

test('broken docker save archives: clear errors, nothing named, no temp files', { skip }, async () => {
  const store = fresh();
  // no manifest.json and no oci-layout
  const noManifest = path('nomanifest.tar');
  await dockerSaveArchive(noManifest, { layers: [L1], repoTags: ['x:1'], omitManifest: true });
  await assert.rejects(loadArchive(store, noManifest), (e: unknown) => e instanceof RuntimeFailure && e.code === 'E_IMAGE_ARCHIVE' && /no oci-layout, no manifest\.json/.test(e.message));
  // a layer.tar whose content is not what the config's diff_id says
  const good = await layerTar(L1);
  const evil = await layerTar([{ name: 'etc/', type: 'dir' }, { name: 'etc/hello', content: 'tampered\n' }]);
  const saved = await dockerSaveArchive(path('ref.tar'), { layers: [good], repoTags: ['x:1'] });
  const cfgName = `${saved.configDigest.slice(7)}.json`;
  const id = saved.diffIds[0].slice(7);
  const tampered = path('tampered.tar');
  writeFileSync(tampered, await layerTar([
    { name: cfgName, content: JSON.stringify(saved.config) },
    { name: `${id}/layer.tar`, content: evil },
    { name: 'manifest.json', content: JSON.stringify([{ Config: cfgName, RepoTags: ['x:1'], Layers: [`${id}/layer.tar`] }]) },
  ]));
  await assert.rejects(loadArchive(store, tampered), (e: unknown) => {
    assert.ok(e instanceof RuntimeFailure);
    assert.equal(e.code, 'E_IMAGE_DIGEST');
    assert.ok(e.message.includes(saved.diffIds[0]) && e.message.includes(sha256(evil)), e.message);
    return true;
  });
  // a config whose name (its digest) does not match its content
  const badCfg = path('badcfg.tar');
  writeFileSync(badCfg, await layerTar([
    { name: cfgName, content: JSON.stringify({ ...saved.config, config: { Cmd: ['/bin/evil'] } }) },
    { name: `${id}/layer.tar`, content: good },
    { name: 'manifest.json', content: JSON.stringify([{ Config: cfgName, RepoTags: ['x:1'], Layers: [`${id}/layer.tar`] }]) },
  ]));
  await assert.rejects(loadArchive(store, badCfg), (e: unknown) => e instanceof RuntimeFailure && e.code === 'E_IMAGE_DIGEST' && e.message.includes(saved.configDigest));
  // not a tar at all
  const junk = path('junk.tar');
  writeFileSync(junk, 'hello, I am not an archive'.repeat(40));
  await assert.rejects(loadArchive(store, junk), (e: unknown) => e instanceof RuntimeFailure && e.code === 'E_IMAGE_ARCHIVE');
  await assert.rejects(loadArchive(store, path('missing.tar')), (e: unknown) => e instanceof UserError && /does not exist/.test(e.message));
  // an archive entry trying to escape is refused before anything is written outside
  const escape = path('escape.tar');
  writeFileSync(escape, await layerTar([{ name: '../../../evil', content: 'x' }]));
  await assert.rejects(loadArchive(store, escape), (e: unknown) => e instanceof RuntimeFailure && e.code === 'E_IMAGE_UNSAFE');
  assert.deepEqual(store.list(), []);
  tmpEmpty(store);
});

test('an OCI layout directory imports; bare tags take a repository name; full ref names are used as they are', { skip }, async () => {
  const dir = path('layout');
  const v1 = await writeOciLayout(dir, { layers: [L1, L2], compression: 'zstd', tag: 'v1' });
  const v2 = await writeOciLayout(dir, { layers: [L1], compression: 'gzip', tag: 'v2' });
  const store = fresh();
  await assert.rejects(importLayout(store, dir), (e: unknown) => e instanceof UserError && e.code === 'E_IMAGE_NAME' && /tagged 'v1'/.test(e.message));
  const imgs = await importLayout(store, dir, 'app');
  assert.deepEqual(imgs.map((i) => [i.names, i.digest]), [[['docker.io/library/app:v1'], v1.digest], [['docker.io/library/app:v2'], v2.digest]]);
  // a tagged name picks that one entry
  const [only] = await importLayout(store, dir, 'other.example/app:v2');
  assert.equal(only.digest, v2.digest);
  assert.deepEqual(store.resolve('other.example/app:v2')?.layers.map((l) => l.mediaType), [v2.images[0].layers[0].mediaType]);
  await assert.rejects(importLayout(store, dir, 'app:v3'), (e: unknown) => e instanceof UserError && /none is tagged v3/.test(e.message));
  // the layers are unpacked and overlay-ready
  assert.equal(readFileSync(join(store.layerDir(v1.images[0].layers[0].diffId), 'etc', 'hello'), 'utf8'), 'hello from layer 1\n');
  assert.ok(store.hasLayer(v1.images[0].layers[1].diffId));
  const full = path('fullref');
  const f = await writeOciLayout(full, { layers: [L2], tag: 'registry.example:5000/team/app:3' });
  assert.deepEqual((await importLayout(store, full)).map((i) => [i.names, i.digest]), [[['registry.example:5000/team/app:3'], f.digest]]);
  tmpEmpty(store);
});

test('a multi-platform index resolves to this host; an index without it is refused by name', { skip }, async () => {
  const host = hostPlatform();
  const other = host.architecture === 'amd64' ? { os: 'linux', architecture: 'arm64', variant: 'v8' } : { os: 'linux', architecture: 'amd64' };
  const third = { os: 'linux', architecture: 's390x' };
  const dir = path('multi');
  const l = await writeOciLayout(dir, { layers: [L1], platforms: [other, host, third], tag: 'latest' });
  const store = fresh();
  const [img] = await importLayout(store, dir, 'multi');
  assert.equal(img.digest, l.images[1].manifestDigest);
  assert.equal(img.config.architecture, host.architecture);
  const foreign = path('foreign');
  await writeOciLayout(foreign, { layers: [L1], platforms: [other, third] });
  await assert.rejects(importLayout(store, foreign, 'foreign'), (e: unknown) => e instanceof RuntimeFailure && e.code === 'E_IMAGE_PLATFORM' && e.message.includes('linux/s390x'));
});

test('OCI layouts with a corrupt or missing blob are refused naming the digest; nothing is named', { skip }, async () => {
  const store = fresh();
  const dir = path('corrupt');
  const l = await writeOciLayout(dir, { layers: [L1, L2], tag: 'v1' });
  const blob = join(dir, 'blobs', 'sha256', l.images[0].layers[1].digest.slice(7));
  const orig = readFileSync(blob);
  const flipped = Buffer.from(orig);
  flipped[flipped.length - 5] ^= 0xff;
  writeFileSync(blob, flipped);
  await assert.rejects(importLayout(store, dir, 'app'), (e: unknown) => e instanceof RuntimeFailure && e.code === 'E_IMAGE_DIGEST' && e.message.includes(l.images[0].layers[1].digest));
  rmSync(blob);
  await assert.rejects(importLayout(store, dir, 'app'), (e: unknown) => e instanceof RuntimeFailure && e.code === 'E_IMAGE_ARCHIVE' && /missing from blobs/.test(e.message));
  writeFileSync(blob, orig);
  const cfg = join(dir, 'blobs', 'sha256', l.images[0].configDigest.slice(7));
  writeFileSync(cfg, readFileSync(cfg, 'utf8').replace('/bin/sh', '/bin/xx'));
  await assert.rejects(importLayout(store, dir, 'app'), (e: unknown) => e instanceof RuntimeFailure && e.code === 'E_IMAGE_DIGEST' && e.message.includes(l.images[0].configDigest));
  await assert.rejects(importLayout(store, path('nothing'), 'app'), (e: unknown) => e instanceof UserError);
  assert.deepEqual(store.list(), []);
});

test('an OCI archive loads, plain or compressed', { skip }, async () => {
  const file = path('img.oci.tar');
  const l = await writeOciArchive(file, { layers: [L1, L2], tag: 'v1' });
  const store = fresh();
  const [img] = await loadArchive(store, file, 'ociapp');
  assert.deepEqual(img.names, ['docker.io/library/ociapp:v1']);
  assert.equal(img.digest, l.digest);
  const z = file + '.zst';
  const r = spawnSync('zstd', ['-q', '-f', file, '-o', z]);
  assert.equal(r.status, 0);
  const [again] = await loadArchive(fresh(), z, 'ociapp:z');
  assert.equal(again.digest, l.digest);
  tmpEmpty(store);
});

test('archives written by skopeo (docker-archive and oci-archive) load', { skip: skip || noSkopeo }, async () => {
  const dir = path('src-layout');
  const l = await writeOciLayout(dir, { layers: [L1, L2], tag: 'v1', config: { Cmd: ['/bin/true'], Env: ['A=1'] } });
  const da = path('skopeo-docker.tar');
  const oa = path('skopeo-oci.tar');
  for (const [dest, what] of [[`docker-archive:${da}:example.com/sk/app:1`, da], [`oci-archive:${oa}:v9`, oa]]) {
    const r = spawnSync('skopeo', ['copy', '-q', `oci:${dir}:v1`, dest], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.ok(existsSync(what));
  }
  const store = fresh();
  const [fromDocker] = await loadArchive(store, da);
  assert.deepEqual(fromDocker.names, ['example.com/sk/app:1']);
  assert.deepEqual(fromDocker.layers.map((x) => x.diffId), l.images[0].config.rootfs.diff_ids);
  assert.deepEqual(fromDocker.config.config?.Env, ['A=1']);
  const [fromOci] = await loadArchive(store, oa, 'skopeo-oci');
  assert.deepEqual(fromOci.names, ['docker.io/library/skopeo-oci:v9']);
  assert.deepEqual(fromOci.layers.map((x) => x.diffId), l.images[0].config.rootfs.diff_ids);
  tmpEmpty(store);
});
