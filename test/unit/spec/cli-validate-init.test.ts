// `niwa validate` and `niwa init` through the real CLI (bin/niwa.js → dist).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { example, fixture, niwa } from '../../helpers.js';
import { tempTree } from './spec-helpers.js';

test('validate prints ok for valid specs and exits 0', () => {
  const r = niwa(['validate', example('probe.container.yaml'), example('haconiwa.container.yaml')]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^ok: .*probe\.container\.yaml$/m);
  assert.match(r.stdout, /^ok: .*haconiwa\.container\.yaml$/m);
});

test('validate prints every problem with file:line:col and exits 2', () => {
  const f = fixture('bad', 'many-errors.container.yaml');
  const r = niwa(['validate', f]);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /many-errors\.container\.yaml:6:3: process\.args: expected a list/);
  assert.match(r.stderr, /:7:3: process\.tty:/);
  assert.match(r.stderr, /:8:10: cgroup\.pids:/);
  assert.doesNotMatch(r.stderr, /must NOT|instancePath|schemaPath/);
});

test('validate --json gives the details as data', () => {
  const r = niwa(['validate', '--json', fixture('bad', 'unknown-top-key.container.yaml'), example('probe.container.yaml')]);
  assert.equal(r.status, 2);
  const out = JSON.parse(r.stdout) as { ok: boolean; errors: { field: string; line: number; hint: string }[] }[];
  assert.deepEqual(out.map((x) => x.ok), [false, true]);
  assert.deepEqual([out[0].errors[0].field, out[0].errors[0].line, out[0].errors[0].hint], ['hostnme', 3, "did you mean 'hostname'?"]);
});

test('validate without a file is a usage error', () => {
  assert.equal(niwa(['validate']).status, 2);
});

test('init writes a starter spec that validates, and refuses to overwrite', () => {
  const d = tempTree();
  const r = niwa(['init', 'demo'], { cwd: d });
  assert.equal(r.status, 0, r.stderr);
  const file = join(d, 'demo.container.yaml');
  assert.ok(existsSync(file));
  assert.match(readFileSync(file, 'utf8'), /^name: demo$/m);
  const v = niwa(['validate', '--no-host', file]);
  assert.equal(v.status, 0, v.stderr);
  writeFileSync(file, 'name: mine\n');
  const again = niwa(['init', 'demo'], { cwd: d });
  assert.equal(again.status, 2);
  assert.match(again.stderr, /already exists/);
  assert.equal(readFileSync(file, 'utf8'), 'name: mine\n');
});

test('init --ts writes a TypeScript starter importing from niwa', () => {
  const d = tempTree();
  assert.equal(niwa(['init', '--ts', 'svc'], { cwd: d }).status, 0);
  const text = readFileSync(join(d, 'svc.container.ts'), 'utf8');
  assert.match(text, /from 'niwa'/);
  assert.match(text, /name: "svc"/);
  assert.equal(niwa(['init', 'bad name'], { cwd: d }).status, 2);
});
