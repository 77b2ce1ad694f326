// A start that fails at any step is rolled back completely (issue #13, fault suite): with
// NIWA_TEST_FAIL_STEP (runtime/launch/inject.ts, native/stage.h) every step before execve fails in
// turn — each host prepare step, each stage, parent and child op — and after each failure: the
// error names that step, the stage and the container are gone, and no cgroup, mount or namespace
// mount of the plan is left. Through the CLI too (foreground and run -d), where the state record
// must go as well.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { needsRoot, needsStage } from '../helpers.js';
import { makeBox, alive, type Box } from './box.js';
import { loadSpec } from '../../src/spec/load/index.js';
import { compile } from '../../src/plan/compile.js';
import { probeHost } from '../../src/validate/host.js';
import { startPlan } from '../../src/runtime/launch/start.js';
import { realSys } from '../../src/runtime/sys/real.js';
import { RuntimeFailure } from '../../src/errors.js';
import type { LaunchPlan } from '../../src/plan/types.js';

const skip = needsRoot() || needsStage();
let box: Box;
before(() => { if (!skip) box = makeBox('inject'); });
after(async () => { delete process.env.NIWA_TEST_FAIL_STEP; await box?.cleanup(); });

const SPEC = (dir: string) => [
  'name: inj',
  'namespaces: [mount, uts, ipc, pid, net, cgroup]',
  'hostname: inj-box',
  'cgroup: {memory: 64M, pids: 64}',
  'mounts:',
  '  - {type: tmpfs, target: /scratch, size: 8M}',
  `  - {type: bind, source: ${dir}, target: /data, readonly: true}`,
  'process:',
  '  args: [/bin/sh, -c, "echo ran"]',
  '',
].join('\n');

const mountsUnder = (path: string) => readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes(path));
const leftCgroups = (plan: LaunchPlan) => plan.cgroups.filter((c) => existsSync(c));

test('a start failing at each step before execve, in turn, leaves nothing behind', { skip, timeout: 240_000 }, async () => {
  const file = join(box.dir, 'inj.container.yaml');
  writeFileSync(file, SPEC(box.dir));
  const host = probeHost({ stateRoot: box.state });
  const spec = await loadSpec(file, { hostCgroupControllers: [...host.cgroup.v2Controllers, ...Object.keys(host.cgroup.v1)] });
  const mountsBefore = mountsUnder(box.dir).length;
  const steps = compile(spec, host, { id: 'probe', project: 'x' }).steps.filter((s) => s.phase !== 'cleanup' && s.op !== 'execve');
  assert.ok(steps.length > 60, `${steps.length} steps`);
  const byPhase: Record<string, number> = {};
  for (const step of steps) {
    const p = box.project(`s${step.index}`);
    const plan = compile(spec, host, { id: `inj-${step.index}`, project: p });
    process.env.NIWA_TEST_FAIL_STEP = String(step.index);
    let stagePid: number | undefined;
    let err: unknown;
    try {
      const started = await startPlan(plan, { sys: realSys, spec, stdio: 'ignore', onStage: (h) => { stagePid = h.process.pid; } });
      started.handle.kill('SIGKILL');
      await started.handle.exited;
    } catch (e) { err = e; }
    delete process.env.NIWA_TEST_FAIL_STEP;
    const what = `step ${step.index} (${step.phase} ${step.op})`;
    assert.ok(err instanceof RuntimeFailure, `${what}: the start failed with a RuntimeFailure, not ${String(err)}`);
    assert.match((err as Error).message, new RegExp(`\\(step ${step.index}, ${step.phase}\\)|EIO`), `${what}: ${(err as Error).message}`);
    assert.ok(!alive(stagePid), `${what}: the stage is gone`);
    assert.deepEqual(leftCgroups(plan), [], `${what}: its cgroups are gone`);
    assert.equal(mountsUnder(box.dir).length, mountsBefore, `${what}: no mount is left`);
    byPhase[step.phase] = (byPhase[step.phase] ?? 0) + 1;
  }
  process.stderr.write(`# failure injected at ${steps.length} steps (${Object.entries(byPhase).map(([k, v]) => `${k} ${v}`).join(', ')}), each rolled back\n`);
});

