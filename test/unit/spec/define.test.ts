// The TS DSL (src/spec/define.ts): defineContainer is the identity; the builder yields the same plain spec.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { container, defineContainer } from '../../../src/spec/define.js';
import { loadSpecObject } from '../../../src/spec/load/index.js';
import type { UserError } from '../../../src/errors.js';

test('defineContainer returns its argument', () => {
  const s = { name: 'a', process: { args: ['/bin/true'] } };
  assert.equal(defineContainer(s), s);
});

test('the builder produces the plain object a user would write', () => {
  const fn = () => {};
  const b = container('web')
    .unshare('mount', 'pid', 'uts')
    .pivotRoot('./rootfs')
    .hostname('web')
    .command('/bin/sh', '-c', 'echo hi')
    .env({ A: '1' }).env('B', '2')
    .memory('64M').pids(10)
    .tmpfs('/tmp', { size: '8M' })
    .capDrop('NET_RAW').capDrop('MKNOD')
    .rlimit('nofile', 1024)
    .hook('before_start', 'echo a').hook('before_start', fn);
  assert.deepEqual(b.toSpec(), {
    name: 'web', root: 'pivot_root', rootfs: './rootfs', namespaces: ['mount', 'pid', 'uts'], hostname: 'web',
    process: { args: ['/bin/sh', '-c', 'echo hi'], env: { A: '1', B: '2' } },
    cgroup: { memory: '64M', pids: 10 }, mounts: [{ type: 'tmpfs', target: '/tmp', size: '8M' }],
    capabilities: { drop: ['NET_RAW', 'MKNOD'] }, rlimits: { nofile: 1024 }, hooks: { before_start: ['echo a', fn] },
  });
});

test('joins switch namespaces to the map form; toSpec returns a fresh copy', () => {
  const b = container('x').command(['/bin/true']).unshare('mount').join('net', { path: '/proc/1/ns/net' });
  const s = b.toSpec();
  assert.deepEqual(s.namespaces, { mount: {}, net: { path: '/proc/1/ns/net' } });
  s.process!.args!.push('mutated');
  assert.deepEqual(b.toSpec().process!.args!, ['/bin/true']);
});

test('loadSpecObject accepts a builder directly', async () => {
  const s = await loadSpecObject(container('b').command('/bin/true').hostname('b'));
  assert.equal(s.name, 'b');
  assert.equal(s.hostname, 'b');
});

test('device() adds a host device node; the loader reads its type and numbers', async () => {
  const b = container('d').command('/bin/true').device('/dev/null', { container_path: '/dev/mynull', permissions: 'rw' }).device('/dev/zero');
  assert.deepEqual(b.toSpec().devices, [{ path: '/dev/null', container_path: '/dev/mynull', permissions: 'rw' }, { path: '/dev/zero' }]);
  const s = await loadSpecObject(b);
  assert.deepEqual(s.devices?.map((d) => `${d.target} ${d.type} ${d.major}:${d.minor} ${d.access} ${d.field}`), ['/dev/mynull c 1:3 rw devices.0', '/dev/zero c 1:5 rwm devices.1']);
  const problem = (e: unknown) => (e as UserError).details.map((d) => `${d.field}: ${d.message}`).join('\n');
  await assert.rejects(loadSpecObject(container('e').command('/bin/true').device('/dev/shm')), (e) => /^devices\.0\.path: \/dev\/shm is not a device node$/.test(problem(e)));
  await assert.rejects(loadSpecObject(container('f').command('/bin/true').device('/dev/null', { container_path: '/etc/x' })), (e) => /^devices\.0\.container_path: .*under \/dev\//.test(problem(e)));
  await assert.rejects(loadSpecObject(container('g').command('/bin/true').device('/dev/null', { permissions: 'rwx' })), (e) => /devices\.0\.permissions/.test(problem(e)));
});

test('publish() and network(): the spec `network` field, loaded as a bridge network', async () => {
  const b = container('w').command('/bin/true').network('demo_default').publish('8080:80', 53);
  assert.deepEqual(b.toSpec().network, { mode: 'bridge', name: 'demo_default', ports: ['8080:80', 53] });
  const s = await loadSpecObject(b, '<inline>', { skipConsistency: true });
  assert.deepEqual(s.network, { name: 'demo_default', ports: [
    { hostIp: '0.0.0.0', hostPort: 8080, containerPort: 80, protocol: 'tcp' },
    { hostIp: '0.0.0.0', hostPort: 0, containerPort: 53, protocol: 'tcp' },
  ] });
  assert.deepEqual(container('n').command('/bin/true').publish('80').network('none').toSpec().network, { mode: 'none' });
  assert.equal((await loadSpecObject(container('h').command('/bin/true').network('host'), '<inline>', { skipConsistency: true })).namespaces.net, undefined);
});
