// networkSteps and friends: the exact iproute2 commands, their order, their undo; and the
// executor: batching per namespace, mapping an `ip -batch` failure back to its step, absentOk.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bridgeSteps, attachSteps, networkSteps, sandboxSteps, type AttachmentInfo } from '../../../src/plan/steps/net.js';
import { runNetSteps, parseBatchErrors, NetStepError, describeNetStep } from '../../../src/runtime/net/exec.js';
import { FakeNetHost } from './fake-host.js';
import { describeCall } from '../../../src/plan/format.js';
import type { Step, StepDraft } from '../../../src/plan/types.js';

const cmd = (s: StepDraft) => describeNetStep(s);
const att = (over: Partial<AttachmentInfo> = {}): AttachmentInfo => ({
  network: 'front', bridge: 'nw-0123456789', subnet: '10.89.0.0/24', gateway: '10.89.0.1', container: 'p-web-1',
  veth: 'nw0123456789ab', ifname: 'eth0', address: '10.89.0.2', defaultRoute: true, ...over,
});

test('bridgeSteps: create, address the gateway, up; cleanup deletes idempotently', () => {
  const s = bridgeSteps({ network: 'front', bridge: 'nw-0123456789', subnet: '10.89.0.0/24', gateway: '10.89.0.1' });
  assert.deepEqual(s.prepare.map(cmd), [
    'ip link add name nw-0123456789 type bridge',
    'ip addr add 10.89.0.1/24 dev nw-0123456789',
    'ip link set nw-0123456789 up',
  ]);
  assert.deepEqual(s.cleanup.map(cmd), ['ip link del nw-0123456789']);
  assert.equal(s.cleanup[0].op === 'ip' && s.cleanup[0].absentOk, true);
  assert.ok(s.prepare.every((x) => x.field === 'networks.front' && x.why.length > 10 && x.man));
});

test('networkSteps: namespace first, then veth into it, address and default route inside; cleanup in reverse', () => {
  const ns = '/run/niwa/net/ns/p/p-web-1';
  const s = networkSteps(ns, [att(), att({ network: 'back', bridge: 'nw-abcdefabcd', subnet: '10.89.1.0/24', gateway: '10.89.1.1', veth: 'nwabcdefabcdef', ifname: 'eth1', address: '10.89.1.2', defaultRoute: false })]);
  assert.deepEqual(s.prepare.map(cmd), [
    `unshare --net=${ns} true`,
    `ip link add nw0123456789ab type veth peer name eth0 netns ${ns}`,
    'ip link set nw0123456789ab master nw-0123456789',
    'ip link set nw0123456789ab up',
    `nsenter --net=${ns} ip link set lo up`,
    `nsenter --net=${ns} ip addr add 10.89.0.2/24 dev eth0`,
    `nsenter --net=${ns} ip link set eth0 up`,
    `nsenter --net=${ns} ip route add default via 10.89.0.1 dev eth0`,
    `ip link add nwabcdefabcdef type veth peer name eth1 netns ${ns}`,
    'ip link set nwabcdefabcdef master nw-abcdefabcd',
    'ip link set nwabcdefabcdef up',
    `nsenter --net=${ns} ip addr add 10.89.1.2/24 dev eth1`,
    `nsenter --net=${ns} ip link set eth1 up`,
  ]);
  assert.deepEqual(s.cleanup.map(cmd), ['ip link del nwabcdefabcdef', 'ip link del nw0123456789ab', `umount -l ${ns} && rm ${ns}`]);
  assert.deepEqual(sandboxSteps(ns).cleanup, s.cleanup.slice(2));
  assert.deepEqual(sandboxSteps(ns).prepare.map(cmd), [`unshare --net=${ns} true`, `nsenter --net=${ns} ip link set lo up`]);
  assert.equal(attachSteps(att({ defaultRoute: false }), ns).prepare.some((x) => x.op === 'ip' && x.args[0] === 'route'), false);
});

