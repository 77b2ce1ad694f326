// `niwa plan --oci`: the config.json per primitive, checked against the runtime-spec's rules
// (config.md / config-linux.md: field names, value sets, absolute paths) and against the plan.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isAbsolute, join } from 'node:path';
import { repoRoot } from '../../helpers.js';
import { loadSpec, loadSpecObject } from '../../../src/spec/load/index.js';
import { compile } from '../../../src/plan/compile.js';
import { genericHost } from '../../../src/validate/host.js';
import { ociJson, toOci, type OciExport } from '../../../src/plan/export/oci.js';
import { ALL_CAPS } from '../../../src/spec/capabilities.js';

const host = genericHost();
const ROOTFS = '/tmp/bundle/rootfs';
async function ociOf(spec: object): Promise<OciExport> {
  const c = await loadSpecObject(spec, join(repoRoot, 'examples', 'inline.container.yaml'), { hostCgroupControllers: host.cgroup.v2Controllers, exists: () => true });
  return toOci(c, compile(c, host, { id: 'x', project: 'default' }), { rootfsPath: ROOTFS }, 'x86_64');
}
const base = { name: 'o', process: { args: ['/bin/sh', '-c', 'true'] } };

// Value sets from the runtime-spec (config-linux.md).
const NS_TYPES = ['pid', 'network', 'mount', 'ipc', 'uts', 'user', 'cgroup', 'time'];
const SCMP_ACTIONS = ['SCMP_ACT_KILL', 'SCMP_ACT_KILL_PROCESS', 'SCMP_ACT_KILL_THREAD', 'SCMP_ACT_TRAP', 'SCMP_ACT_ERRNO', 'SCMP_ACT_TRACE', 'SCMP_ACT_ALLOW', 'SCMP_ACT_LOG', 'SCMP_ACT_NOTIFY'];
const SCMP_OPS = ['SCMP_CMP_NE', 'SCMP_CMP_LT', 'SCMP_CMP_LE', 'SCMP_CMP_EQ', 'SCMP_CMP_GE', 'SCMP_CMP_GT', 'SCMP_CMP_MASKED_EQ'];

test('every example exports a config that follows the runtime-spec rules', async () => {
  for (const f of ['probe.container.yaml', 'haconiwa.container.yaml']) {
    const spec = await loadSpec(join(repoRoot, 'examples', f), { hostCgroupControllers: host.cgroup.v2Controllers });
    const { config: c } = toOci(spec, compile(spec, host, { id: 'x', project: 'default' }), { rootfsPath: ROOTFS });
    assert.equal(c.ociVersion, '1.0.2');
    assert.ok(c.process.args.length > 0, 'process.args is REQUIRED and non-empty');
    assert.ok(isAbsolute(c.process.cwd), 'process.cwd MUST be absolute');
    assert.ok(isAbsolute(c.root.path), 'root.path: absolute, so the config works from any directory');
    for (const e of c.process.env) assert.match(e, /^[^=]+=/, 'env entries are KEY=value');
    for (const m of c.mounts) {
      assert.ok(isAbsolute(m.destination), `mount destination ${m.destination} is absolute`);
      assert.ok(Array.isArray(m.options));
      if (m.type === 'bind') assert.ok(m.options.includes('bind') || m.options.includes('rbind'), `${m.destination}: a bind mount says bind or rbind`);
    }
    for (const n of c.linux.namespaces) assert.ok(NS_TYPES.includes(n.type), n.type);
    assert.equal(new Set(c.linux.namespaces.map((n) => n.type)).size, c.linux.namespaces.length, 'no duplicated namespace type');
    for (const set of Object.values(c.process.capabilities)) for (const cap of set) assert.ok(ALL_CAPS.includes(cap), cap);
    for (const r of c.process.rlimits) assert.match(r.type, /^RLIMIT_[A-Z]+$/);
    for (const p of [...c.linux.maskedPaths, ...c.linux.readonlyPaths]) assert.ok(isAbsolute(p));
    assert.ok(c.linux.seccomp);
    assert.ok(SCMP_ACTIONS.includes(c.linux.seccomp!.defaultAction));
    for (const s of c.linux.seccomp!.syscalls) {
      assert.ok(s.names.length > 0);
      assert.ok(SCMP_ACTIONS.includes(s.action), s.action);
      for (const a of s.args ?? []) { assert.ok(SCMP_OPS.includes(a.op), a.op); assert.ok(a.index >= 0 && a.index < 6); }
    }
    // It must parse back as JSON (runc reads it with Go's encoding/json).
    assert.deepEqual(JSON.parse(ociJson(c)).process.args, c.process.args);
  }
});

