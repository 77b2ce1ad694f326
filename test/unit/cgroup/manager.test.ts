// Tests the CgroupManager, stats and removeCgroup against fake cgroupfs trees (temp dirs) for v2, v1 and hybrid,
// executing the plan's own cgroup steps on them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { CanonicalSpec } from '../../../src/spec/types.js';
import type { StepDraft } from '../../../src/plan/types.js';
import { cgroupSteps } from '../../../src/plan/steps/cgroup.js';
import { createFakeCgroupTree, type FakeCgroupTree } from '../../../src/runtime/cgroup/fake.js';
import { createCgroupManager } from '../../../src/runtime/cgroup/manager.js';
import { readCgroupStats, oomKilled } from '../../../src/runtime/cgroup/stats.js';
import { removeCgroup } from '../../../src/runtime/cgroup/remove.js';

const spec = (cgroup: Partial<CanonicalSpec['cgroup']>): CanonicalSpec =>
  ({ name: 'web', file: '/p/web.yaml', cgroup: { raw: {}, ...cgroup } }) as unknown as CanonicalSpec;
const REL = 'niwa/default/web';

/** Run prepare steps the way the runtime does: mkdir and write through the (fake) cgroup fs. */
function runPrepare(t: FakeCgroupTree, steps: StepDraft[]) {
  for (const s of steps) {
    if (s.op === 'mkdir') t.fs.mkdirp(s.path);
    else if (s.op === 'write') t.fs.write(s.path, s.data);
    else assert.fail(`unexpected op ${s.op}`);
  }
}
const read = (t: FakeCgroupTree, p: string) => t.fs.read(p)?.trim();

test('v2: plan steps apply on a v2 tree; place, stats, oom, freeze, kill, remove with parents', async (t) => {
  const tree = createFakeCgroupTree('v2');
  t.after(() => tree.cleanup());
  assert.equal(tree.layout.kind, 'v2');
  const plan = cgroupSteps(spec({ memory: 64 << 20, cpus: 0.25, pids: 16, hugetlb: { '2MB': 2 << 20 } }), tree.layout, REL);
  runPrepare(tree, plan.prepare);
  const leaf = join(tree.root, REL);
  assert.deepEqual(plan.cgroups, [leaf]);
  assert.equal(read(tree, join(leaf, 'memory.max')), String(64 << 20));
  assert.equal(read(tree, join(leaf, 'cpu.max')), '25000 100000');
  assert.equal(read(tree, join(tree.root, 'niwa/default/cgroup.subtree_control')), 'memory pids cpu hugetlb');

  const m = createCgroupManager(tree.layout, plan.cgroups, { fs: tree.fs, relPath: REL, signal: tree.signal });
  m.place(4242);
  assert.deepEqual(m.pids(), [4242]);

  tree.set(join(leaf, 'memory.current'), '1000\n');
  tree.set(join(leaf, 'memory.peak'), '5000\n');
  tree.set(join(leaf, 'cpu.stat'), 'usage_usec 1500\nuser_usec 1000\nsystem_usec 500\nnr_throttled 7\n');
  tree.set(join(leaf, 'pids.current'), '3\n');
  const s = m.stats();
  assert.deepEqual(s, { memory: { current: 1000, peak: 5000, limit: 64 << 20 }, cpu: { usageNs: 1_500_000, nrThrottled: 7 }, pids: { current: 3, limit: 16 }, oomKills: 0 });
  assert.equal(m.oomKilled(), false);
  tree.set(join(leaf, 'memory.events'), 'low 0\nhigh 0\nmax 9\noom 2\noom_kill 1\n');
  assert.equal(m.oomKilled(), true);
  assert.equal(m.events().oomKill, 1);

  await m.freeze();
  assert.equal(m.events().frozen, true);
  await m.thaw();
  assert.equal(m.events().frozen, false);

  await m.kill();
  assert.deepEqual(tree.killed, [4242]);
  assert.deepEqual(m.pids(), []);
  await m.remove();
  assert.equal(tree.fs.exists(leaf), false);
  assert.equal(tree.fs.exists(join(tree.root, 'niwa')), false, 'empty niwa parents are pruned');
});