test('the container killed during setup (as by the OOM killer): said so, OOM named when the cgroup counted one, rolled back', { skip, timeout: 120_000 }, async () => {
  const file = join(box.dir, 'injk.container.yaml');
  writeFileSync(file, SPEC(box.dir).replace('name: inj', 'name: injk'));
  const host = probeHost({ stateRoot: box.state });
  const spec = await loadSpec(file, { hostCgroupControllers: [...host.cgroup.v2Controllers, ...Object.keys(host.cgroup.v1)] });
  const parentSteps = compile(spec, host, { id: 'probe', project: 'x' }).steps.filter((s) => s.phase === 'parent');
  assert.ok(parentSteps.some((s) => s.op === 'release_child'));
  for (const step of parentSteps) {
    for (const oom of [false, true]) {
      const p = box.project(`k${step.index}${oom ? 'o' : ''}`);
      const plan = compile(spec, host, { id: `injk-${step.index}`, project: p });
      process.env.NIWA_TEST_FAIL_STEP = `${step.index}:kill`;
      let stagePid: number | undefined;
      const err = await startPlan(plan, { sys: realSys, spec, stdio: 'ignore', onStage: (h) => { stagePid = h.process.pid; }, ...(oom ? { oomCheck: () => true } : {}) })
        .then((s) => { s.handle.kill('SIGKILL'); return undefined; }, (e: unknown) => e);
      delete process.env.NIWA_TEST_FAIL_STEP;
      const what = `killed at step ${step.index} (${step.op})${oom ? ' with an OOM kill counted' : ''}`;
      assert.ok(err instanceof RuntimeFailure, `${what}: ${String(err)}`);
      if (oom) assert.match(err.message, /was killed by the OOM killer during setup \(cgroup memory limit 67108864 bytes\)/, what);
      else assert.match(err.message, /the container's process was killed by SIGKILL during setup/, `${what}: ${err.message}`);
      assert.doesNotMatch(err.message, /EPIPE/);
      assert.ok(!alive(stagePid), `${what}: the stage is gone`);
      assert.deepEqual(leftCgroups(plan), [], `${what}: its cgroups are gone`);
    }
  }
});

test('the CLI: a failed foreground run and a failed run -d leave no record, no cgroup, no process', { skip, timeout: 120_000 }, async () => {
  const file = join(box.dir, 'inj2.container.yaml');
  writeFileSync(file, SPEC(box.dir).replace('name: inj', 'name: inj2'));
  const host = probeHost({ stateRoot: box.state });
  const spec = await loadSpec(file, { hostCgroupControllers: [...host.cgroup.v2Controllers, ...Object.keys(host.cgroup.v1)] });
  const steps = compile(spec, host, { id: 'probe', project: 'x' }).steps;
  // one step of each phase that exists
  const picks = ['prepare', 'stage', 'clone', 'parent', 'child'].map((ph) => steps.find((s) => s.phase === ph)).filter((s) => s !== undefined);
  for (const step of picks) {
    for (const detach of [false, true]) {
      const p = box.project(`cli${step.index}${detach ? 'd' : ''}`);
      const r = (await import('../helpers.js')).niwa(['run', '--project', p, ...(detach ? ['-d'] : []), file], { env: { ...box.env(), NIWA_TEST_FAIL_STEP: String(step.index) } });
      const what = `${detach ? 'run -d' : 'run'} failing at step ${step.index} (${step.phase} ${step.op})`;
      assert.notEqual(r.status, 0, what);
      assert.match(r.stderr, /^niwa: .*EIO/m, `${what}: ${r.stderr}`);
      assert.doesNotMatch(r.stderr, /internal error|\n\s+at /, `${what}: ${r.stderr}`);
      assert.equal(existsSync(join(box.state, p, 'inj2')), false, `${what}: the record is gone`);
      await box.assertNothingLeft(p);
    }
  }
});

test('the stage report of a child killed during setup parses, and the variable is read only in its two forms', async () => {
  const { parseReport } = await import('../../src/runtime/launch/stage.js');
  const { injectedFailStep } = await import('../../src/runtime/launch/inject.js');
  assert.deepEqual(parseReport('killed 31 9\n'), { type: 'killed', index: 31, signal: 9 });
  assert.equal(parseReport('killed x 9'), undefined);
  const old = process.env.NIWA_TEST_FAIL_STEP;
  try {
    for (const [v, want] of [['12', 12], ['31:kill', 31], ['', undefined], ['x', undefined], ['3;rm', undefined]] as const) {
      process.env.NIWA_TEST_FAIL_STEP = v;
      assert.equal(injectedFailStep(), want, v);
    }
  } finally {
    if (old === undefined) delete process.env.NIWA_TEST_FAIL_STEP; else process.env.NIWA_TEST_FAIL_STEP = old;
  }
});