test('namespaces: new ones by type, joined ones with their path; user namespace maps', async () => {
  const { config: c } = await ociOf({ ...base, namespaces: { user: {}, mount: {}, pid: {}, net: { path: '/proc/1/ns/net' }, uts: {} }, uid_map: [{ container_id: 0, host_id: 100000, size: 65536 }], gid_map: [{ container_id: 0, host_id: 100000, size: 65536 }] });
  assert.deepEqual(c.linux.namespaces, [{ type: 'pid' }, { type: 'network', path: '/proc/1/ns/net' }, { type: 'mount' }, { type: 'uts' }, { type: 'user' }]);
  assert.deepEqual(c.linux.uidMappings, [{ containerID: 0, hostID: 100000, size: 65536 }]);
  assert.deepEqual(c.linux.gidMappings, [{ containerID: 0, hostID: 100000, size: 65536 }]);
});

test('hostname, process user, env, cwd, terminal, no_new_privs, oom_score_adj', async () => {
  const { config: c } = await ociOf({ ...base, hostname: 'h1', process: { args: ['/bin/id'], user: 1000, group: 1000, groups: [27], cwd: '/tmp', env: { A: 'b' } }, no_new_privs: false, oom_score_adj: 300 });
  assert.equal(c.hostname, 'h1');
  assert.deepEqual(c.process.user, { uid: 1000, gid: 1000, additionalGids: [27] });
  assert.equal(c.process.cwd, '/tmp');
  assert.ok(c.process.env.includes('A=b'));
  assert.equal(c.process.terminal, false);
  assert.equal(c.process.noNewPrivileges, false);
  assert.equal(c.process.oomScoreAdj, 300);
});

test('capabilities: the five sets as the spec resolved them', async () => {
  const { config: c } = await ociOf({ ...base, capabilities: { drop: ['CAP_NET_RAW'], add: ['CAP_SYS_NICE'] } });
  for (const set of ['bounding', 'effective', 'permitted'] as const) {
    assert.ok(!c.process.capabilities[set].includes('CAP_NET_RAW'), set);
    assert.ok(c.process.capabilities[set].includes('CAP_SYS_NICE'), set);
  }
  assert.deepEqual(c.process.capabilities.ambient, []);
});

test('rlimits: soft/hard, and unlimited as the literal RLIM_INFINITY', async () => {
  const { config: c } = await ociOf({ ...base, rlimits: { nofile: { soft: 1024, hard: 4096 }, core: 'unlimited' } });
  const text = ociJson(c);
  assert.deepEqual(c.process.rlimits.find((r) => r.type === 'RLIMIT_NOFILE'), { type: 'RLIMIT_NOFILE', soft: 1024, hard: 4096 });
  assert.match(text, /"type": "RLIMIT_CORE",\s*"soft": 18446744073709551615,\s*"hard": 18446744073709551615/);
});

