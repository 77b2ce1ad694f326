// Cross-field rules (validate/consistency.ts), each checked on canonical specs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkConsistency } from '../../../src/validate/consistency.js';
import { loadObj, minimal } from './spec-helpers.js';
import type { ContainerSpec } from '../../../src/spec/types.js';

/** Fields of the consistency problems of a spec (canonicalised without the rules, then checked). */
async function fields(spec: Partial<ContainerSpec>, opts: Parameters<typeof checkConsistency>[1] = {}): Promise<string[]> {
  const s = await loadObj({ ...minimal, ...spec }, { skipConsistency: true });
  return checkConsistency(s, { exists: () => true, ...opts }).map((d) => d.field ?? '');
}

test('the minimal spec and the defaults are consistent', async () => {
  assert.deepEqual(await fields({}), []);
});

test('namespace requirements', async () => {
  assert.deepEqual(await fields({ rootfs: '/r', namespaces: ['pid'] }), ['root']);
  assert.deepEqual(await fields({ rootfs: '/r', root: 'chroot', namespaces: ['pid'], mounts: [{ type: 'tmpfs', target: '/t' }] }), ['mounts']);
  assert.deepEqual(await fields({ root: 'chroot', namespaces: ['pid'] }), ['rootfs']);
  assert.deepEqual(await fields({ namespaces: ['mount'], hostname: 'h', domainname: 'd' }), ['hostname', 'domainname']);
  assert.deepEqual(await fields({ uid_map: [{ container_id: 0, host_id: 1, size: 1 }], gid_map: [{ container_id: 0, host_id: 1, size: 1 }] }), ['uid_map', 'gid_map']);
  assert.deepEqual(await fields({ namespaces: ['mount', 'uts'], process: { args: ['/x'], init: true } }), ['process.init']);
  assert.deepEqual(await fields({ namespaces: ['mount', 'uts'], mounts: [{ type: 'proc', target: '/proc' }] }), ['mounts.0']);
});

test('sysctls need their namespace and must be namespaced', async () => {
  const f = await fields({ namespaces: ['mount', 'uts'], sysctls: { 'net.ipv4.ip_forward': 1, 'kernel.shmmax': 1, 'fs.mqueue.msg_max': 1, 'vm.swappiness': 1, 'kernel.hostname': 'h' } });
  assert.deepEqual(f, ['sysctls.net.ipv4.ip_forward', 'sysctls.kernel.shmmax', 'sysctls.fs.mqueue.msg_max', 'sysctls.vm.swappiness']);
  assert.deepEqual(await fields({ sysctls: { 'net.ipv4.ip_forward': 1, 'kernel.sem': '1 2 3 4' } }), []);
});

test('host paths must exist: bind sources, joined namespaces, rootfs dirs', async () => {
  const missing = { exists: (p: string) => !p.includes('missing') };
  assert.deepEqual(await fields({ rootfs: '/missing-root', mounts: [{ type: 'bind', source: '/missing-src', target: '/d' }], namespaces: { mount: {}, net: { path: '/proc/missing/ns/net' } } }, missing),
    ['rootfs', 'mounts.0.source', 'namespaces.net.path']);
});

test('mount targets: duplicates, the root, ..', async () => {
  assert.deepEqual(await fields({ mounts: [{ type: 'tmpfs', target: '/a' }, { type: 'tmpfs', target: '/a/' }, { type: 'tmpfs', target: '/' }] }), ['mounts.1.target', 'mounts.2.target']);
});

test('init with tty', async () => {
  assert.deepEqual(await fields({ process: { args: ['/x'], init: true, tty: true } }), ['process.init']);
});

test('cgroup: memory_swap vs memory, reservation, controllers the host lacks', async () => {
  assert.deepEqual(await fields({ cgroup: { memory_swap: '1G' } }), ['cgroup.memory_swap']);
  assert.deepEqual(await fields({ cgroup: { memory: '1G', memory_swap: '512M', memory_reservation: '2G' } }), ['cgroup.memory_swap', 'cgroup.memory_reservation']);
  assert.deepEqual(await fields({ cgroup: { memory: '1G', memory_swap: -1 } }), []);
  const host = { hostCgroupControllers: ['cpu', 'pids', 'blkio'] };
  assert.deepEqual(await fields({ cgroup: { memory: '1G', cpus: 1, io_weight: 100, hugetlb: { '2MB': '4M' }, raw: { 'memory.high': '1M', 'pids.max': 3 } } }, host),
    ['cgroup.memory', 'cgroup.hugetlb', 'cgroup.raw.memory.high']);
  assert.deepEqual(await fields({ cgroup: { memory: '1G' } }), [], 'not checked without a host controller list');
});

test('problems carry the YAML position of their field', async () => {
  const s = await loadObj({ ...minimal, namespaces: ['mount'], hostname: 'h' }, { skipConsistency: true });
  s.positions = { hostname: { line: 7, col: 1 } };
  const [d] = checkConsistency(s, { exists: () => true });
  assert.deepEqual([d.line, d.col, d.field], [7, 1, 'hostname']);
  assert.ok(d.hint);
});
