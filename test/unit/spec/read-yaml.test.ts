// Phase 1 (read-yaml.ts): YAML → data plus a dotted-path position map; YAML errors with positions.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readYaml } from '../../../src/spec/load/read-yaml.js';

const text = `name: web
process:
  args: [/bin/sh, -c, 'echo hi']
mounts:
  - type: tmpfs
    target: /tmp
    mode: 1777
  - {type: tmpfs, target: /run, mode: 0o700}
sysctls:
  net.ipv4.ip_forward: 1
`;

test('every key and item gets its line and column', () => {
  const r = readYaml(text, 'f.yaml');
  assert.deepEqual(r.errors, []);
  assert.deepEqual(r.positions['name'], { line: 1, col: 1 });
  assert.deepEqual(r.positions['process.args'], { line: 3, col: 3 });
  assert.deepEqual(r.positions['process.args.2'], { line: 3, col: 23 });
  assert.deepEqual(r.positions['mounts.0'], { line: 5, col: 5 });
  assert.deepEqual(r.positions['mounts.0.target'], { line: 6, col: 5 });
  assert.deepEqual(r.positions['mounts.1.target'], { line: 8, col: 19 });
  assert.deepEqual(r.positions['sysctls.net.ipv4.ip_forward'], { line: 10, col: 3 });
});

test('an unquoted mode keeps its digits so it is read as octal later', () => {
  const r = readYaml(text, 'f.yaml');
  const mounts = (r.data as { mounts: { mode: unknown }[] }).mounts;
  assert.equal(mounts[0].mode, '1777');
  assert.equal(mounts[1].mode, 0o700);
});

test('YAML errors carry file, line and column and a hint where one helps', () => {
  const r = readYaml('name: a\nname: b\n', 'f.yaml');
  assert.equal(r.errors.length, 1);
  assert.equal(r.errors[0].line, 2);
  assert.equal(r.errors[0].col, 1);
  assert.equal(r.errors[0].file, 'f.yaml');
  assert.match(r.errors[0].message, /unique/);
  assert.ok(r.errors[0].hint);
});

test('aliases and merge keys resolve', () => {
  const r = readYaml('base: &b {args: [/bin/true]}\nname: x\nprocess:\n  <<: *b\n  cwd: /tmp\n', 'f.yaml');
  assert.deepEqual((r.data as { process: unknown }).process, { args: ['/bin/true'], cwd: '/tmp' });
});
