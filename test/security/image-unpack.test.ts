// Hostile layer tars: `..` names, absolute names, symlink-then-file, hard links to or through outside
// paths, dirs and whiteouts through symlinks, PAX path overrides and overlayfs xattrs. After each, a
// sentinel directory outside the layer must be exactly as before, and the refused layer gone.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync, readdirSync, readFileSync, existsSync, lstatSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { needsRoot } from '../helpers.js';
import { layerTar, type FixtureEntry } from '../image-fixtures.js';
import { unpackLayerTo } from '../../src/image/unpack.js';
import { prepareNative, realSys } from '../../src/runtime/sys/real.js';
import { RuntimeFailure } from '../../src/errors.js';

const skip = needsRoot();
let base = '';
let outside = '';
let layers = '';
let n = 0;

before(async () => {
  if (skip) return;
  await prepareNative();
  base = mkdtempSync(join(tmpdir(), 'niwa-unpack-sec-'));
  // layers live two levels down so `../` and `../../` both land in `base`, next to the sentinel
  layers = join(base, 'images', 'layers');
  mkdirSync(layers, { recursive: true });
  outside = join(base, 'outside');
  mkdirSync(outside);
  writeFileSync(join(outside, 'secret'), 'root:$6$hash:19000:0:99999:7:::\n', { mode: 0o600 });
});
after(() => { if (base) rmSync(base, { recursive: true, force: true }); });

/** Every path under `base` except the layers dir, with size and link count: what must not change. */
function snapshot(): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const f of readdirSync(d).sort()) {
      const p = join(d, f);
      if (p === layers) continue;
      const st = lstatSync(p);
      out.push(`${relative(base, p)} ${st.mode.toString(8)} ${st.size} ${st.nlink} ${realSys.lgetxattr(p, 'trusted.overlay.opaque') ?? ''}`);
      if (st.isDirectory()) walk(p);
    }
  };
  walk(base);
  return out;
}

/** Unpacks `entries`; returns the error (or undefined), after checking nothing outside changed. */
async function attempt(entries: FixtureEntry[]): Promise<{ err?: RuntimeFailure; dest: string }> {
  const before = snapshot();
  const dest = join(layers, `l${n++}`);
  let err: RuntimeFailure | undefined;
  try {
    await unpackLayerTo(await layerTar(entries), dest, { sys: realSys });
  } catch (e) {
    if (!(e instanceof RuntimeFailure)) throw e;
    err = e;
    assert.equal(existsSync(dest), false, 'a refused layer leaves no directory');
  }
  assert.deepEqual(snapshot(), before, 'nothing outside the layer changed');
  assert.equal(readFileSync(join(outside, 'secret'), 'utf8'), 'root:$6$hash:19000:0:99999:7:::\n');
  return { err, dest };
}

test('`..` components refuse the layer', { skip }, async () => {
  for (const name of ['../evil', '../../evil', '../outside/secret', 'a/../../evil', './../evil', 'ok/../../../outside/new']) {
    const { err } = await attempt([{ name: 'ok/', type: 'dir' }, { name, content: 'pwned' }]);
    assert.equal(err?.code, 'E_IMAGE_UNSAFE', name);
    assert.match(err!.message, /'\.\.' component/);
  }
  assert.equal(existsSync(join(base, 'evil')), false);
  assert.equal(existsSync(join(base, 'images', 'evil')), false);
});

test('a PAX path record with `..` is refused like a plain name', { skip }, async () => {
  const { err } = await attempt([{ name: 'innocent', content: 'pwned', pax: { path: '../../outside/pax' } }]);
  assert.equal(err?.code, 'E_IMAGE_UNSAFE');
  assert.equal(existsSync(join(outside, 'pax')), false);
});

test('absolute names are contained: they land under the layer root, as Docker does', { skip }, async () => {
  const abs = `/niwa-sec-test-${process.pid}`;
  const { err, dest } = await attempt([{ name: abs, content: 'contained' }, { name: `${outside}/new`, content: 'contained too' }]);
  assert.equal(err, undefined);
  assert.equal(existsSync(abs), false, 'nothing at the host path');
  assert.equal(readFileSync(join(dest, abs.slice(1)), 'utf8'), 'contained');
  assert.equal(readFileSync(join(dest, outside.slice(1), 'new'), 'utf8'), 'contained too');
  rmSync(dest, { recursive: true });
});

