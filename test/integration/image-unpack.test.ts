// Layer unpacking on the real kernel: whiteouts and opaque dirs work in a real overlay mount, modes
// (setuid), owners, hard links, symlinks, xattrs, fifos and device nodes are kept; gzip, zstd and
// plain layers; a wrong diff_id or a damaged stream leaves no directory behind.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync, lstatSync, readlinkSync, readdirSync, readFileSync, existsSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { needsRoot } from '../helpers.js';
import { layerTar, compress, sha256, FIXTURE_MTIME, shellImageEntries, type FixtureEntry } from '../image-fixtures.js';
import { spawnSync } from 'node:child_process';
import { unpackLayerTo } from '../../src/image/unpack.js';
import { prepareNative, realSys } from '../../src/runtime/sys/real.js';
import { SysError, type Sys } from '../../src/runtime/sys/types.js';
import { RuntimeFailure } from '../../src/errors.js';

const skip = needsRoot();
let dir = '';
before(async () => {
  if (skip) return;
  await prepareNative();
  dir = mkdtempSync(join(tmpdir(), 'niwa-unpack-test-'));
});
after(() => { if (dir) rmSync(dir, { recursive: true, force: true }); });

const LOWER: FixtureEntry[] = [
  { name: 'a/', type: 'dir' },
  { name: 'a/keep', content: 'kept' },
  { name: 'a/gone', content: 'whited out above' },
  { name: 'opq/', type: 'dir', mode: 0o750 },
  { name: 'opq/old1', content: '1' },
  { name: 'opq/old2', content: '2' },
  { name: 'bin/', type: 'dir' },
  { name: 'bin/su', content: '#!/bin/sh\n', mode: 0o4755, uid: 1000, gid: 1001 },
  { name: 'bin/sg', content: 'x', mode: 0o2711 },
  { name: 'tmp/', type: 'dir', mode: 0o1777 },
  { name: 'bin/su-hard', type: 'link', linkname: 'bin/su' },
  { name: 'bin/sh', type: 'symlink', linkname: '/usr/bin/dash' },
  { name: 'etc/', type: 'dir' },
  { name: 'etc/x', content: 'xattr', pax: { 'SCHILY.xattr.user.niwa': 'hello' } },
  { name: 'dev/', type: 'dir' },
  { name: 'dev/null', type: 'char', devmajor: 1, devminor: 3, mode: 0o666 },
  { name: 'dev/fifo', type: 'fifo', mode: 0o600 },
];
const UPPER: FixtureEntry[] = [
  { name: 'a/', type: 'dir' },
  { name: 'a/.wh.gone', content: '' },
  { name: 'opq/', type: 'dir', mode: 0o750 },
  { name: 'opq/.wh..wh..opq', content: '' },
  { name: 'opq/new', content: 'new' },
];

async function unpack(entries: FixtureEntry[], how: 'gzip' | 'zstd' | 'none', name: string, sys: Sys = realSys) {
  const tarBuf = await layerTar(entries);
  const dest = join(dir, name);
  const r = await unpackLayerTo(compress(tarBuf, how), dest, { sys, diffId: sha256(tarBuf) });
  return { dest, r, diffId: sha256(tarBuf) };
}

test('whiteouts and opaque dirs work in a real overlay of two unpacked layers', { skip }, async () => {
  const lower = await unpack(LOWER, 'gzip', 'lower');
  const upper = await unpack(UPPER, 'zstd', 'upper');
  assert.equal(lower.r.compression, 'gzip');
  assert.equal(upper.r.compression, 'zstd');
  assert.equal(upper.r.whiteouts, 2);
  const wh = lstatSync(join(upper.dest, 'a', 'gone'));
  assert.ok(wh.isCharacterDevice());
  assert.equal(wh.rdev, 0);
  assert.equal(wh.uid, 0);
  assert.equal(realSys.lgetxattr(join(upper.dest, 'opq'), 'trusted.overlay.opaque')?.toString(), 'y');
  assert.equal(existsSync(join(upper.dest, 'opq', '.wh..wh..opq')), false);
  assert.equal(statSync(upper.dest).mode & 0o7777, 0o755);

  const merged = join(dir, 'merged');
  mkdirSync(merged);
  realSys.mount('overlay', merged, 'overlay', 0, `lowerdir=${upper.dest}:${lower.dest}`);
  try {
    assert.deepEqual(readdirSync(join(merged, 'a')), ['keep']);
    assert.equal(existsSync(join(merged, 'a', 'gone')), false);
    assert.deepEqual(readdirSync(join(merged, 'opq')), ['new']);
    assert.equal(readFileSync(join(merged, 'bin', 'su'), 'utf8'), '#!/bin/sh\n');
  } finally {
    realSys.umount2(merged, 0);
  }
  assert.equal(readFileSync('/proc/self/mountinfo', 'utf8').includes(merged), false);
});

