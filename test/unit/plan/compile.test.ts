// The compiler: snapshot of every example's plan on a fixed host, and the ordering rules
// that make the plan correct (checked as properties, so a reordering bug fails loudly).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../../helpers.js';
import { loadSpec, loadSpecObject } from '../../../src/spec/load/index.js';
import { compile } from '../../../src/plan/compile.js';
import { formatPlan } from '../../../src/plan/format.js';
import { genericHost } from '../../../src/validate/host.js';
import type { LaunchPlan, Step } from '../../../src/plan/types.js';

const snapDir = join(repoRoot, 'test', 'snapshots');
const update = process.env.UPDATE_SNAPSHOTS === '1';
const host = genericHost();
/** Every container spec under examples/ (the course included), as paths relative to it. */
/** (A spec on an image compiles only once the image is in a store: the course test runs that lesson.) */
const examples = ['', 'course'].flatMap((d) => readdirSync(join(repoRoot, 'examples', d)).filter((f) => /\.container\.(ya?ml|ts)$/.test(f)).map((f) => (d ? `${d}/${f}` : f)))
  .filter((f) => !/^rootfs: \{image:/m.test(readFileSync(join(repoRoot, 'examples', f), 'utf8'))).sort();

/** Paths in plans are absolute; make them independent of where the checkout lives. */
const portable = (s: string) => s.split(repoRoot).join('<repo>');

for (const f of examples) {
  test(`plan snapshot: examples/${f}`, async () => {
    const spec = await loadSpec(join(repoRoot, 'examples', f), { hostCgroupControllers: host.cgroup.v2Controllers });
    const plan = compile(spec, host, { id: spec.name, project: 'default' });
    const text = portable(formatPlan(plan));
    const json = JSON.parse(JSON.stringify(plan)) as LaunchPlan; // must survive JSON
    assert.deepEqual(json, JSON.parse(JSON.stringify(plan)));
    const snap = join(snapDir, f.replace(/\//g, '__').replace(/\.container\.(ya?ml|ts)$/, '') + `.${f.split('.').pop()}.plan.txt`);
    if (update || !existsSync(snap)) {
      mkdirSync(snapDir, { recursive: true });
      writeFileSync(snap, text);
      if (!update) assert.fail(`snapshot ${snap} was missing and has been written; re-run`);
    } else {
      assert.equal(text, readFileSync(snap, 'utf8'), `plan of examples/${f} changed; if intended, run UPDATE_SNAPSHOTS=1 npm test`);
    }
  });
}

const idx = (p: LaunchPlan, pred: (s: Step) => boolean) => p.steps.findIndex(pred);
async function planOf(spec: object): Promise<LaunchPlan> {
  const c = await loadSpecObject(spec, join(repoRoot, 'examples', 'inline.container.yaml'), { hostCgroupControllers: host.cgroup.v2Controllers, exists: () => true });
  return compile(c, host, { id: 'x', project: 'default' });
}

test('order: phases run prepare → stage → clone → parent → child → cleanup, indexes are positions', async () => {
  const p = await planOf({ name: 'o', process: { args: ['/bin/true'] }, namespaces: ['user', 'mount', 'pid', 'uts', 'time'], cgroup: { pids: 10 } });
  const order = ['prepare', 'stage', 'clone', 'parent', 'child', 'cleanup'];
  let last = 0;
  p.steps.forEach((s, i) => {
    assert.equal(s.index, i);
    const o = order.indexOf(s.phase);
    assert.ok(o >= last, `step ${i} (${s.phase}) after ${order[last]}`);
    last = o;
    assert.ok(s.why.length > 10, `step ${i} has a reason`);
  });
});

test('order: uid/gid maps and cgroup placement precede release; the child waits first', async () => {
  const p = await planOf({ name: 'o', process: { args: ['/bin/true'] }, namespaces: ['user', 'mount', 'pid'], uid_map: [{ container_id: 0, host_id: 100000, size: 65536 }], gid_map: [{ container_id: 0, host_id: 100000, size: 65536 }], cgroup: { pids: 10 } });
  const release = idx(p, (s) => s.op === 'release_child');
  const uid = idx(p, (s) => s.op === 'write' && s.path === '/proc/{pid}/uid_map');
  const procs = idx(p, (s) => s.op === 'write' && s.path.endsWith('/cgroup.procs'));
  assert.ok(uid >= 0 && uid < release && procs >= 0 && procs < release);
  const child = p.steps.filter((s) => s.phase === 'child');
  assert.equal(child[0].op, 'wait_parent');
  assert.equal(child.at(-1)!.op, 'execve');
  const w = p.steps[uid] as Extract<Step, { op: 'write' }>;
  assert.equal(w.data, '0 100000 65536\n');
});

test('order: private propagation before any other mount; pivot_root after all mounts; caps dropped after mounts', async () => {
  const p = await planOf({ name: 'o', process: { args: ['/bin/true'] }, mounts: [{ type: 'tmpfs', target: '/scratch' }] });
  const firstMount = idx(p, (s) => s.op === 'mount');
  const m = p.steps[firstMount] as Extract<Step, { op: 'mount' }>;
  assert.deepEqual([m.target, m.flags], ['/', ['MS_REC', 'MS_PRIVATE']]);
  const pivot = idx(p, (s) => s.op === 'pivot_root');
  const lastInRootMount = p.steps.map((s, i) => (s.op === 'mount' && s.inRoot ? i : -1)).reduce((a, b) => Math.max(a, b));
  assert.ok(lastInRootMount < pivot);
  const umount = p.steps[pivot + 1];
  assert.equal(umount.op, 'umount2');
  assert.ok(idx(p, (s) => s.op === 'capbset_drop') > pivot);
  assert.ok(idx(p, (s) => s.op === 'setresuid') < idx(p, (s) => s.op === 'capset'));
  assert.ok(idx(p, (s) => s.op === 'no_new_privs') < idx(p, (s) => s.op === 'seccomp'));
  assert.equal(idx(p, (s) => s.op === 'seccomp'), p.steps.findIndex((s) => s.op === 'execve') - 1);
});

test('chroot spec switches root with chroot and keeps the old root (no umount2)', async () => {
  const p = await planOf({ name: 'o', root: 'chroot', process: { args: ['/bin/true'] } });
  assert.ok(idx(p, (s) => s.op === 'chroot') > 0);
  assert.equal(idx(p, (s) => s.op === 'pivot_root'), -1);
  assert.equal(idx(p, (s) => s.op === 'umount2'), -1);
});

test('no_new_privs off puts seccomp before the capability drop', async () => {
  const p = await planOf({ name: 'o', process: { args: ['/bin/true'] }, no_new_privs: false });
  assert.equal(idx(p, (s) => s.op === 'no_new_privs'), -1);
  assert.ok(idx(p, (s) => s.op === 'seccomp') < idx(p, (s) => s.op === 'capbset_drop'));
});

test('time namespace is unshared in the stage with offsets written before clone', async () => {
  const p = await planOf({ name: 'o', process: { args: ['/bin/true'] }, namespaces: { mount: {}, pid: {}, time: { offsets: { monotonic: 86400 } } } });
  const u = idx(p, (s) => s.op === 'unshare');
  const w = p.steps[u + 1] as Extract<Step, { op: 'write' }>;
  assert.equal(p.steps[u].phase, 'stage');
  assert.equal(w.path, '/proc/self/timens_offsets');
  assert.match(w.data, /^monotonic 86400 0\n/);
  const clone = p.steps.find((s) => s.op === 'clone') as Extract<Step, { op: 'clone' }>;
  assert.ok(!clone.flags.includes('CLONE_NEWTIME'));
});

test('joined namespaces: user joined first, mount last', async () => {
  const p = await planOf({ name: 'o', root: 'chroot', process: { args: ['/bin/true'] }, rootfs: '/', namespaces: { net: { path: '/proc/1/ns/net' }, mount: { path: '/proc/1/ns/mnt' }, user: { path: '/proc/1/ns/user' } } });
  const joins = p.steps.filter((s) => s.op === 'setns').map((s) => (s as Extract<Step, { op: 'setns' }>).ns);
  assert.deepEqual(joins, ['user', 'net', 'mount']);
});
