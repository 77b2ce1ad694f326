// The examples load: probe (YAML), hello (TS, via `import ... from 'niwa'`), and the haconiwa pair,
// whose TS builder and YAML forms must canonicalise to the same spec.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { example, repoRoot } from '../../helpers.js';
import { loadSpec } from '../../../src/spec/load/index.js';
import type { CanonicalSpec } from '../../../src/spec/types.js';

const strip = ({ file: _f, positions: _p, ...rest }: CanonicalSpec) => rest;

test('examples/probe.container.yaml loads to the expected canonical spec', async () => {
  const s = await loadSpec(example('probe.container.yaml'));
  assert.equal(s.name, 'probe');
  assert.equal(s.root, 'pivot_root');
  assert.deepEqual(Object.keys(s.namespaces), ['mount', 'uts', 'ipc', 'pid', 'net']);
  assert.equal(s.hostname, 'probe-box');
  assert.deepEqual(s.process.args, ['/bin/sh', '-c', 'hostname']);
  assert.equal(s.process.env.GREETING, 'hello');
  assert.deepEqual([s.cgroup.memory, s.cgroup.pids, s.cgroup.cpus], [32 * 2 ** 20, 64, 0.5]);
  assert.ok(!s.capabilities.bounding.includes('CAP_NET_RAW'));
  assert.deepEqual(s.mounts.map((m) => [m.type, m.source, m.target, m.readonly, m.size]), [
    ['tmpfs', 'tmpfs', '/scratch', false, 8 * 2 ** 20],
    ['bind', example('data'), '/data', true, undefined],
  ]);
  assert.deepEqual(s.positions?.hostname, { line: 4, col: 1 });
});

test('examples/hello.container.ts loads through tsx and the package self-import', async () => {
  const s = await loadSpec(example('hello.container.ts'));
  assert.equal(s.name, 'hello');
  assert.equal(s.hostname, 'hello');
  assert.deepEqual(s.rootfs, { kind: 'default' });
  assert.deepEqual(s.process.args, ['/bin/sh', '-c', 'echo hello from $(hostname); id; echo pid $$']);
});

test('haconiwa.example.ts (builder) and examples/haconiwa.container.yaml canonicalise identically', async () => {
  const ts = await loadSpec(join(repoRoot, 'haconiwa.example.ts'));
  const yaml = await loadSpec(example('haconiwa.container.yaml'));
  assert.deepEqual(strip(ts), strip(yaml));
  // and they really exercise the primitives
  assert.equal(Object.keys(ts.namespaces).length, 8);
  assert.ok(ts.hooks.length >= 2 && ts.rlimits.length >= 3 && ts.mounts.length >= 3);
  assert.equal(ts.process.env.APP_MODE, 'demo');
  assert.equal(ts.process.env.GREETING, 'hello');
});
