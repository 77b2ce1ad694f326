// Canonicalise namespaces and id maps (load/namespaces.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadObj, loadYaml, minimal, problems } from './spec-helpers.js';

test('omitted namespaces get the default set', async () => {
  const s = await loadObj(minimal);
  assert.deepEqual(Object.keys(s.namespaces), ['mount', 'uts', 'ipc', 'pid', 'net']);
  assert.ok(Object.values(s.namespaces).every((n) => n?.mode === 'new'));
});

test('a list and a map give the same canonical form, in kernel order', async () => {
  const a = await loadObj({ ...minimal, namespaces: ['net', 'mount', 'user'] });
  const b = await loadObj({ ...minimal, namespaces: { mount: {}, net: true, user: {}, pid: false, ipc: null } });
  assert.deepEqual(a.namespaces, b.namespaces);
  assert.deepEqual(Object.keys(a.namespaces), ['user', 'mount', 'net']);
});

test('join by path, join a container, time offsets', async () => {
  const s = await loadObj({
    ...minimal,
    namespaces: { mount: {}, net: { path: '/proc/self/ns/net' }, ipc: { container: 'db' }, time: { offsets: { boottime: 5 } } },
  });
  assert.deepEqual(s.namespaces.net, { mode: 'join', path: '/proc/self/ns/net' });
  assert.deepEqual(s.namespaces.ipc, { mode: 'container', container: 'db' });
  assert.deepEqual(s.namespaces.time, { mode: 'new', offsets: { monotonic: 0, boottime: 5 } });
});

test('a new user namespace without maps maps root to the invoking user, size 1', async () => {
  const s = await loadObj({ ...minimal, namespaces: ['user', 'mount'] }, { hostUid: 1234, hostGid: 99 });
  assert.deepEqual(s.uidMap, [{ container_id: 0, host_id: 1234, size: 1 }]);
  assert.deepEqual(s.gidMap, [{ container_id: 0, host_id: 99, size: 1 }]);
  const noUser = await loadObj(minimal);
  assert.deepEqual(noUser.uidMap, []);
});

test('given maps are kept; overlapping ranges are rejected', async () => {
  const s = await loadObj({ ...minimal, namespaces: ['user', 'mount'], uid_map: [{ container_id: 0, host_id: 100000, size: 65536 }] });
  assert.deepEqual(s.uidMap, [{ container_id: 0, host_id: 100000, size: 65536 }]);
  const d = await problems(loadYaml(`name: x
namespaces: [user, mount]
uid_map:
  - {container_id: 0, host_id: 100000, size: 100}
  - {container_id: 50, host_id: 200000, size: 10}
process: {args: [/bin/true]}
`));
  assert.equal(d.length, 1);
  assert.equal(d[0].field, 'uid_map.1');
  assert.equal(d[0].line, 5);
});

test('path and container together, or offsets elsewhere, are errors', async () => {
  const d = await problems(loadObj({ ...minimal, namespaces: { mount: {}, net: { path: '/proc/self/ns/net', container: 'db' } } }));
  assert.deepEqual(d.map((x) => x.field), ['namespaces.net']);
});