test('remove() keeps a parent a sibling container still uses, and kills leftovers first', async (t) => {
  const tree = createFakeCgroupTree('v2');
  t.after(() => tree.cleanup());
  const a = cgroupSteps(spec({}), tree.layout, 'niwa/p/a');
  const b = cgroupSteps(spec({}), tree.layout, 'niwa/p/b');
  runPrepare(tree, [...a.prepare, ...b.prepare]);
  const ma = createCgroupManager(tree.layout, a.cgroups, { fs: tree.fs, relPath: 'niwa/p/a', signal: tree.signal });
  ma.place(11);
  await ma.remove();
  assert.deepEqual(tree.killed, [11]);
  assert.equal(tree.fs.exists(join(tree.root, 'niwa/p/a')), false);
  assert.equal(tree.fs.exists(join(tree.root, 'niwa/p/b')), true);
});

test('v1: limits in the right hierarchies, kill via freezer, stats from v1 files', async (t) => {
  const tree = createFakeCgroupTree('v1');
  t.after(() => tree.cleanup());
  assert.equal(tree.layout.kind, 'v1');
  assert.deepEqual(tree.layout.v1CpusetRoot, { cpus: '0-1', mems: '0' });
  const plan = cgroupSteps(spec({ memory: 1 << 20, memorySwap: 2 << 20, cpus: 0.5, pids: 8, cpusetCpus: '1' }), tree.layout, REL);
  runPrepare(tree, plan.prepare);
  const dir = (c: string) => join(tree.root, c, REL);
  assert.equal(read(tree, join(dir('memory'), 'memory.limit_in_bytes')), String(1 << 20));
  assert.equal(read(tree, join(dir('memory'), 'memory.memsw.limit_in_bytes')), String(2 << 20));
  assert.equal(read(tree, join(dir('cpu,cpuacct'), 'cpu.cfs_quota_us')), '50000');
  assert.equal(read(tree, join(dir('cpuset'), 'cpuset.mems')), '0');
  assert.equal(read(tree, join(tree.root, 'cpuset/niwa/cpuset.cpus')), '0-1');
  assert.equal(read(tree, join(dir('cpuset'), 'cpuset.cpus')), '1');

  const m = createCgroupManager(tree.layout, plan.cgroups, { fs: tree.fs, relPath: REL, signal: tree.signal });
  m.place(77);
  for (const c of plan.cgroups) assert.equal(read(tree, join(c, 'cgroup.procs')), '77');
  tree.set(join(dir('memory'), 'memory.usage_in_bytes'), '4096');
  tree.set(join(dir('memory'), 'memory.max_usage_in_bytes'), '8192');
  tree.set(join(dir('memory'), 'memory.oom_control'), 'oom_kill_disable 0\nunder_oom 0\noom_kill 3\n');
  tree.set(join(dir('cpu,cpuacct'), 'cpuacct.usage'), '123456789');
  const s = readCgroupStats(plan.cgroups, tree.layout, tree.fs);
  assert.deepEqual(s.memory, { current: 4096, peak: 8192, limit: 1 << 20 });
  assert.equal(s.cpu.usageNs, 123456789);
  assert.deepEqual(s.pids, { current: 0, limit: 8 });
  assert.equal(s.oomKills, 3);
  assert.equal(oomKilled(plan.cgroups, tree.layout, tree.fs), true);

  await m.freeze();
  assert.equal(read(tree, join(dir('freezer'), 'freezer.state')), 'FROZEN');
  assert.equal(m.events().frozen, true);
  await m.thaw();
  await m.remove();
  assert.deepEqual(tree.killed, [77]);
  assert.equal(read(tree, join(dir('freezer'), 'freezer.state')), undefined);
  for (const c of plan.cgroups) assert.equal(tree.fs.exists(c), false);
  assert.equal(tree.fs.exists(join(tree.root, 'memory/niwa')), false);
});

