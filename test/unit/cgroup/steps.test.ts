// Tests cgroupSteps: file + value per layout (v2, v1, hybrid), order, translations with warnings, errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { CanonicalSpec } from '../../../src/spec/types.js';
import type { CgroupLayout, StepDraft } from '../../../src/plan/types.js';
import { cgroupSteps, rescale, sharesToWeight, weightToShares, hugetlbSizeName } from '../../../src/plan/steps/cgroup.js';
import { UserError } from '../../../src/errors.js';

const R = '/sys/fs/cgroup';
const V2: CgroupLayout = { kind: 'v2', unified: R, v2Controllers: ['cpuset', 'cpu', 'io', 'memory', 'hugetlb', 'pids'], v1: {}, hugepageSizes: ['2MB', '1GB'] };
const V1: CgroupLayout = {
  kind: 'v1', v2Controllers: [],
  v1: { cpu: `${R}/cpu,cpuacct`, cpuacct: `${R}/cpu,cpuacct`, memory: `${R}/memory`, pids: `${R}/pids`, cpuset: `${R}/cpuset`, blkio: `${R}/blkio`, freezer: `${R}/freezer`, devices: `${R}/devices`, 'name=systemd': `${R}/systemd` },
  v1CpusetRoot: { cpus: '0-3', mems: '0' },
};
// Like this machine: every v1 controller separately, hugetlb only on the unified mount.
const HYBRID: CgroupLayout = {
  kind: 'hybrid', unified: `${R}/unified`, v2Controllers: ['hugetlb'],
  v1: { cpu: `${R}/cpu`, cpuacct: `${R}/cpuacct`, memory: `${R}/memory`, pids: `${R}/pids`, cpuset: `${R}/cpuset`, blkio: `${R}/blkio`, freezer: `${R}/freezer`, devices: `${R}/devices`, 'name=systemd': `${R}/systemd` },
  hugepageSizes: ['2MB', '1GB'], v1CpusetRoot: { cpus: '0-1', mems: '0' },
  files: { blkio: ['blkio.bfq.weight', 'blkio.throttle.read_bps_device'], memory: ['memory.limit_in_bytes', 'memory.memsw.limit_in_bytes', 'memory.soft_limit_in_bytes'] },
};
const spec = (cgroup: Partial<CanonicalSpec['cgroup']>): CanonicalSpec =>
  ({ name: 'web', file: '/p/web.yaml', cgroup: { raw: {}, ...cgroup } }) as unknown as CanonicalSpec;
const REL = 'niwa/default/web';
/** path → data of the write steps, in order. */
const writes = (s: StepDraft[]) => s.filter((x) => x.op === 'write').map((x) => x.op === 'write' ? `${x.path}=${x.data}` : '');
/** Without the device allowlist every container gets (tested on its own below). */
const noDevices = (w: string[]) => w.filter((x) => !x.startsWith(`${R}/devices/`));

test('v2: limits go to the leaf, controllers are enabled top-down, mkdir comes first', () => {
  const r = cgroupSteps(spec({ memory: 64 << 20, cpus: 0.5, pids: 32 }), V2, REL);
  const leaf = `${R}/${REL}`;
  assert.deepEqual(r.cgroups, [leaf]);
  assert.deepEqual(r.prepare[0], { op: 'mkdir', path: leaf, mode: 0o755, parents: true, field: 'cgroup', man: 'cgroups(7)', why: r.prepare[0].why });
  assert.deepEqual(writes(r.prepare), [
    `${R}/cgroup.subtree_control=+memory +pids +cpu`,
    `${R}/niwa/cgroup.subtree_control=+memory +pids +cpu`,
    `${R}/niwa/default/cgroup.subtree_control=+memory +pids +cpu`,
    `${leaf}/memory.max=${64 << 20}`,
    `${leaf}/cpu.max=50000 100000`,
    `${leaf}/pids.max=32`,
  ]);
  assert.deepEqual(writes(r.parent), [`${leaf}/cgroup.procs={pid}`]);
  assert.deepEqual(r.cleanup.map((s) => s.op === 'rmdir' && [s.path, !!s.bestEffort]), [[leaf, false], [`${R}/niwa/default`, true], [`${R}/niwa`, true]]);
  assert.deepEqual(r.warnings, []);
  for (const s of [...r.prepare, ...r.parent, ...r.cleanup]) {
    assert.ok(s.field.startsWith('cgroup'), s.field);
    assert.match(s.why, /^[A-Z].*\.$/);
    assert.equal(s.man, 'cgroups(7)');
  }
  assert.equal(r.prepare.find((s) => s.op === 'write' && s.path.endsWith('memory.max'))?.field, 'cgroup.memory');
});

