// develop.watch rules as data: paths made absolute, actions checked, and which rule a changed path
// triggers, with its container path (ignore patterns honoured).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { matchChange, watchRules } from '../../../src/build/watch.js';

const svcs: Record<string, { develop?: unknown; build?: unknown; image?: string }> = {
  app: { build: '.', develop: { watch: [{ action: 'sync', path: './src', target: '/app/src', ignore: ['*.tmp', 'cache/'] }, { action: 'rebuild', path: 'package.json' }] } },
  db: { image: 'x' },
};

test('rules: paths under the project directory; rebuild needs build:, sync needs an absolute target', () => {
  const r = watchRules(svcs, '/p');
  assert.deepEqual(r.map((x) => [x.service, x.action, x.path, x.target]), [['app', 'sync', '/p/src', '/app/src'], ['app', 'rebuild', '/p/package.json', undefined]]);
  assert.throws(() => watchRules({ a: { develop: { watch: [{ action: 'rebuild', path: 'x' }] } } }, '/p'), /needs the service to have build/);
  assert.throws(() => watchRules({ a: { develop: { watch: [{ action: 'sync', path: 'x', target: 'rel' }] } } }, '/p'), /absolute container path/);
  assert.throws(() => watchRules({ a: { develop: { watch: [{ action: 'copy', path: 'x' }] } } }, '/p'), /not sync, rebuild or sync\+restart/);
});

test('a changed path: the rules it falls under, its container path, ignores honoured', () => {
  const r = watchRules(svcs, '/p');
  assert.deepEqual(matchChange(r, '/p/src/a/b.js').map((m) => m.containerPath), ['/app/src/a/b.js']);
  assert.deepEqual(matchChange(r, '/p/src/x.tmp'), []);
  assert.deepEqual(matchChange(r, '/p/src/cache/y'), []);
  assert.deepEqual(matchChange(r, '/p/package.json').map((m) => m.rule.action), ['rebuild']);
  assert.deepEqual(matchChange(r, '/p/other/file'), []);
  assert.deepEqual(matchChange(r, '/p/srcfoo/file'), [], 'a sibling with the same prefix is not under the path');
});