test('a symlink then a file through it is refused', { skip }, async () => {
  for (const link of [outside, '../../outside', '/']) {
    const { err } = await attempt([{ name: 'l', type: 'symlink', linkname: link }, { name: 'l/f', content: 'pwned' }]);
    assert.equal(err?.code, 'E_IMAGE_UNSAFE', link);
    assert.match(err!.message, /goes through the symlink `l`/);
  }
  assert.equal(existsSync(join(outside, 'f')), false);
});

test('a symlink dir then a dir entry (and a deeper file) through it is refused', { skip }, async () => {
  const { err } = await attempt([{ name: 'd', type: 'symlink', linkname: outside }, { name: 'd/sub/', type: 'dir' }, { name: 'd/sub/f', content: 'x' }]);
  assert.equal(err?.code, 'E_IMAGE_UNSAFE');
  assert.equal(existsSync(join(outside, 'sub')), false);
});

test('hard links to outside paths or through symlinks are refused; no extra link to the secret exists', { skip }, async () => {
  const cases: FixtureEntry[][] = [
    [{ name: 'shadow', type: 'link', linkname: '../../outside/secret' }],
    [{ name: 'shadow', type: 'link', linkname: join(outside, 'secret') }], // absolute: means <layer>/<that path>, which is not there
    [{ name: 'shadow', type: 'link', linkname: '/etc/shadow' }],
    [{ name: 'l', type: 'symlink', linkname: outside }, { name: 'shadow', type: 'link', linkname: 'l/secret' }],
    [{ name: 'd/', type: 'dir' }, { name: 'shadow', type: 'link', linkname: 'd/../../../outside/secret' }],
    [{ name: 'r', type: 'symlink', linkname: '/' }, { name: 'shadow', type: 'link', linkname: 'r/etc/shadow' }],
  ];
  for (const entries of cases) {
    const { err } = await attempt(entries);
    assert.ok(err && /E_IMAGE_(UNSAFE|LAYER)/.test(err.code), JSON.stringify(entries));
  }
  assert.equal(statSync(join(outside, 'secret')).nlink, 1);
  assert.equal(statSync('/etc/shadow').nlink, 1);
});

test('a hard link to a symlink links the symlink itself (never its target)', { skip }, async () => {
  const { err, dest } = await attempt([{ name: 'l', type: 'symlink', linkname: join(outside, 'secret') }, { name: 'h', type: 'link', linkname: 'l' }]);
  assert.equal(err, undefined);
  assert.ok(lstatSync(join(dest, 'h')).isSymbolicLink());
  assert.equal(lstatSync(join(dest, 'h')).ino, lstatSync(join(dest, 'l')).ino);
  rmSync(dest, { recursive: true });
});

test('whiteouts and opaque markers through a symlink are refused', { skip }, async () => {
  for (const name of ['l/.wh.secret', 'l/.wh..wh..opq']) {
    const { err } = await attempt([{ name: 'l', type: 'symlink', linkname: outside }, { name, content: '' }]);
    assert.equal(err?.code, 'E_IMAGE_UNSAFE', name);
  }
  for (const name of ['.wh...', '.wh..', 'a/.wh.']) {
    const { err } = await attempt([{ name, content: '' }]);
    assert.equal(err?.code, 'E_IMAGE_UNSAFE', name);
  }
});

test('a file that replaces a symlink never writes through it', { skip }, async () => {
  const { err, dest } = await attempt([
    { name: 'x', type: 'symlink', linkname: join(outside, 'secret') },
    { name: 'x', content: 'replaced' },
  ]);
  assert.equal(err, undefined);
  assert.equal(readFileSync(join(dest, 'x'), 'utf8'), 'replaced');
  assert.ok(!lstatSync(join(dest, 'x')).isSymbolicLink());
  rmSync(dest, { recursive: true });
});