test('v1: one cgroup per mount (cpu,cpuacct shared), period before quota, freezer always', () => {
  const r = cgroupSteps(spec({ memory: 1000000, cpus: 1.5, cpuPeriod: 50000, pids: 10 }), V1, REL);
  assert.deepEqual(r.cgroups, [`${R}/memory/${REL}`, `${R}/pids/${REL}`, `${R}/cpu,cpuacct/${REL}`, `${R}/freezer/${REL}`, `${R}/devices/${REL}`]);
  assert.deepEqual(noDevices(writes(r.prepare)), [
    `${R}/memory/${REL}/memory.limit_in_bytes=1000000`,
    `${R}/pids/${REL}/pids.max=10`,
    `${R}/cpu,cpuacct/${REL}/cpu.cfs_period_us=50000`,
    `${R}/cpu,cpuacct/${REL}/cpu.cfs_quota_us=75000`,
  ]);
  assert.equal(r.parent.length, 5);
  assert.equal(r.cleanup.filter((s) => s.op === 'rmdir' && !s.bestEffort).length, 5);
});

test('v1 cpuset: parents get the root cpus/mems before the leaf gets its own', () => {
  const r = cgroupSteps(spec({ cpusetCpus: '1' }), V1, REL);
  const cs = `${R}/cpuset`;
  assert.ok(r.cgroups.includes(`${cs}/${REL}`));
  assert.deepEqual(writes(r.prepare).filter((w) => w.startsWith(cs)), [
    `${cs}/niwa/cpuset.cpus=0-3`, `${cs}/niwa/cpuset.mems=0`,
    `${cs}/niwa/default/cpuset.cpus=0-3`, `${cs}/niwa/default/cpuset.mems=0`,
    `${cs}/${REL}/cpuset.mems=0`,
    `${cs}/${REL}/cpuset.cpus=1`,
  ]);
});

test('hybrid: v1 for v1 controllers, hugetlb on the unified mount, and a v2 cgroup always', () => {
  const r = cgroupSteps(spec({ memory: 1 << 20, hugetlb: { '2M': 4 << 20 } }), HYBRID, REL);
  const u = `${R}/unified`;
  assert.deepEqual(r.cgroups.at(-1), `${u}/${REL}`);
  assert.ok(r.cgroups.includes(`${R}/memory/${REL}`));
  assert.deepEqual(writes(r.prepare).filter((w) => w.startsWith(u)), [
    `${u}/cgroup.subtree_control=+hugetlb`, `${u}/niwa/cgroup.subtree_control=+hugetlb`, `${u}/niwa/default/cgroup.subtree_control=+hugetlb`,
    `${u}/${REL}/hugetlb.2MB.max=${4 << 20}`,
  ]);
  assert.ok(writes(r.prepare).includes(`${R}/memory/${REL}/memory.limit_in_bytes=${1 << 20}`));
  // No v2 limits → the v2 cgroup is still made, without touching subtree_control.
  const plain = cgroupSteps(spec({}), HYBRID, REL);
  assert.ok(plain.cgroups.includes(`${u}/${REL}`));
  assert.equal(writes(plain.prepare).filter((w) => !w.startsWith(`${R}/devices/`)).length, 0);
  assert.ok(writes(plain.parent).includes(`${u}/${REL}/cgroup.procs={pid}`));
});

