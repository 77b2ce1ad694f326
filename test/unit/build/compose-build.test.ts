// Compose build: → the builder's request (pure), and ADD's archive reader refusing entries that
// climb out of their destination.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { builtImageName, composeBuildRequest } from '../../../src/build/compose.js';
import { archiveEntries } from '../../../src/build/copy.js';
import { layerTar } from '../../image-fixtures.js';

test('build: as a string or an object becomes a build request; image: names the result, else <project>-<service>', () => {
  assert.equal(builtImageName('Demo', 'Web', {}), 'demo-web');
  assert.equal(builtImageName('demo', 'web', { image: 'me/web:2' }), 'me/web:2');
  assert.deepEqual(composeBuildRequest('demo', 'web', { build: 'app' }, '/proj'), { context: '/proj/app', tags: ['demo-web'], buildArgs: {} });
  const r = composeBuildRequest('demo', 'web', { image: 'me/web:2', build: { context: '/abs', dockerfile: 'Dockerfile.dev', args: ['A=1', 'B=two=2'], target: 'dev', labels: { team: 'x' }, no_cache: true } }, '/proj');
  assert.deepEqual(r, { context: '/abs', dockerfile: 'Dockerfile.dev', tags: ['me/web:2'], buildArgs: { A: '1', B: 'two=2' }, target: 'dev', labels: { team: 'x' }, noCache: true });
  assert.deepEqual(composeBuildRequest('d', 's', { build: { context: '.', args: { N: 3, SKIP: null } } }, '/p').buildArgs, { N: '3' });
  assert.throws(() => composeBuildRequest('d', 's', { build: { context: 'https://github.com/x/y.git' } }), /remote contexts/);
});

test('ADD of a tar: entries go under DEST; a name or hard link with .. refuses the archive', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'niwa-addtar-'));
  try {
    const good = join(dir, 'good.tar');
    writeFileSync(good, await layerTar([{ name: 'pkg/', type: 'dir' }, { name: 'pkg/a', content: 'a' }, { name: 'pkg/l', type: 'link', linkname: 'pkg/a' }]));
    const got = [];
    for await (const e of archiveEntries(good, 'opt', 'test')) got.push(`${e.type} ${e.name}${e.linkname ? ` → ${e.linkname}` : ''}`);
    assert.deepEqual(got, ['dir opt/pkg', 'file opt/pkg/a', 'link opt/pkg/l → opt/pkg/a']);
    for (const evil of [[{ name: '../escape', content: 'x' }], [{ name: 'ok', content: 'x' }, { name: 'l', type: 'link' as const, linkname: '../../etc/shadow' }]]) {
      const f = join(dir, 'evil.tar');
      writeFileSync(f, await layerTar(evil));
      await assert.rejects(async () => { for await (const _ of archiveEntries(f, 'opt', 'test')) void _; }, /climbs out|points out/);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
