// The execute layer without root: prepare steps go through Sys in plan order, a failure at
// any step stops the start before the stage runs, and cleanup runs after success and failure.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { FakeSys } from '../../../src/runtime/sys/fake.js';
import { runPlan } from '../../../src/runtime/launch/run.js';
import { compile } from '../../../src/plan/compile.js';
import { loadSpecObject } from '../../../src/spec/load/index.js';
import { genericHost } from '../../../src/validate/host.js';
import type { RuntimeEvent } from '../../../src/events/types.js';
import type { StageHandle } from '../../../src/runtime/launch/stage.js';
import { repoRoot } from '../../helpers.js';

const host = { ...genericHost(), stateRoot: '/nonexistent-niwa-test/state', cgroup: { ...genericHost().cgroup, unified: '/nonexistent-niwa-test/cg' } };

async function plan() {
  const spec = await loadSpecObject({ name: 'u', process: { args: ['/bin/true'] }, cgroup: { memory: '16M', pids: 8 } }, join(repoRoot, 'x.container.yaml'), { hostCgroupControllers: host.cgroup.v2Controllers });
  return { spec, plan: compile(spec, host, { id: 'u-1', project: 't' }) };
}

function fakeStage(outcome: 'ok' | 'fail', calls: string[]) {
  return ((): StageHandle => {
    calls.push('stage');
    const failure = Object.assign(new Error('pivot_root `.`: EINVAL — spec field root'), {});
    const h = {
      pid: Promise.resolve(4242),
      started: outcome === 'ok' ? Promise.resolve() : Promise.reject(failure),
      exited: Promise.resolve({ code: outcome === 'ok' ? 3 : 127, signal: null }),
      kill: () => true,
    } as unknown as StageHandle;
    h.started.catch(() => {});
    return h;
  });
}

test('prepare steps run through Sys in plan order, then the stage; exit status is returned', async () => {
  const { spec, plan: p } = await plan();
  const sys = new FakeSys();
  const calls: string[] = [];
  const events: RuntimeEvent[] = [];
  const r = await runPlan(p, { sys, spec, startStage: fakeStage('ok', calls), emit: (e) => events.push(e) });
  assert.equal(r.status, 3);
  const prepared = p.steps.filter((s) => s.phase === 'prepare');
  const sysCalls = sys.calls.filter((c) => c.call === 'mkdir' || c.call === 'writeFile').map((c) => c.args[0]);
  assert.deepEqual(sysCalls, prepared.map((s) => ('path' in s ? s.path : '')));
  assert.deepEqual(calls, ['stage']);
  assert.ok(events.some((e) => e.type === 'started' && e.pid === 4242));
  const cleanup = events.find((e) => e.type === 'cleanup');
  assert.ok(cleanup && cleanup.type === 'cleanup' && cleanup.removed.length === p.steps.filter((s) => s.phase === 'cleanup').length);
});

test('a failing prepare step (the Nth Sys call) stops the start: no stage, cleanup still runs', async () => {
  const { spec, plan: p } = await plan();
  const prepared = p.steps.filter((s) => s.phase === 'prepare');
  for (let n = 1; n <= prepared.length; n++) {
    const sys = new FakeSys().failOn(n, 'EACCES');
    const calls: string[] = [];
    const events: RuntimeEvent[] = [];
    await assert.rejects(runPlan(p, { sys, spec, startStage: fakeStage('ok', calls), emit: (e) => events.push(e) }), (e: Error) => {
      assert.match(e.message, /EACCES — spec field /);
      return true;
    });
    assert.deepEqual(calls, [], `call ${n} failed: the stage must not start`);
    assert.ok(events.some((e) => e.type === 'cleanup'), 'cleanup ran');
  }
});

test('a failed start in the stage rejects and cleans up', async () => {
  const { spec, plan: p } = await plan();
  const events: RuntimeEvent[] = [];
  await assert.rejects(runPlan(p, { sys: new FakeSys(), spec, startStage: fakeStage('fail', []), emit: (e) => events.push(e) }), /EINVAL/);
  assert.equal(events.at(-1)?.type, 'cleanup');
});