test('modes (setuid, setgid, sticky), owners, hard links, symlinks, xattrs, fifos, devices and mtimes are kept', { skip }, async () => {
  const { dest, r } = await unpack(LOWER, 'none', 'meta');
  assert.equal(r.compression, 'none');
  const su = lstatSync(join(dest, 'bin', 'su'));
  assert.equal(su.mode & 0o7777, 0o4755, 'setuid kept after chown');
  assert.equal(su.uid, 1000);
  assert.equal(su.gid, 1001);
  assert.equal(lstatSync(join(dest, 'bin', 'sg')).mode & 0o7777, 0o2711);
  assert.equal(lstatSync(join(dest, 'tmp')).mode & 0o7777, 0o1777);
  assert.equal(lstatSync(join(dest, 'opq')).mode & 0o7777, 0o750);
  const hard = lstatSync(join(dest, 'bin', 'su-hard'));
  assert.equal(hard.ino, su.ino, 'hard links share an inode');
  assert.equal(su.nlink, 2);
  assert.equal(readlinkSync(join(dest, 'bin', 'sh')), '/usr/bin/dash');
  assert.equal(realSys.lgetxattr(join(dest, 'etc', 'x'), 'user.niwa')?.toString(), 'hello');
  assert.ok(lstatSync(join(dest, 'dev', 'fifo')).isFIFO());
  const nul = lstatSync(join(dest, 'dev', 'null'));
  assert.ok(nul.isCharacterDevice());
  assert.equal(nul.rdev, 0x103);
  assert.equal(nul.mode & 0o7777, 0o666);
  assert.equal(su.mtimeMs, FIXTURE_MTIME.getTime());
  assert.equal(lstatSync(join(dest, 'etc')).mtimeMs, FIXTURE_MTIME.getTime(), 'dir mtimes set after their entries');
  assert.equal(r.files, 11); // 7 regular files, a hard link, a symlink, a char device and a fifo
  assert.equal(r.skippedDevices, 0);
  assert.equal(r.bytes, Buffer.byteLength('kept' + 'whited out above' + '1' + '2' + '#!/bin/sh\n' + 'x' + 'xattr'));
});

test('device nodes the kernel refuses are skipped and counted; fifos still made', { skip }, async () => {
  const sys: Sys = { ...realSys, mknod: (p, mode, dev) => { if ((mode & 0o170000) !== 0o010000) throw new SysError('mknod', p, 'EPERM'); realSys.mknod(p, mode, dev); } };
  const { dest, r } = await unpack(LOWER, 'gzip', 'noperm', sys);
  assert.equal(r.skippedDevices, 1);
  assert.match(r.notes.join('\n'), /dev\/null: device node 1:3 not made/);
  assert.equal(existsSync(join(dest, 'dev', 'null')), false);
  assert.ok(lstatSync(join(dest, 'dev', 'fifo')).isFIFO());
});

test('a wrong diff_id is refused, naming both digests, and leaves no directory', { skip }, async () => {
  const tarBuf = await layerTar(LOWER);
  const dest = join(dir, 'wrong');
  const wrong = sha256(Buffer.from('something else'));
  await assert.rejects(unpackLayerTo(compress(tarBuf, 'gzip'), dest, { sys: realSys, diffId: wrong }), (e: unknown) => {
    assert.ok(e instanceof RuntimeFailure);
    assert.equal(e.code, 'E_IMAGE_DIGEST');
    assert.ok(e.message.includes(wrong) && e.message.includes(sha256(tarBuf)), e.message);
    return true;
  });
  assert.equal(existsSync(dest), false);
});

test('a damaged gzip or zstd stream and a non-tar are refused with no directory left', { skip }, async () => {
  const tarBuf = await layerTar(LOWER);
  for (const how of ['gzip', 'zstd'] as const) {
    const c = compress(tarBuf, how);
    const broken = Buffer.concat([c.subarray(0, 40), Buffer.alloc(200, 0x41), c.subarray(240)]);
    const dest = join(dir, `broken-${how}`);
    await assert.rejects(unpackLayerTo(broken, dest, { sys: realSys }), (e: unknown) => e instanceof RuntimeFailure && /E_IMAGE_(LAYER|DIGEST)/.test(e.code));
    assert.equal(existsSync(dest), false);
    const trunc = join(dir, `trunc-${how}`);
    await assert.rejects(unpackLayerTo(c.subarray(0, c.length >> 1), trunc, { sys: realSys, diffId: sha256(tarBuf) }), RuntimeFailure);
    assert.equal(existsSync(trunc), false);
  }
  const junk = join(dir, 'junk');
  await assert.rejects(unpackLayerTo(Buffer.from('this is not a tar archive at all, just some text'.repeat(20)), junk, { sys: realSys }), (e: unknown) => e instanceof RuntimeFailure && e.code === 'E_IMAGE_LAYER');
  assert.equal(existsSync(junk), false);
});