test('cgroup limits become linux.resources at niwa\'s cgroup path', async () => {
  const { config: c } = await ociOf({ ...base, cgroup: { memory: '32M', memory_swap: '64M', memory_reservation: '16M', cpus: 0.5, cpu_shares: 512, cpuset_cpus: '0', pids: 64, io_weight: 100, hugetlb: { '2MB': '4M' } } });
  assert.equal(c.linux.cgroupsPath, '/niwa/default/x');
  const r = c.linux.resources as any;
  assert.deepEqual(r.memory, { limit: 33554432, reservation: 16777216, swap: 67108864 });
  assert.deepEqual(r.cpu, { quota: 50000, period: 100000, shares: 512, cpus: '0' });
  assert.deepEqual(r.pids, { limit: 64 });
  assert.equal(r.blockIO.weight, 500, 'io_weight 100 (v2 default) is blkio.weight 500 (v1 default)');
  assert.deepEqual(r.hugepageLimits, [{ pageSize: '2MB', limit: 4194304 }]);
});

test('mounts follow the plan: proc, /dev tmpfs, devpts, shm, sysfs, binds with their options', async () => {
  const { config: c } = await ociOf({ ...base, namespaces: ['mount', 'pid', 'net'], mounts: [{ type: 'bind', source: '/etc', target: '/data', readonly: true }, { type: 'tmpfs', target: '/scratch', size: '1M', options: ['noexec'] }] });
  const m = (d: string) => c.mounts.find((x) => x.destination === d)!;
  assert.equal(m('/proc').type, 'proc');
  assert.deepEqual(m('/dev').options.slice(0, 2), ['nosuid', 'strictatime']);
  assert.equal(m('/dev/pts').type, 'devpts');
  assert.ok(m('/dev/pts').options.includes('newinstance'));
  assert.equal(m('/dev/shm').type, 'tmpfs');
  assert.deepEqual(m('/sys'), { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'nodev', 'noexec', 'ro'] });
  assert.deepEqual(m('/data'), { destination: '/data', type: 'bind', source: '/etc', options: ['rbind', 'ro'] });
  assert.deepEqual(m('/scratch').options, ['nosuid', 'nodev', 'noexec', 'size=1048576']);
  // The host's /usr is a read-only rbind, as in the embedded default root.
  assert.deepEqual(m('/usr').options, ['rbind', 'ro']);
  assert.ok(c.mounts.findIndex((x) => x.destination === '/dev') < c.mounts.findIndex((x) => x.destination === '/dev/pts'), 'order kept');
});

test('without a network namespace /sys is the host\'s, bound read-only', async () => {
  const { config: c } = await ociOf({ ...base, namespaces: ['mount', 'pid'] });
  assert.deepEqual(c.mounts.find((x) => x.destination === '/sys'), { destination: '/sys', type: 'bind', source: '/sys', options: ['rbind', 'ro'] });
});

test('the embedded default root: root.path, and the rootfs entries (merged-/usr links, /etc/hosts)', async () => {
  const ex = await ociOf({ ...base, hostname: 'box', rootfs: { readonly: true } });
  assert.deepEqual(ex.config.root, { path: ROOTFS, readonly: true });
  assert.ok(ex.rootfs.some((e) => e.kind === 'symlink' && e.path === '/bin' && e.target === 'usr/bin'));
  assert.ok(ex.rootfs.some((e) => e.kind === 'file' && e.path === '/etc/hosts' && e.data.includes('box')));
  assert.ok(ex.rootfs.some((e) => e.kind === 'dir' && e.path === '/tmp' && e.mode === 0o1777));
  assert.ok(ex.notes.some((n) => n.includes('--oci-bundle')));
  const dir = await ociOf({ ...base, rootfs: '/srv/root' });
  assert.equal(dir.config.root.path, '/srv/root');
  assert.deepEqual(dir.rootfs, []);
});

