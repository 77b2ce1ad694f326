// Canonicalise rootfs, mounts, masked/readonly paths (load/rootfs.ts, mounts.ts) and cgroup limits (cgroup.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { loadObj, loadYaml, minimal, tempTree } from './spec-helpers.js';
import { DEFAULT_MASKED_PATHS, DEFAULT_READONLY_PATHS } from '../../../src/spec/defaults.js';
import { loadSpec } from '../../../src/spec/load/index.js';

test('relative bind sources and rootfs dirs resolve against the spec file\'s directory', async () => {
  const d = tempTree({ 'rootfs/.keep': '', 'data/f': 'x', 'spec.container.yaml': `name: x
rootfs: {path: ./rootfs, readonly: true}
process: {args: [/bin/true]}
mounts:
  - {type: bind, source: ./data, target: /data/, readonly: true}
  - {type: bind, source: ./data/f, target: /etc/f}
  - {type: tmpfs, target: /tmp, size: 8M, mode: "1777", options: [nosuid]}
  - {type: proc, target: /proc}
` });
  const s = await loadSpec(join(d, 'spec.container.yaml'));
  assert.deepEqual(s.rootfs, { kind: 'dir', path: join(d, 'rootfs') });
  assert.equal(s.readonlyRoot, true);
  assert.deepEqual(s.mounts[0], { type: 'bind', source: join(d, 'data'), target: '/data', readonly: true, recursive: true, options: [], field: 'mounts.0', sourceKind: 'dir' });
  assert.deepEqual(s.mounts[1], { type: 'bind', source: join(d, 'data', 'f'), target: '/etc/f', readonly: false, recursive: true, options: [], field: 'mounts.1', sourceKind: 'file' });
  assert.deepEqual(s.mounts[2], { type: 'tmpfs', source: 'tmpfs', target: '/tmp', readonly: false, recursive: false, size: 8 * 1024 * 1024, mode: 0o1777, options: ['nosuid'], field: 'mounts.2' });
  assert.deepEqual(s.mounts[3], { type: 'proc', source: 'proc', target: '/proc', readonly: false, recursive: false, options: [], field: 'mounts.3' });
});

test('rootfs: omitted = default, image = image ref', async () => {
  assert.deepEqual((await loadObj(minimal)).rootfs, { kind: 'default' });
  assert.deepEqual((await loadObj({ ...minimal, rootfs: { image: 'alpine:3.20' } })).rootfs, { kind: 'image', ref: 'alpine:3.20', pull: 'missing' });
});

test('masked and read-only paths default to the secure lists, or are replaced', async () => {
  const s = await loadObj(minimal);
  assert.deepEqual(s.maskedPaths, [...DEFAULT_MASKED_PATHS]);
  assert.deepEqual(s.readonlyPaths, [...DEFAULT_READONLY_PATHS]);
  const t = await loadObj({ ...minimal, masked_paths: ['/proc/kcore'], readonly_paths: [] });
  assert.deepEqual([t.maskedPaths, t.readonlyPaths], [['/proc/kcore'], []]);
});

test('cgroup keys: sizes to bytes, cpus to a number, raw to strings', async () => {
  const s = await loadYaml(`name: x
process: {args: [/bin/true]}
cgroup:
  memory: 64M
  memory_reservation: 32M
  memory_swap: -1
  cpus: "1.5"
  cpu_weight: 200
  pids: 10
  io_max: {"8:0": {read_bps: 10M, write_iops: 100}}
  hugetlb: {2MB: 64M}
  raw: {memory.high: 30M, pids.max: 5}
`);
  assert.deepEqual(s.cgroup, {
    memory: 64 * 2 ** 20, memoryReservation: 32 * 2 ** 20, memorySwap: -1, cpus: 1.5, cpuWeight: 200, pids: 10,
    ioMax: { '8:0': { readBps: 10 * 2 ** 20, writeIops: 100 } }, hugetlb: { '2MB': 64 * 2 ** 20 }, raw: { 'memory.high': '30M', 'pids.max': '5' },
  });
});