test('a streamed layer (many small chunks) unpacks the same as a buffer', { skip }, async () => {
  const tarBuf = await layerTar([...LOWER, { name: 'big', content: Buffer.alloc(3 << 20, 7) }]);
  const z = compress(tarBuf, 'zstd');
  async function* chunks() { for (let i = 0; i < z.length; i += 1000) yield z.subarray(i, i + 1000); }
  const dest = join(dir, 'streamed');
  const r = await unpackLayerTo(chunks(), dest, { sys: realSys, diffId: sha256(tarBuf) });
  assert.equal(statSync(join(dest, 'big')).size, 3 << 20);
  assert.equal(r.diffId, sha256(tarBuf));
});

test('later entries replace earlier ones; a dir entry for an existing dir only updates its metadata', { skip }, async () => {
  const { dest } = await unpack([
    { name: 'd/', type: 'dir', mode: 0o700 },
    { name: 'd/f', content: 'one' },
    { name: 'd/', type: 'dir', mode: 0o711 },
    { name: 'd/f', content: 'two' },
    { name: 'x', type: 'symlink', linkname: 'd/f' },
    { name: 'x', content: 'file now' },
    { name: 'y/', type: 'dir' },
    { name: 'y/inner', content: 'i' },
    { name: 'y', content: 'y is a file' },
    { name: './', type: 'dir', mode: 0o750 },
  ], 'none', 'replace');
  assert.equal(readFileSync(join(dest, 'd', 'f'), 'utf8'), 'two');
  assert.equal(lstatSync(join(dest, 'd')).mode & 0o7777, 0o711);
  assert.equal(readFileSync(join(dest, 'x'), 'utf8'), 'file now');
  assert.equal(readFileSync(join(dest, 'y'), 'utf8'), 'y is a file');
  assert.equal(lstatSync(dest).mode & 0o7777, 0o750, 'the ./ entry sets the root mode');
});

test('a failing source (a download cut off) fails the unpack with its own error; a refused layer closes its source', { skip }, async () => {
  const tarBuf = await layerTar([...LOWER, { name: 'big', content: Buffer.alloc(1 << 20, 1) }]);
  for (const how of ['gzip', 'zstd', 'none'] as const) {
    const c = compress(tarBuf, how);
    async function* cut() { yield c.subarray(0, c.length >> 1); throw new Error('connection reset by peer'); }
    const dest = join(dir, `cut-${how}`);
    await assert.rejects(unpackLayerTo(cut(), dest, { sys: realSys }), /connection reset by peer/, how);
    assert.equal(existsSync(dest), false);
  }
  const evil = compress(Buffer.concat([await layerTar([{ name: '../x', content: 'x' }]), Buffer.alloc(1 << 20)]), 'gzip');
  let closed = false;
  async function* slow() {
    try { for (let i = 0; i < evil.length; i += 512) yield evil.subarray(i, i + 512); } finally { closed = true; }
  }
  await assert.rejects(unpackLayerTo(slow(), join(dir, 'closed'), { sys: realSys }), (e: unknown) => e instanceof RuntimeFailure && e.code === 'E_IMAGE_UNSAFE');
  await new Promise((r) => setTimeout(r, 50));
  assert.ok(closed, 'the source was closed when the layer was refused');
});

test('file capabilities (security.capability from PAX) are kept, set after chown', { skip }, async () => {
  // cap_net_raw+ep, VFS_CAP_REVISION_2: the bytes tar writes as SCHILY.xattr.security.capability
  const cap = Buffer.from([0x01, 0, 0, 0x02, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
  const { dest, r } = await unpack([{ name: 'ping', content: 'x', mode: 0o755, uid: 1000, pax: { 'SCHILY.xattr.security.capability': cap.toString('latin1') } }], 'gzip', 'caps');
  assert.deepEqual(realSys.lgetxattr(join(dest, 'ping'), 'security.capability'), cap);
  assert.deepEqual(r.notes, []);
});

test('an image built from host programs runs from an overlay of its unpacked layers (chroot)', { skip }, async () => {
  const lower = await unpack(shellImageEntries(), 'zstd', 'shell');
  const top = await unpack([{ name: 'etc/', type: 'dir' }, { name: 'etc/.wh.group', content: '' }, { name: 'etc/motd', content: 'from the top layer\n' }], 'gzip', 'shell-top');
  const merged = join(dir, 'shell-merged');
  const upper = join(dir, 'shell-upper');
  const work = join(dir, 'shell-work');
  for (const d of [merged, upper, work]) mkdirSync(d);
  realSys.mount('overlay', merged, 'overlay', 0, `lowerdir=${top.dest}:${lower.dest},upperdir=${upper},workdir=${work}`);
  try {
    const r = spawnSync('chroot', [merged, '/bin/sh', '-c', 'cat /etc/motd; ls /etc; /usr/bin/id -u; echo written > /tmp/new; cat /tmp/new'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'from the top layer\nmotd\npasswd\n0\nwritten\n');
  } finally {
    realSys.umount2(merged, 0);
  }
  assert.equal(readFileSync(join(upper, 'tmp', 'new'), 'utf8'), 'written\n', 'writes go to the upper dir');
  assert.equal(existsSync(join(lower.dest, 'tmp', 'new')), false, 'never to a layer');
});
