// Tests cgroup layout detection: mountinfo parsing and v2 / v1 / hybrid classification on sample texts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { detectCgroupLayout, hugepageSizeName, layoutFromMounts, parseMountinfo } from '../../../src/runtime/cgroup/detect.js';

// Fedora / current distributions: cgroup2 at /sys/fs/cgroup only.
const PURE_V2 = `22 1 0:21 / /sys rw,nosuid,nodev,noexec,relatime shared:2 - sysfs sysfs rw,seclabel
26 22 0:23 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,seclabel,nsdelegate,memory_recursiveprot
1 0 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
`;
// Older Debian/Ubuntu, pure v1 (no unified mount), cpu,cpuacct and net_cls,net_prio co-mounted.
const PURE_V1 = `25 18 0:22 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
26 25 0:23 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:10 - cgroup cgroup rw,xattr,release_agent=/lib/systemd/systemd-cgroups-agent,name=systemd
29 25 0:26 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:14 - cgroup cgroup rw,cpu,cpuacct
30 25 0:27 / /sys/fs/cgroup/net_cls,net_prio rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup rw,net_cls,net_prio
31 25 0:28 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:16 - cgroup cgroup rw,memory
32 25 0:29 / /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime shared:17 - cgroup cgroup rw,pids
33 25 0:30 / /sys/fs/cgroup/cpuset rw,nosuid,nodev,noexec,relatime shared:18 - cgroup cgroup rw,cpuset,clone_children
34 25 0:31 / /sys/fs/cgroup/freezer rw,nosuid,nodev,noexec,relatime shared:19 - cgroup cgroup rw,freezer
`;
// This machine (captured from /proc/self/mountinfo): v1 controllers each on their own mount + cgroup2 at unified.
const THIS_HOST = `31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`;

test('pure v2: cgroup2 at the root, no v1 controllers', () => {
  const l = layoutFromMounts(parseMountinfo(PURE_V2));
  assert.deepEqual(l, { kind: 'v2', unified: '/sys/fs/cgroup', v1: {} });
});

test('pure v1: co-mounted controllers share a mount; named hierarchies are kept; no unified', () => {
  const l = layoutFromMounts(parseMountinfo(PURE_V1));
  assert.equal(l.kind, 'v1');
  assert.equal(l.unified, undefined);
  assert.equal(l.v1.cpu, '/sys/fs/cgroup/cpu,cpuacct');
  assert.equal(l.v1.cpuacct, '/sys/fs/cgroup/cpu,cpuacct');
  assert.equal(l.v1.net_prio, '/sys/fs/cgroup/net_cls,net_prio');
  assert.equal(l.v1['name=systemd'], '/sys/fs/cgroup/systemd');
  assert.equal(l.v1.cpuset, '/sys/fs/cgroup/cpuset', 'clone_children is an option, not a controller');
  assert.equal('xattr' in l.v1 || 'rw' in l.v1 || 'clone_children' in l.v1, false);
});

test("this host's mountinfo is hybrid: v1 controllers + cgroup2 at unified", () => {
  const l = layoutFromMounts(parseMountinfo(THIS_HOST));
  assert.equal(l.kind, 'hybrid');
  assert.equal(l.unified, '/sys/fs/cgroup/unified');
  assert.deepEqual(Object.keys(l.v1).sort(), ['blkio', 'cpu', 'cpuacct', 'cpuset', 'devices', 'freezer', 'memory', 'name=systemd', 'pids']);
  assert.equal(l.v1.cpu, '/sys/fs/cgroup/cpu');
  assert.equal(l.v1.cpuacct, '/sys/fs/cgroup/cpuacct');
});

test('only a named v1 hierarchy plus cgroup2 at the root counts as v2', () => {
  const text = PURE_V2 + '40 26 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd\n';
  assert.equal(layoutFromMounts(parseMountinfo(text)).kind, 'v2');
});

test('octal escapes in mount points are decoded; mounts outside the root are a fallback', () => {
  const [e] = parseMountinfo('50 1 0:40 / /mnt/my\\040cg rw - cgroup2 cgroup2 rw\n');
  assert.equal(e.mountPoint, '/mnt/my cg');
  assert.deepEqual(layoutFromMounts([e]), { kind: 'v2', unified: '/mnt/my cg', v1: {} });
});

test('no cgroup mount at all is an error', () => {
  assert.throws(() => layoutFromMounts(parseMountinfo('1 0 8:1 / / rw - ext4 /dev/sda1 rw\n')), /no cgroup file system/);
});

test('hugepage size names follow the kernel file names', () => {
  assert.equal(hugepageSizeName(2048), '2MB');
  assert.equal(hugepageSizeName(1048576), '1GB');
  assert.equal(hugepageSizeName(64), '64KB');
});

test('detectCgroupLayout on this machine agrees with its own mountinfo and cgroup.controllers', () => {
  const mi = readFileSync('/proc/self/mountinfo', 'utf8');
  if (!/ - cgroup2? /.test(mi)) return; // no cgroups mounted (some sandboxes)
  const l = detectCgroupLayout();
  assert.equal(l.kind, layoutFromMounts(parseMountinfo(mi)).kind);
  if (l.unified) {
    const ctrls = readFileSync(`${l.unified}/cgroup.controllers`, 'utf8').trim().split(/\s+/).filter(Boolean);
    assert.deepEqual(l.v2Controllers, ctrls);
  }
  if (l.v1.memory && l.files?.memory) assert.ok(l.files.memory.includes('memory.limit_in_bytes'));
});
