// Hostile YAML (issue #13 finding 5): alias bombs, unresolved and cyclic aliases, and files nested
// thousands of levels deep, in container specs and compose files. Each is refused with exit 2 and a
// located message, in bounded time and memory — never "internal error", a hang or a V8 abort.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { niwaBin, repoRoot } from '../helpers.js';
import { validateSpec } from '../../src/validate/spec.js';
import { readComposeText } from '../../src/compose/read.js';

let dir = '';
before(() => { dir = mkdtempSync(join(tmpdir(), 'niwa-yaml-faults-')); });
after(() => { if (dir) rmSync(dir, { recursive: true, force: true }); });

/** The 587-byte compose alias bomb of the issue (nine levels of nine aliases each). */
const laughs = (indent: string) => {
  const names = 'abcdefghi'.split('');
  return names.map((n, i) => `${indent}x-${n}: &${n} [${i === 0 ? Array(9).fill('"lol"').join(',') : Array(9).fill('*' + names[i - 1]).join(',')}]\n`).join('');
};
const COMPOSE_BOMB = `services:\n  web:\n    image: busybox\n${laughs('    ')}`;
const SPEC_BOMB = `name: bomb\nprocess:\n  args: [/bin/true]\n${laughs('').replace(/x-/g, 'x')}`;
/** The 15 KB nested spec of the issue: 3,000 flow mappings inside each other. */
const DEEP_SPEC = `name: deep\nx: ${'{a: '.repeat(3000)}1${'}'.repeat(3000)}\n`;

function cli(args: string[], file: string, text: string): { status: number; stderr: string; ms: number } {
  const path = join(dir, file);
  writeFileSync(path, text);
  const t0 = Date.now();
  // a hard memory cap: an exponential expansion would die here instead of taking the machine
  const r = spawnSync(process.execPath, ['--max-old-space-size=256', niwaBin, ...args, path], { encoding: 'utf8', cwd: repoRoot, timeout: 20_000 });
  return { status: r.status ?? -1, stderr: String(r.stderr), ms: Date.now() - t0 };
}

function assertLocated(stderr: string, file: string, what: RegExp): void {
  assert.match(stderr, new RegExp(`${file.replace(/\./g, '\\.')}:\\d+:\\d+: YAML: `), stderr);
  assert.match(stderr, what, stderr);
  assert.doesNotMatch(stderr, /internal error|RangeError|Allocation failed|\n\s+at /, stderr);
}

test('a compose alias bomb is refused at once: exit 2, located, bounded', () => {
  assert.ok(COMPOSE_BOMB.length < 700, `the bomb is ${COMPOSE_BOMB.length} bytes`);
  const r = cli(['compose', 'config', '-f'], 'compose.yaml', COMPOSE_BOMB);
  assert.equal(r.status, 2, r.stderr);
  assertLocated(r.stderr, 'compose.yaml', /alias expansions make more than \d+ values/);
  assert.ok(r.ms < 10_000, `took ${r.ms} ms`);
});

test('a spec alias bomb is refused: exit 2, located', () => {
  const r = cli(['validate'], 'bomb.container.yaml', SPEC_BOMB);
  assert.equal(r.status, 2, r.stderr);
  assertLocated(r.stderr, 'bomb.container.yaml', /alias expansions make more than \d+ values/);
});

test('an unresolved alias is a located user error (spec and compose)', async () => {
  const r = cli(['validate'], 'unres.container.yaml', 'name: x\nprocess:\n  args: *nope\n');
  assert.equal(r.status, 2, r.stderr);
  assertLocated(r.stderr, 'unres.container.yaml', /unresolved alias \*nope/);
  assert.match(r.stderr, /unres\.container\.yaml:3:9:/);
  const c = readComposeText('services:\n  web:\n    image: *nope\n', 'c.yaml');
  assert.deepEqual(c.errors.map((e) => [e.line, e.message]), [[3, 'YAML: unresolved alias *nope']]);
});

test('an alias inside the node it names (a cycle) is refused, not a stack overflow', async () => {
  const r = cli(['validate'], 'cyc.container.yaml', 'name: x\nprocess: &a\n  args: [/bin/true]\n  env: *a\n');
  assert.equal(r.status, 2, r.stderr);
  assertLocated(r.stderr, 'cyc.container.yaml', /refers to a node that contains it/);
  const c = readComposeText('services: &s\n  web:\n    image: busybox\n    x-loop: *s\n', 'c.yaml');
  assert.match(c.errors[0]?.message ?? '', /a cycle/);
});

test('a 15 KB spec nested 3,000 levels deep: exit 2 with a located message, no V8 abort', () => {
  assert.ok(DEEP_SPEC.length > 14_000 && DEEP_SPEC.length < 16_000);
  const r = cli(['validate'], 'deep.container.yaml', DEEP_SPEC);
  assert.equal(r.status, 2, r.stderr);
  assertLocated(r.stderr, 'deep.container.yaml', /nested more than 64 levels deep/);
  // block style and JSON, deep but below the parser's own limit, are refused by the depth check
  for (const [name, text] of [
    ['block.container.yaml', 'name: deep\nx:\n' + Array.from({ length: 100 }, (_, i) => '  '.repeat(i + 1) + 'a:\n').join('') + '  '.repeat(101) + 'b: 1\n'],
    ['deep.container.json', '{"name":"deep","mounts":' + '['.repeat(7000) + ']'.repeat(7000) + '}'],
  ] as const) {
    const b = cli(['validate'], name, text);
    assert.equal(b.status, 2, b.stderr);
    assertLocated(b.stderr, name, /nested more than 64 levels deep/);
  }
});

test('in-process: a deep compose file and ordinary anchors', async () => {
  const deep = readComposeText(`services:\n  web:\n    image: busybox\n    x-a: ${'['.repeat(5000)}${']'.repeat(5000)}\n`, 'c.yaml');
  assert.equal(deep.errors.length, 1);
  assert.match(deep.errors[0].message, /nested more than 64/);
  // a key that is a collection (yaml would stringify it, with a Node warning)
  const key = readComposeText('services:\n  [a, b]: {image: busybox}\n', 'c.yaml');
  assert.match(key.errors[0]?.message ?? '', /a mapping key must be a plain value/);
  assert.equal(key.errors[0]?.line, 2);
  // anchors as people use them still work
  const ok = readComposeText('x-env: &env {A: "1"}\nservices:\n  a: {image: busybox, environment: *env}\n  b: {image: busybox, environment: *env}\n', 'c.yaml');
  assert.deepEqual(ok.errors, []);
  const path = join(dir, 'anchors.container.yaml');
  writeFileSync(path, 'name: anchors\nx-args: &args [/bin/sh, -c, "true"]\nprocess:\n  args: *args\n');
  const v = await validateSpec(path, {});
  if (!v.ok) assert.doesNotMatch(v.error.message + JSON.stringify(v.details), /alias|YAML/);
});
