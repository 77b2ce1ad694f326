// Attack: device nodes. With the default capabilities (CAP_MKNOD included, as Docker) a container
// creates nodes for the host's disk, /dev/kvm, /dev/vcs (the console's text) and a loop device in
// its own /dev (a tmpfs without nodev) and tries to open them: the device cgroup must refuse with
// EPERM, while the default /dev keeps working. Then the same through the cgroup v2 BPF program,
// loaded for real on this host's cgroup2 mount (also on a hybrid host, where the program acts on
// the process's cgroup in the unified hierarchy).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, existsSync, openSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { needsRoot, needsStage } from '../helpers.js';
import { securityBox } from './box.js';
import { loadSpec } from '../../src/spec/load/index.js';
import { compile } from '../../src/plan/compile.js';
import { runPlan } from '../../src/runtime/launch/run.js';
import { realSys } from '../../src/runtime/sys/real.js';
import { probeHost } from '../../src/validate/host.js';
import { devMajor, devMinor } from '../../src/spec/load/devices.js';
import { cgroupsLeft } from '../integration/running.js';

const skip = needsRoot() || needsStage();
const PROJECT = 'sec-devices';
const box = securityBox('niwa-sec-dev-', PROJECT, skip);

/** The block device holding / on the host (its disk or partition), as "major minor". */
function hostDisk(): [number, number] {
  const dev = statSync('/').dev;
  return [devMajor(dev), devMinor(dev)];
}

/** A shell script that mknods each node in /dev and tries to read it; one line per node. */
const ATTACKS = (): [string, string][] => {
  const [ma, mi] = hostDisk();
  return [
    ['disk', `b ${ma} ${mi}`], ['kvm', 'c 10 232'], ['vcs', 'c 7 0'], ['loop0', 'b 7 0'], ['mem', 'c 1 1'], ['tty1', 'c 4 1'],
  ];
};
const attackScript = () => [
  ...ATTACKS().map(([n, spec]) => `if mknod /dev/x${n} ${spec}; then echo mknod-${n}=ok; else echo mknod-${n}=fail; fi; head -c1 /dev/x${n} >/dev/null 2>/tmp/err; echo open-${n}=$?:$(cat /tmp/err | sed 's/.*: //')`),
  'head -c4 /dev/zero | wc -c | sed s/^/zero=/', 'echo x > /dev/null && echo null=ok', 'head -c4 /dev/urandom | wc -c | sed s/^/urandom=/',
  'echo x > /dev/full 2>/dev/null; echo full=$?',
].join('\n');

function check(out: string) {
  for (const [n] of ATTACKS()) {
    assert.match(out, new RegExp(`^mknod-${n}=ok$`, 'm'), `mknod is allowed (as Docker): ${n}\n${out}`);
    assert.match(out, new RegExp(`^open-${n}=1:Operation not permitted$`, 'm'), `opening ${n} must fail with EPERM\n${out}`);
  }
  assert.match(out, /^zero=4$/m);
  assert.match(out, /^null=ok$/m);
  assert.match(out, /^urandom=4$/m);
  assert.match(out, /^full=1$/m, '/dev/full opens and reports ENOSPC');
}

test('default container: host disk, /dev/kvm, /dev/vcs, loop, /dev/mem nodes can be made but not opened; /dev/null etc. work', { skip }, () => {
  const r = box.run('dev', `process:\n  args: [/bin/sh, -c, ${JSON.stringify(attackScript())}]\n`);
  assert.equal(r.status, 0, r.stderr);
  check(r.stdout);
});

test('spec devices: a granted node is bound into /dev and usable with its permissions only; others stay closed', { skip: skip || (!existsSync('/dev/fuse') && 'no /dev/fuse on this host') }, () => {
  const script = 'test -c /dev/fuse && echo bound; exec 3</dev/fuse && echo fuse-open; mknod /dev/xkvm c 10 232; head -c1 /dev/xkvm 2>&1 | sed "s/.*: /kvm=/"';
  const r = box.run('fuse', `devices: [{path: /dev/fuse, permissions: rw}]\nprocess:\n  args: [/bin/sh, -c, ${JSON.stringify(script)}]\n`);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^bound$/m);
  assert.match(r.stdout, /^fuse-open$/m);
  assert.match(r.stdout, /^kvm=Operation not permitted$/m);
});

test('cgroup v2: the BPF_CGROUP_DEVICE program is loaded and attached for real and enforces the same list', { skip: skip || (!probeHost().cgroup.unified && 'no cgroup2 mount') }, async () => {
  const host = probeHost({ stateRoot: box.state });
  // Take the v1 devices controller away from the facts: the plan must fall back to the program.
  const { devices: _v1, ...v1 } = host.cgroup.v1;
  const facts = { ...host, cgroup: { ...host.cgroup, v1 } };
  const file = join(box.dir, 'bpf.container.yaml');
  writeFileSync(file, `name: bpf\nprocess:\n  args: [/bin/sh, -c, ${JSON.stringify(attackScript())}]\n`);
  const spec = await loadSpec(file);
  const plan = compile(spec, facts, { id: `bpf-${randomBytes(3).toString('hex')}`, project: PROJECT });
  const f = plan.steps.find((s) => s.op === 'device_filter');
  assert.ok(f && f.phase === 'stage', 'the plan shows the program as a stage step');
  assert.equal(plan.cgroups.some((c) => c.includes('/devices/')), false);
  const out = join(box.dir, 'bpf.out');
  const fd = openSync(out, 'w');
  try {
    const r = await runPlan(plan, { sys: realSys, spec, stdio: ['ignore', fd, fd] });
    assert.equal(r.status, 0, readFileSync(out, 'utf8'));
  } finally { closeSync(fd); }
  check(readFileSync(out, 'utf8'));
  assert.deepEqual(cgroupsLeft(PROJECT), []);
});
