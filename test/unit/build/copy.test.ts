// COPY/ADD planning against real directories (no root needed): Docker's directory semantics, globs,
// .dockerignore, --chown/--chmod, parents taken from the image, symlinks followed only inside the
// context, sources outside it refused, and the content digest that keys the cache.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { planCopy, type CopyRequest } from '../../../src/build/copy.js';
import { contextTree, layersTree } from '../../../src/build/sources.js';

function setup(): { ctx: string; layer: string; done: () => void } {
  const root = mkdtempSync(join(tmpdir(), 'niwa-copy-'));
  const ctx = join(root, 'ctx');
  const layer = join(root, 'layer');
  for (const d of ['src/sub', 'lib-real']) mkdirSync(join(ctx, d), { recursive: true });
  writeFileSync(join(ctx, 'a.txt'), 'a');
  writeFileSync(join(ctx, 'b.txt'), 'b');
  writeFileSync(join(ctx, 'src/main.c'), 'main');
  writeFileSync(join(ctx, 'src/sub/x.key'), 'secret');
  writeFileSync(join(root, 'host-secret'), 'HOST');
  symlinkSync(join(root, 'host-secret'), join(ctx, 'escape'));
  symlinkSync('a.txt', join(ctx, 'alias'));
  mkdirSync(join(layer, 'usr/lib'), { recursive: true });
  symlinkSync('usr/lib', join(layer, 'lib'));
  return { ctx, layer, done: () => rmSync(root, { recursive: true, force: true }) };
}

const req = (sources: string[], dest: string, more: Partial<CopyRequest> = {}): CopyRequest => ({ sources, dest, workdir: '/app', add: false, where: { file: 'Dockerfile', line: 3, col: 1, text: 'COPY …' }, ...more });
const names = (p: ReturnType<typeof planCopy>) => p.entries.map((e) => `${e.type[0]} ${e.name}`);

test('files, directories (their contents), globs, relative DEST under WORKDIR, .dockerignore', () => {
  const { ctx, layer, done } = setup();
  try {
    const lower = layersTree([layer], 'the image', () => false);
    const tree = contextTree(ctx, ['**/*.key']);
    assert.deepEqual(names(planCopy(tree, lower, req(['a.txt'], 'renamed.txt'))), ['d app', 'f app/renamed.txt']);
    assert.deepEqual(names(planCopy(tree, lower, req(['*.txt'], 'out/'))), ['d app', 'd app/out', 'f app/out/a.txt', 'f app/out/b.txt']);
    assert.deepEqual(names(planCopy(tree, lower, req(['src'], '/dst'))), ['d dst', 'f dst/main.c', 'd dst/sub'], 'the directory\'s contents, not the directory; the .key file is ignored');
    assert.throws(() => planCopy(tree, lower, req(['a.txt', 'b.txt'], '/one')), /must be a directory and end with \//);
    assert.throws(() => planCopy(tree, lower, req(['src/sub/x.key'], '/k')), (e: Error & { hint?: string }) => /no such file/.test(e.message) && /dockerignore/.test(e.hint ?? ''));
  } finally { done(); }
});

test('ownership, mode, parents from the image, a symlinked parent followed inside the image', () => {
  const { ctx, layer, done } = setup();
  try {
    const lower = layersTree([layer], 'the image', () => false);
    const p = planCopy(contextTree(ctx, []), lower, req(['a.txt'], '/lib/x/', { owner: { uid: 7, gid: 8 }, chmod: 0o640 }));
    assert.deepEqual(names(p), ['d usr', 'd usr/lib', 'd usr/lib/x', 'f usr/lib/x/a.txt'], '/lib → usr/lib is followed, never replaced by a directory');
    const f = p.entries.find((e) => e.type === 'file')!;
    assert.deepEqual([f.uid, f.gid, f.mode], [7, 8, 0o640]);
    const plain = planCopy(contextTree(ctx, []), lower, req(['a.txt'], '/x'));
    assert.deepEqual([plain.entries[0].uid, plain.entries[0].gid], [0, 0], 'new files belong to root without --chown');
  } finally { done(); }
});

test('no file outside the context is ever read: ../ is refused, a symlink is followed inside the context only', () => {
  const { ctx, layer, done } = setup();
  try {
    const lower = layersTree([layer], 'the image', () => false);
    const tree = contextTree(ctx, []);
    assert.throws(() => planCopy(tree, lower, req(['../host-secret'], '/x')), /outside the build context/);
    assert.throws(() => planCopy(tree, lower, req(['escape'], '/x')), /symlink that leads to nothing inside the build context/);
    const alias = planCopy(tree, lower, req(['alias'], '/x'));
    assert.equal(alias.entries.at(-1)!.host, join(ctx, 'a.txt'), 'a symlink named as a source is followed inside the context');
  } finally { done(); }
});

test('the content digest changes with content, mode and owner, and only then', () => {
  const { ctx, layer, done } = setup();
  try {
    const lower = layersTree([layer], 'the image', () => false);
    const d = () => planCopy(contextTree(ctx, []), lower, req(['src'], '/s')).digest;
    const d1 = d();
    assert.equal(d(), d1);
    writeFileSync(join(ctx, 'src/main.c'), 'main2');
    assert.notEqual(d(), d1);
    const withOwner = planCopy(contextTree(ctx, []), lower, req(['src'], '/s', { owner: { uid: 1, gid: 1 } })).digest;
    assert.notEqual(withOwner, d());
  } finally { done(); }
});