test('seccomp: actions, errnoRet, argument comparisons in libseccomp terms', async () => {
  const { config: c } = await ociOf({ ...base, seccomp: { default_action: 'errno', default_errno: 'EPERM', syscalls: [
    { names: ['mkdir'], action: 'errno', errno: 'EACCES' },
    { names: ['personality'], action: 'allow', args: [{ index: 0, op: 'eq', value: 8 }] },
    { names: ['clone'], action: 'allow', args: [{ index: 0, op: 'masked_eq', value: 0x7e020000, value_two: 0 }] },
    { names: ['ptrace'], action: 'kill_process' },
  ] } });
  const s = c.linux.seccomp!;
  assert.equal(s.defaultAction, 'SCMP_ACT_ERRNO');
  assert.equal(s.defaultErrnoRet, 1);
  assert.deepEqual(s.architectures, ['SCMP_ARCH_X86_64']);
  assert.deepEqual(s.syscalls[0], { names: ['mkdir'], action: 'SCMP_ACT_ERRNO', errnoRet: 13 });
  assert.deepEqual(s.syscalls[1].args, [{ index: 0, value: 8, op: 'SCMP_CMP_EQ' }]);
  assert.deepEqual(s.syscalls[2].args, [{ index: 0, value: 0x7e020000, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }]);
  assert.equal(s.syscalls[3].action, 'SCMP_ACT_KILL_PROCESS');
  const unconfined = await ociOf({ ...base, seccomp: 'unconfined' });
  assert.equal(unconfined.config.linux.seccomp, undefined);
});

test('masked and read-only paths, sysctls, annotations', async () => {
  const { config: c } = await ociOf({ ...base, namespaces: ['mount', 'net', 'ipc'], masked_paths: ['/proc/kcore'], readonly_paths: ['/proc/sys'], sysctls: { 'net.ipv4.ip_forward': 1 }, annotations: { team: 'a' } });
  assert.deepEqual(c.linux.maskedPaths, ['/proc/kcore']);
  assert.deepEqual(c.linux.readonlyPaths, ['/proc/sys']);
  assert.deepEqual(c.linux.sysctl, { 'net.ipv4.ip_forward': '1' });
  assert.equal(c.annotations.team, 'a');
  assert.equal(c.annotations['org.niwa.name'], 'o');
  assert.equal(c.linux.rootfsPropagation, 'rprivate');
});

test('differences are spelled out: chroot, init, time namespace', async () => {
  const ex = await ociOf({ ...base, root: 'chroot', process: { args: ['/bin/true'], init: true }, namespaces: { mount: {}, pid: {}, time: { offsets: { monotonic: 10 } } } });
  assert.ok(ex.notes.some((n) => n.includes('--no-pivot')));
  assert.ok(ex.notes.some((n) => n.includes('init')));
  assert.deepEqual(ex.config.linux.timeOffsets?.monotonic, { secs: 10, nanosecs: 0 });
  assert.ok(ex.config.linux.namespaces.some((n) => n.type === 'time'));
});

test('devices: the same allowlist as niwa\'s device cgroup (deny all, Docker\'s defaults, spec.devices), spec devices in linux.devices', async () => {
  const { config: c } = await ociOf({ ...base, devices: [{ path: '/dev/null', container_path: '/dev/mynull', permissions: 'rw' }] });
  const devs = c.linux.resources.devices as { allow: boolean; type?: string; major?: number; minor?: number; access: string }[];
  assert.deepEqual(devs[0], { allow: false, access: 'rwm' });
  assert.deepEqual(devs[1], { allow: true, type: 'c', access: 'm' });
  assert.ok(devs.some((d) => d.allow && d.type === 'c' && d.major === 136 && d.minor === undefined && d.access === 'rwm'));
  assert.deepEqual(devs.at(-1), { allow: true, type: 'c', major: 1, minor: 3, access: 'rw' });
  assert.equal(devs.some((d) => d.allow && d.type === undefined), false, 'nothing allows every device');
  assert.deepEqual(c.linux.devices, [{ path: '/dev/mynull', type: 'c', major: 1, minor: 3 }]);
  assert.equal(c.mounts.some((m) => m.destination === '/dev/mynull'), false);
});