test('hybrid: v1 memory + hugetlb and cgroup.kill on the unified mount', async (t) => {
  const tree = createFakeCgroupTree('hybrid');
  t.after(() => tree.cleanup());
  assert.equal(tree.layout.kind, 'hybrid');
  const plan = cgroupSteps(spec({ memory: 1 << 20, hugetlb: { '2MB': 4 << 20 } }), tree.layout, REL);
  runPrepare(tree, plan.prepare);
  const u = join(tree.root, 'unified', REL);
  assert.equal(plan.cgroups.at(-1), u);
  assert.equal(read(tree, join(u, 'hugetlb.2MB.max')), String(4 << 20));
  const m = createCgroupManager(tree.layout, plan.cgroups, { fs: tree.fs, relPath: REL, signal: tree.signal });
  m.place(5);
  tree.set(join(tree.root, 'memory', REL, 'memory.usage_in_bytes'), '2048');
  assert.equal(m.stats().memory.current, 2048);
  await m.kill();
  assert.deepEqual(tree.killed, [5], 'cgroup.kill on the v2 cgroup kills it everywhere');
  await m.remove();
  assert.deepEqual(tree.fs.subdirs(join(tree.root, 'unified')), []);
});

test('apply() turns a refused write into a RuntimeFailure naming the file, errno and field', (t) => {
  const tree = createFakeCgroupTree('v2');
  t.after(() => tree.cleanup());
  const m = createCgroupManager(tree.layout, [join(tree.root, 'x')], { fs: tree.fs });
  m.create();
  assert.throws(() => m.apply([{ path: join(tree.root, 'x', 'memory.nope'), data: '1', field: 'cgroup.raw.memory.nope' }]),
    (e: any) => e.code === 'CGROUP_WRITE' && e.field === 'cgroup.raw.memory.nope' && /memory\.nope`: ENOENT/.test(e.message));
});

test('removeCgroup: missing is fine, bestEffort never kills, non-cgroup paths are refused', async (t) => {
  const tree = createFakeCgroupTree('v1', { without: [] });
  t.after(() => tree.cleanup());
  const opts = { fs: tree.fs, signal: tree.signal };
  assert.equal(await removeCgroup(join(tree.root, 'memory/none'), opts), true);
  const d = join(tree.root, 'memory/niwa/x');
  tree.fs.mkdirp(d);
  tree.fs.write(join(d, 'cgroup.procs'), '9');
  assert.equal(await removeCgroup(join(tree.root, 'memory/niwa'), { ...opts, bestEffort: true }), false);
  assert.deepEqual(tree.killed, []);
  // Nested cgroups inside go first; their process is killed; then the parent.
  assert.equal(await removeCgroup(join(tree.root, 'memory/niwa'), opts), true);
  assert.deepEqual(tree.killed, [9]);
  assert.equal(tree.fs.exists(join(tree.root, 'memory/niwa')), false);
  await assert.rejects(removeCgroup('/tmp', {}), /not on a cgroup file system/);
});

test('removeCgroup gives up after its timeout when a process cannot be killed', async (t) => {
  const tree = createFakeCgroupTree('v1');
  t.after(() => tree.cleanup());
  const d = join(tree.root, 'pids/niwa-stuck');
  tree.fs.mkdirp(d);
  tree.fs.write(join(d, 'cgroup.procs'), '13');
  const t0 = Date.now();
  await assert.rejects(removeCgroup(d, { fs: tree.fs, signal: () => {}, timeoutMs: 150 }), /EBUSY \(processes left: 13\)/);
  assert.ok(Date.now() - t0 < 2000);
});
