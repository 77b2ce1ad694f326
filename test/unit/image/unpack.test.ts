// Unpack's pure parts (sniffing, name normalisation, makedev) and the syscalls it asks the Sys seam
// for, recorded by the fake: whiteouts as mknod(S_IFCHR, 0), opaque markers as lsetxattr.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sniffCompression, entryParts, unpackLayerTo } from '../../../src/image/unpack.js';
import { makedev, S_IFCHR } from '../../../src/runtime/sys/types.js';
import { FakeSys } from '../../../src/runtime/sys/fake.js';
import { layerTar, compress } from '../../image-fixtures.js';

test('compression is sniffed from magic bytes', () => {
  assert.equal(sniffCompression(Buffer.from([0x1f, 0x8b, 8, 0])), 'gzip');
  assert.equal(sniffCompression(Buffer.from([0x28, 0xb5, 0x2f, 0xfd])), 'zstd');
  assert.equal(sniffCompression(Buffer.from('etc/')), 'none');
  assert.equal(sniffCompression(Buffer.alloc(0)), 'none');
});

test('entry names: ./ and leading / dropped, .. refused', () => {
  assert.deepEqual(entryParts('./usr//bin/'), ['usr', 'bin']);
  assert.deepEqual(entryParts('/etc/passwd'), ['etc', 'passwd']);
  assert.deepEqual(entryParts('./'), []);
  assert.throws(() => entryParts('a/../b'), /'\.\.' component/);
  assert.throws(() => entryParts('..'), (e: Error & { code?: string }) => e.code === 'E_IMAGE_UNSAFE');
});

test('makedev matches glibc for small and large numbers', () => {
  assert.equal(makedev(1, 3), 0x103);
  assert.equal(makedev(0, 0), 0);
  assert.equal(makedev(259, 65536), 0x10300 + 0x100 * 0x100000 + 0);
  assert.equal(makedev(4096, 0), 2 ** 44);
});

test('whiteouts and opaque markers become mknod and lsetxattr calls on the Sys seam', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'niwa-unpack-unit-'));
  try {
    const sys = new FakeSys();
    const dest = join(dir, 'layer');
    const r = await unpackLayerTo(compress(await layerTar([
      { name: 'a/', type: 'dir' },
      { name: 'a/.wh.gone', content: '' },
      { name: 'b/.wh..wh..opq', content: '' },
      { name: 'b/.wh..wh.plnk', content: '' },
    ]), 'gzip'), dest, { sys });
    assert.deepEqual(sys.calls.map((c) => [c.call, ...c.args]), [
      ['mknod', join(dest, 'a', 'gone'), S_IFCHR, 0],
      ['lsetxattr', join(dest, 'b'), 'trusted.overlay.opaque', 'y'],
    ]);
    assert.equal(r.whiteouts, 2);
    assert.match(r.notes.join('\n'), /\.wh\.\.wh\.plnk/);
    assert.ok(existsSync(join(dest, 'b')), 'the opaque dir is made even before its own entry');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