test('overlayfs xattrs from the tar are not applied (a layer cannot redirect or make dirs opaque that way)', { skip }, async () => {
  const { err, dest } = await attempt([
    { name: 'd/', type: 'dir', pax: { 'SCHILY.xattr.trusted.overlay.redirect': '/etc', 'SCHILY.xattr.trusted.overlay.opaque': 'y' } },
  ]);
  assert.equal(err, undefined);
  assert.equal(realSys.lgetxattr(join(dest, 'd'), 'trusted.overlay.redirect'), undefined);
  assert.equal(realSys.lgetxattr(join(dest, 'd'), 'trusted.overlay.opaque'), undefined);
  rmSync(dest, { recursive: true });
});

test('a layer is 0700 while it is being unpacked', { skip }, async () => {
  const dest = join(layers, 'private');
  let seen = -1;
  async function* slow() {
    const t = await layerTar([{ name: 'a', content: 'x' }]);
    yield t.subarray(0, 512);
    seen = lstatSync(dest).mode & 0o777;
    yield t.subarray(512);
  }
  await unpackLayerTo(slow(), dest, { sys: realSys });
  assert.equal(seen, 0o700);
  rmSync(dest, { recursive: true });
});

// The writer checks parent components against the map of what it made instead of lstat-walking each
// one; these replace entries after the fact, so that map must follow every replacement.
test('a directory replaced by a symlink, then a file (or whiteout, or hard link) through it, is refused', { skip }, async () => {
  const files: FixtureEntry[] = Array.from({ length: 20 }, (_, i) => ({ name: `d/f${i}`, content: `f${i}` }));
  for (const last of [{ name: 'd/f0', content: 'pwned' }, { name: 'd/sub/f', content: 'pwned' }, { name: 'd/.wh.secret', content: '' }, { name: 'h', type: 'link', linkname: 'd/secret' }] as FixtureEntry[]) {
    const { err } = await attempt([{ name: 'd/', type: 'dir' }, ...files, { name: 'd', type: 'symlink', linkname: outside }, last]);
    assert.equal(err?.code, 'E_IMAGE_UNSAFE', last.name);
  }
  assert.deepEqual(readdirSync(outside), ['secret']);
});

test('a file replaced by a directory, and a directory by a file, end as the last entry says', { skip }, async () => {
  const { err, dest } = await attempt([
    { name: 'a', content: 'file' }, { name: 'a/', type: 'dir' }, { name: 'a/in', content: 'in a dir' },
    { name: 'b/', type: 'dir' }, { name: 'b/x', content: 'x' }, { name: 'b', content: 'now a file' }, { name: 'h', type: 'link', linkname: 'b' },
  ]);
  assert.equal(err, undefined);
  assert.equal(readFileSync(join(dest, 'a', 'in'), 'utf8'), 'in a dir');
  assert.equal(readFileSync(join(dest, 'b'), 'utf8'), 'now a file');
  assert.equal(statSync(join(dest, 'h')).ino, statSync(join(dest, 'b')).ino);
  rmSync(dest, { recursive: true });
});

test('many small files written in the background: all there with their modes, owners and times', { skip }, async () => {
  const entries: FixtureEntry[] = [{ name: 'm/', type: 'dir' }, ...Array.from({ length: 300 }, (_, i) => ({ name: `m/f${i}`, content: `file ${i}\n`.repeat(i % 7), mode: 0o4750, uid: 1000 + i, gid: 2000 })) as FixtureEntry[]];
  const { err, dest } = await attempt(entries);
  assert.equal(err, undefined);
  for (const i of [0, 1, 150, 299]) {
    const st = lstatSync(join(dest, 'm', `f${i}`));
    assert.equal(readFileSync(join(dest, 'm', `f${i}`), 'utf8'), `file ${i}\n`.repeat(i % 7));
    assert.equal(st.mode & 0o7777, 0o4750, 'setuid kept: chown came before chmod');
    assert.deepEqual([st.uid, st.gid], [1000 + i, 2000]);
  }
  rmSync(dest, { recursive: true });
});