test('memory_swap: v2 writes swap − memory; v1 writes memsw after memory; missing accounting warns', () => {
  const v2 = cgroupSteps(spec({ memory: 100, memorySwap: 300 }), V2, REL);
  assert.ok(writes(v2.prepare).includes(`${R}/${REL}/memory.swap.max=200`));
  const v1 = writes(cgroupSteps(spec({ memory: 100, memorySwap: 300 }), V1, REL).prepare);
  assert.ok(v1.indexOf(`${R}/memory/${REL}/memory.memsw.limit_in_bytes=300`) > v1.indexOf(`${R}/memory/${REL}/memory.limit_in_bytes=100`));
  const noAcct = cgroupSteps(spec({ memory: 100, memorySwap: 300 }), { ...V1, files: { memory: ['memory.limit_in_bytes'] } }, REL);
  assert.equal(writes(noAcct.prepare).some((w) => w.includes('memsw')), false);
  assert.match(noAcct.warnings.join('\n'), /swap accounting/);
  assert.throws(() => cgroupSteps(spec({ memorySwap: 300 }), V2, REL), (e: UserError) => e.details[0].field === 'cgroup.memory_swap');
  assert.ok(writes(cgroupSteps(spec({ memory: 100, memorySwap: -1 }), V2, REL).prepare).includes(`${R}/${REL}/memory.swap.max=max`));
});

test('memory_reservation is memory.low on v2 and memory.soft_limit_in_bytes on v1', () => {
  assert.ok(writes(cgroupSteps(spec({ memoryReservation: 5 }), V2, REL).prepare).includes(`${R}/${REL}/memory.low=5`));
  assert.ok(writes(cgroupSteps(spec({ memoryReservation: 5 }), V1, REL).prepare).includes(`${R}/memory/${REL}/memory.soft_limit_in_bytes=5`));
});

test('cpu_shares ↔ cpu_weight translate with a warning', () => {
  const a = cgroupSteps(spec({ cpuShares: 1024 }), V2, REL);
  assert.ok(writes(a.prepare).includes(`${R}/${REL}/cpu.weight=100`));
  assert.match(a.warnings[0], /cpu_shares: 1024 shares written as cpu.weight 100/);
  const b = cgroupSteps(spec({ cpuWeight: 100 }), V1, REL);
  assert.ok(writes(b.prepare).includes(`${R}/cpu,cpuacct/${REL}/cpu.shares=1024`));
  assert.equal(b.warnings.length, 1);
  const native = cgroupSteps(spec({ cpuWeight: 300 }), V2, REL);
  assert.deepEqual(native.warnings, []);
});

test('conversions: ends and defaults map onto each other', () => {
  assert.deepEqual([2, 1024, 262144].map(sharesToWeight), [1, 100, 10000]);
  assert.deepEqual([1, 100, 10000].map(weightToShares), [2, 1024, 262144]);
  for (const s of [2, 50, 512, 1024, 4096, 100000]) assert.ok(Math.abs(weightToShares(sharesToWeight(s)) - s) / s < 0.05, `roundtrip ${s}`);
  assert.equal(rescale(100, [1, 100, 10000], [10, 500, 1000]), 500);
  assert.equal(rescale(10000, [1, 100, 10000], [10, 500, 1000]), 1000);
  assert.equal(rescale(1, [1, 100, 10000], [10, 500, 1000]), 10);
  assert.equal(hugetlbSizeName('2mb'), '2MB');
  assert.equal(hugetlbSizeName('1G'), '1GB');
  assert.equal(hugetlbSizeName('huge'), undefined);
});

