// A single container's prepare runs consecutive `ip` steps of one namespace as one `ip -batch`
// process (host-steps.ts ipBatchAt/runIpBatch, used by start.ts): which steps group, that each is
// still reported in the plan's order, and that a failure inside a batch names the exact step.
// Real `ip` on harmless commands (`link show lo`, a device that does not exist): no root needed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { FakeSys } from '../../../src/runtime/sys/fake.js';
import { startPlan } from '../../../src/runtime/launch/start.js';
import { ipBatchAt } from '../../../src/runtime/launch/host-steps.js';
import { compile } from '../../../src/plan/compile.js';
import { loadSpecObject } from '../../../src/spec/load/index.js';
import { genericHost } from '../../../src/validate/host.js';
import type { RuntimeEvent } from '../../../src/events/types.js';
import type { LaunchPlan, Step } from '../../../src/plan/types.js';
import { repoRoot } from '../../helpers.js';

const host = { ...genericHost(), stateRoot: '/nonexistent-niwa-test/state', cgroup: { ...genericHost().cgroup, unified: '/nonexistent-niwa-test/cg' } };
const noIp = ['/usr/sbin/ip', '/sbin/ip', '/usr/bin/ip', '/bin/ip'].some(existsSync) ? false : 'no `ip` (iproute2) on this host';

const ip = (index: number, args: string[], extra: Partial<Extract<Step, { op: 'ip' }>> = {}): Step =>
  ({ op: 'ip', args, index, phase: 'prepare', field: `network.test[${index}]`, why: 'test', ...extra }) as Step;

async function planWith(steps: Step[]): Promise<{ plan: LaunchPlan; spec: Awaited<ReturnType<typeof loadSpecObject>> }> {
  const spec = await loadSpecObject({ name: 'b', process: { args: ['/bin/true'] } }, join(repoRoot, 'x.container.yaml'), { hostCgroupControllers: host.cgroup.v2Controllers });
  const plan = compile(spec, host, { id: 'b-1', project: 't' });
  return { spec, plan: { ...plan, steps, cgroups: [] } };
}

test('ipBatchAt: consecutive ip steps of one namespace group; a namespace change, niwa\'s bridge (ifMissing) or another op ends the group', () => {
  const steps = [
    ip(0, ['link', 'add', 'name', 'br', 'type', 'bridge'], { ifMissing: 'br' }),
    ip(1, ['link', 'set', 'br', 'up'], { ifMissing: 'br' }),
    ip(1, ['link', 'set', 'v', 'master', 'br']),
    ip(2, ['link', 'set', 'v', 'up']),
    ip(3, ['link', 'set', 'lo', 'up'], { netns: '/x' }),
    ip(4, ['addr', 'add', '10.0.0.2/24', 'dev', 'eth0'], { netns: '/x' }),
    { op: 'mkdir', path: '/tmp/x', mode: 0o755, index: 5, phase: 'prepare', field: '', why: '' } as Step,
    ip(6, ['link', 'set', 'lo', 'up'], { netns: '/x' }),
  ];
  steps.forEach((s, i) => { s.index = i; });
  assert.deepEqual(ipBatchAt(steps, 0).map((s) => s.index), [0, 1], 'niwa\'s bridge: its steps together, apart from the others');
  assert.deepEqual(ipBatchAt(steps, 2).map((s) => s.index), [2, 3]);
  assert.deepEqual(ipBatchAt(steps, 4).map((s) => s.index), [4, 5]);
  assert.deepEqual(ipBatchAt(steps, 6), [], 'not an ip step');
  assert.deepEqual(ipBatchAt(steps, 7), [], 'a group of one runs alone');
  const was = process.env.NIWA_TEST_FAIL_STEP;
  process.env.NIWA_TEST_FAIL_STEP = '3';
  try {
    assert.deepEqual(ipBatchAt(steps, 2), [], 'the step the failure injection aims at is not batched');
  } finally {
    if (was === undefined) delete process.env.NIWA_TEST_FAIL_STEP; else process.env.NIWA_TEST_FAIL_STEP = was;
  }
});

test('a batch reports every step in the plan\'s order', { skip: noIp }, async () => {
  const { plan, spec } = await planWith([ip(0, ['link', 'show', 'lo']), ip(1, ['addr', 'show', 'dev', 'lo']), ip(2, ['route', 'show'])]);
  const events: RuntimeEvent[] = [];
  let staged = false;
  await assert.rejects(startPlan(plan, { sys: new FakeSys(), spec, stdio: 'ignore', emit: (e) => events.push(e), startStage: () => { staged = true; throw new Error('stage reached'); } }), /stage reached/);
  assert.ok(staged, 'the stage runs after the batch');
  assert.deepEqual(events.filter((e) => e.type === 'step').map((e) => e.type === 'step' && [e.index, e.ok]), [[0, true], [1, true], [2, true]]);
});

test('a step failing inside a batch is named exactly (its command, its spec field); the later steps do not run', { skip: noIp }, async () => {
  const { plan, spec } = await planWith([ip(0, ['link', 'show', 'lo']), ip(1, ['link', 'show', 'niwa-no-such-dev']), ip(2, ['link', 'show', 'lo'])]);
  const events: RuntimeEvent[] = [];
  await assert.rejects(startPlan(plan, { sys: new FakeSys(), spec, stdio: 'ignore', emit: (e) => events.push(e), startStage: () => { throw new Error('stage reached'); } }), (e: Error & { field?: string }) => {
    assert.match(e.message, /ip link show niwa-no-such-dev: .*(does not exist|Cannot find device)/);
    assert.equal(e.field, 'network.test[1]');
    return true;
  });
  const steps = events.filter((e) => e.type === 'step').map((e) => e.type === 'step' && [e.index, e.ok]);
  assert.deepEqual(steps, [[0, true], [1, false]], 'the steps before it are done, the failed one is reported, nothing after it');
});

test('niwa\'s bridge that exists before its `link add`: its batch is skipped, each step reported done', { skip: noIp }, async () => {
  // `lo` always exists: were the batch run, `ip link add name lo` would fail with "File exists"
  const { plan, spec } = await planWith([ip(0, ['link', 'add', 'name', 'lo', 'type', 'bridge'], { ifMissing: 'lo' }), ip(1, ['addr', 'add', '10.255.255.1/32', 'dev', 'lo'], { ifMissing: 'lo' }), ip(2, ['link', 'show', 'lo'])]);
  const events: RuntimeEvent[] = [];
  await assert.rejects(startPlan(plan, { sys: new FakeSys(), spec, stdio: 'ignore', emit: (e) => events.push(e), startStage: () => { throw new Error('stage reached'); } }), /stage reached/);
  assert.deepEqual(events.filter((e) => e.type === 'step').map((e) => e.type === 'step' && [e.index, e.ok]), [[0, true], [1, true], [2, true]]);
  assert.doesNotMatch(spawnSync('ip', ['-o', 'addr', 'show', 'dev', 'lo'], { encoding: 'utf8' }).stdout, /10\.255\.255\.1/, 'nothing was added to lo');
});