test('niwa plan shows network steps as commands', () => {
  const [veth] = attachSteps(att(), '/ns').prepare;
  assert.equal(describeCall({ ...veth, index: 0, phase: 'prepare' } as Step), 'ip link add nw0123456789ab type veth peer name eth0 netns /ns');
  const [add] = sandboxSteps('/ns').prepare;
  assert.match(describeCall({ ...add, index: 0, phase: 'prepare' } as Step), /unshare\(CLONE_NEWNET\); mount\("\/proc\/self\/ns\/net", \/ns, MS_BIND\)/);
  const [del] = bridgeSteps({ network: 'n', bridge: 'nw-x', subnet: '10.0.0.0/24', gateway: '10.0.0.1' }).cleanup;
  assert.equal(describeCall({ ...del, index: 0, phase: 'cleanup' } as Step), 'ip link del nw-x (already gone is fine)');
});

test('executor: one ip -batch per run of same-namespace steps; netns via unshare', async () => {
  const h = new FakeNetHost();
  const ns = '/s/ns/p/c';
  const done: string[] = [];
  await runNetSteps(networkSteps(ns, [att()]).prepare, h, (s) => done.push(cmd(s)));
  assert.deepEqual(h.runs.map((r) => [r.file, ...r.args].join(' ')), [
    `unshare --net=${ns} -- true`,
    'ip -batch -',
    `nsenter --net=${ns} -- ip -batch -`,
  ]);
  assert.equal(h.runs[1].input, `link add nw0123456789ab type veth peer name eth0 netns ${ns}\nlink set nw0123456789ab master nw-0123456789\nlink set nw0123456789ab up\n`);
  assert.equal(h.runs[2].input, 'link set lo up\naddr add 10.89.0.2/24 dev eth0\nlink set eth0 up\nroute add default via 10.89.0.1 dev eth0\n');
  assert.equal(done.length, 8);
  assert.deepEqual(h.log, [`touch ${ns}`]);
  // a second add of the same namespace is a no-op
  await runNetSteps(sandboxSteps(ns).prepare.slice(0, 1), h);
  assert.equal(h.runs.length, 3);
  await runNetSteps(sandboxSteps(ns).cleanup, h);
  assert.deepEqual(h.log.slice(1), [`umount ${ns}`, `unlink ${ns}`]);
});

test('executor: a batch failure names the step of that line, with iproute2\'s message', async () => {
  const h = new FakeNetHost([{ code: 1, stdout: '', stderr: 'RTNETLINK answers: File exists\nCommand failed -:2\n' }]);
  const steps = bridgeSteps({ network: 'front', bridge: 'nw-0123456789', subnet: '10.89.0.0/24', gateway: '10.89.0.1' }).prepare;
  const err = await runNetSteps(steps, h).then(() => null, (e: unknown) => e);
  assert.ok(err instanceof NetStepError);
  assert.equal(err.step, steps[1]);
  assert.equal(err.message, 'ip addr add 10.89.0.1/24 dev nw-0123456789: RTNETLINK answers: File exists');
});

test('executor: absentOk steps run with -force and tolerate "already gone", not other errors', async () => {
  const gone = 'Cannot find device "nwa"\nCommand failed -:1\nCannot find device "nwb"\nCommand failed -:2\n';
  const del = (n: string): StepDraft => ({ op: 'ip', args: ['link', 'del', n], absentOk: true, field: '', why: '' });
  const h = new FakeNetHost([{ code: 1, stdout: '', stderr: gone }]);
  await runNetSteps([del('nwa'), del('nwb')], h);
  assert.deepEqual(h.runs[0].args, ['-force', '-batch', '-']);
  const h2 = new FakeNetHost([{ code: 1, stdout: '', stderr: 'RTNETLINK answers: Operation not permitted\nCommand failed -:1\n' }]);
  await assert.rejects(runNetSteps([del('nwa')], h2), /ip link del nwa: RTNETLINK answers: Operation not permitted/);
  assert.deepEqual(parseBatchErrors('x\ny\nCommand failed -:3\n'), [{ line: 3, message: 'x; y' }]);
});

test('executor: a failing unshare leaves no file behind and is reported', async () => {
  const h = new FakeNetHost([{ code: 1, stdout: '', stderr: 'unshare: mount /x failed: Invalid argument' }]);
  await assert.rejects(runNetSteps(sandboxSteps('/x').prepare, h), /unshare --net=\/x true: unshare: mount \/x failed: Invalid argument/);
  assert.deepEqual(h.log, ['touch /x', 'unlink /x']);
  assert.equal(h.runs.length, 1, 'stops at the first failure');
});