test('io_weight and io_max per layout; blkio.bfq.weight when blkio.weight is absent', () => {
  const v2 = writes(cgroupSteps(spec({ ioWeight: 200, ioMax: { '8:0': { readBps: 1048576, writeIops: 100 } } }), V2, REL).prepare);
  assert.ok(v2.includes(`${R}/${REL}/io.weight=default 200`));
  assert.ok(v2.includes(`${R}/${REL}/io.max=8:0 rbps=1048576 wiops=100`));
  assert.ok(v2.includes(`${R}/niwa/cgroup.subtree_control=+memory +pids +cpu +io`));
  const v1 = cgroupSteps(spec({ ioWeight: 100, ioMax: { '8:0': { readBps: 1048576, writeIops: 100 } } }), V1, REL);
  assert.ok(writes(v1.prepare).includes(`${R}/blkio/${REL}/blkio.weight=500`));
  assert.ok(writes(v1.prepare).includes(`${R}/blkio/${REL}/blkio.throttle.read_bps_device=8:0 1048576`));
  assert.ok(writes(v1.prepare).includes(`${R}/blkio/${REL}/blkio.throttle.write_iops_device=8:0 100`));
  assert.match(v1.warnings.join(), /blkio.weight 500/);
  const hy = cgroupSteps(spec({ ioWeight: 100 }), HYBRID, REL);
  assert.ok(writes(hy.prepare).includes(`${R}/blkio/${REL}/blkio.bfq.weight=100`));
});

test('raw keys: native names pass through; other-version names translate with a warning', () => {
  const a = cgroupSteps(spec({ raw: { 'memory.high': '30M', 'pids.max': '5' } }), V2, REL);
  assert.deepEqual(writes(a.prepare).slice(-2), [`${R}/${REL}/memory.high=30M`, `${R}/${REL}/pids.max=5`]);
  assert.equal(a.prepare.find((s) => s.op === 'write' && s.path.endsWith('memory.high'))?.field, 'cgroup.raw.memory.high');
  const b = cgroupSteps(spec({ raw: { 'memory.limit_in_bytes': '-1', 'cpu.shares': '2048', 'cpu.cfs_quota_us': '20000', 'cpu.cfs_period_us': '100000' } }), V2, REL);
  const w = writes(b.prepare);
  assert.ok(w.includes(`${R}/${REL}/memory.max=max`));
  assert.ok(w.includes(`${R}/${REL}/cpu.weight=${sharesToWeight(2048)}`));
  assert.ok(w.includes(`${R}/${REL}/cpu.max=20000 100000`));
  assert.equal(b.warnings.length, 3);
  const c = cgroupSteps(spec({ raw: { 'cpu.max': '20000 100000', 'memory.max': '1G', 'io.max': '8:0 rbps=10 wbps=max' } }), V1, REL);
  assert.deepEqual(noDevices(writes(c.prepare)).filter((x) => !x.includes('subtree')), [
    `${R}/memory/${REL}/memory.limit_in_bytes=1G`,
    `${R}/cpu,cpuacct/${REL}/cpu.cfs_period_us=100000`, `${R}/cpu,cpuacct/${REL}/cpu.cfs_quota_us=20000`,
    `${R}/blkio/${REL}/blkio.throttle.read_bps_device=8:0 10`, `${R}/blkio/${REL}/blkio.throttle.write_bps_device=8:0 0`,
  ]);
  const d = cgroupSteps(spec({ raw: { 'hugetlb.2MB.limit_in_bytes': '-1' } }), HYBRID, REL);
  assert.ok(writes(d.prepare).includes(`${R}/unified/${REL}/hugetlb.2MB.max=max`));
});

test('raw memory.high on a hybrid host (memory on v1) is a UserError naming the field, with a hint', () => {
  assert.throws(() => cgroupSteps(spec({ raw: { 'memory.high': '30M' } }), HYBRID, REL), (e: unknown) => {
    assert.ok(e instanceof UserError);
    assert.equal(e.details.length, 1);
    assert.equal(e.details[0].field, 'cgroup.raw.memory.high');
    assert.equal(e.details[0].file, '/p/web.yaml');
    assert.match(e.details[0].message, /only in cgroup v2.*hybrid/);
    assert.match(e.details[0].hint ?? '', /memory_reservation/);
    return true;
  });
});

