// `niwa plan` through the real CLI: the TS example and its YAML twin print the same plan,
// --json parses to the same data, and usage errors exit 2.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { niwa, repoRoot } from '../../helpers.js';
import { join } from 'node:path';

const strip = (s: string) => s.replace(/^launch plan for .*$/m, '').split(repoRoot).join('<repo>');

test('haconiwa.example.ts and examples/haconiwa.container.yaml print the same plan', () => {
  const ts = niwa(['plan', '--host', 'generic', join(repoRoot, 'haconiwa.example.ts')]);
  const yaml = niwa(['plan', '--host', 'generic', join(repoRoot, 'examples', 'haconiwa.container.yaml')]);
  assert.equal(ts.status, 0, ts.stderr);
  assert.equal(yaml.status, 0, yaml.stderr);
  assert.ok(ts.stdout.split('\n').length > 50, 'a full plan');
  assert.equal(strip(ts.stdout), strip(yaml.stdout));
});

test('plan --json is the same plan as data', () => {
  const r = niwa(['plan', '--json', '--host', 'generic', join(repoRoot, 'examples', 'probe.container.yaml')]);
  assert.equal(r.status, 0, r.stderr);
  const plan = JSON.parse(r.stdout);
  assert.equal(plan.name, 'probe');
  assert.ok(plan.steps.every((s: { index: number }, i: number) => s.index === i));
  const text = niwa(['plan', '--host', 'generic', join(repoRoot, 'examples', 'probe.container.yaml')]);
  assert.equal(text.stdout.match(/^ {2,}\d+ {2}/gm)?.length, plan.steps.length, 'one line per step');
  assert.ok(plan.steps.some((s: { op: string; path?: string; data?: string }) => s.op === 'write' && s.path?.endsWith('/memory.max') && s.data === '33554432'), 'the cgroup write is a step');
});

test('usage errors exit 2 with a hint; --help exits 0 for every verb', () => {
  const r = niwa(['plan']);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /hint|usage/);
  assert.equal(niwa(['nosuchverb']).status, 2);
  for (const v of ['plan', 'run', 'validate', 'init']) {
    const h = niwa([v, '--help']);
    assert.equal(h.status, 0, v);
    assert.match(h.stdout, new RegExp(`usage: niwa ${v}`));
  }
});