test('raw keys the host lacks: unknown controller, unknown file, v2 core file on pure v1', () => {
  const err = (s: CanonicalSpec, l: CgroupLayout) => { try { cgroupSteps(s, l, REL); } catch (e) { return e as UserError; } assert.fail('no error'); };
  assert.match(err(spec({ raw: { 'rdma.max': 'x' } }), HYBRID).details[0].message, /no rdma controller/);
  assert.match(err(spec({ raw: { 'memory.nonsense': '1' } }), HYBRID).details[0].message, /has no memory.nonsense/);
  assert.match(err(spec({ raw: { 'cgroup.max.depth': '3' } }), V1).details[0].message, /no cgroup2 mount/);
  // several problems come back together in one error
  const many = err(spec({ pids: 3, raw: { 'memory.high': '1' }, hugetlb: { '16GB': 1 }, ioMax: { sda: {} } }), { ...HYBRID, v1: { memory: `${R}/memory` } });
  assert.deepEqual(many.details.map((d) => d.field).sort(), ['cgroup.hugetlb.16GB', 'cgroup.io_max.sda', 'cgroup.pids', 'cgroup.raw.memory.high']);
});

test('relPath is checked', () => {
  assert.throws(() => cgroupSteps(spec({}), V2, '../x'));
  assert.throws(() => cgroupSteps(spec({}), V2, ''));
});

test('devices, v1: deny all, then Docker\'s default allowlist and the spec\'s devices, in the devices cgroup', () => {
  const s = { ...spec({}), devices: [{ type: 'c', major: 10, minor: 229, access: 'rw', source: '/dev/fuse', target: '/dev/fuse', field: 'devices.0' }] } as CanonicalSpec;
  const r = cgroupSteps(s, V1, REL);
  const leaf = `${R}/devices/${REL}`;
  assert.ok(r.cgroups.includes(leaf));
  assert.deepEqual(writes(r.prepare).filter((w) => w.startsWith(leaf)), [
    `${leaf}/devices.deny=a`,
    `${leaf}/devices.allow=c *:* m`, `${leaf}/devices.allow=b *:* m`,
    `${leaf}/devices.allow=c 1:3 rwm`, `${leaf}/devices.allow=c 1:5 rwm`, `${leaf}/devices.allow=c 1:7 rwm`, `${leaf}/devices.allow=c 1:8 rwm`, `${leaf}/devices.allow=c 1:9 rwm`,
    `${leaf}/devices.allow=c 5:0 rwm`, `${leaf}/devices.allow=c 5:1 rwm`, `${leaf}/devices.allow=c 5:2 rwm`, `${leaf}/devices.allow=c 136:* rwm`,
    `${leaf}/devices.allow=c 10:229 rw`,
  ]);
  const fuse = r.prepare.find((x) => x.op === 'write' && x.data === 'c 10:229 rw');
  assert.equal(fuse?.field, 'devices.0');
  assert.equal(fuse?.man, 'cgroups(7)');
  assert.match(fuse!.why, /\/dev\/fuse/);
  assert.equal(r.stage.length, 0, 'no BPF program where the v1 controller does the job');
  assert.ok(r.parent.some((x) => x.op === 'write' && x.path === `${leaf}/cgroup.procs`));
});

test('devices, v2: a device_filter step in the stage phase on the container\'s cgroup; none without any device cgroup', () => {
  const r = cgroupSteps(spec({}), V2, REL);
  assert.equal(r.stage.length, 1);
  const f = r.stage[0];
  assert.ok(f.op === 'device_filter');
  if (f.op !== 'device_filter') return;
  assert.equal(f.cgroup, `${R}/${REL}`);
  assert.equal(f.rules[0], 'c *:* m');
  assert.ok(f.rules.includes('c 136:* rwm'));
  assert.equal(f.man, 'bpf(2)');
  const none = cgroupSteps(spec({}), { ...V1, v1: { memory: `${R}/memory` } }, REL);
  assert.equal(none.stage.length, 0);
  assert.match(none.warnings.join('\n'), /device access is not restricted/);
});
