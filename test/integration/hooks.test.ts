// Hooks at every point, on the real kernel: their order, the pid they get (the container's),
// where the container is when the stage pauses for them, the OCI state on stdin, and that a
// failing hook stops the start and leaves nothing behind (unless it is optional).
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { needsRoot, needsStage } from '../helpers.js';
import { probeHost } from '../../src/validate/host.js';
import { loadSpec } from '../../src/spec/load/index.js';
import { compile } from '../../src/plan/compile.js';
import { runPlan, type RunResult } from '../../src/runtime/launch/run.js';
import { realSys } from '../../src/runtime/sys/real.js';
import type { RuntimeEvent } from '../../src/events/types.js';
import type { HostFacts, LaunchPlan, Step } from '../../src/plan/types.js';
import { startStage } from '../../src/runtime/launch/stage.js';
import { RuntimeFailure } from '../../src/errors.js';
import { cgroupsLeft } from './running.js';

const skip = needsRoot() || needsStage();
const project = `hooktest${randomBytes(3).toString('hex')}`;
let dir = '';
let host: HostFacts;

const ALL_IN_ORDER = [
  'before_fork', 'after_fork', 'prestart', 'create_runtime', 'before_chroot', 'create_container',
  'after_chroot', 'start_container', 'before_start', 'after_start', 'poststart', 'teardown', 'poststop',
];
const OCI = new Set(['prestart', 'create_runtime', 'create_container', 'start_container', 'poststart', 'poststop']);

interface Ran { result?: RunResult; error?: Error; events: RuntimeEvent[]; plan: LaunchPlan; pid?: number }
async function run(file: string): Promise<Ran> {
  const spec = await loadSpec(file, { hostCgroupControllers: [...host.cgroup.v2Controllers, ...Object.keys(host.cgroup.v1)] });
  const plan = compile(spec, host, { id: `${spec.name}-${randomBytes(3).toString('hex')}`, project });
  const events: RuntimeEvent[] = [];
  const out: Ran = { events, plan };
  try {
    out.result = await runPlan(plan, { sys: realSys, spec, stdio: 'ignore', emit: (e) => events.push(e), stateDir: join(dir, 'state', spec.name) });
  } catch (e) {
    out.error = e as Error;
  }
  const st = events.find((e) => e.type === 'started');
  out.pid = st?.type === 'started' ? st.pid : undefined;
  return out;
}
const alive = (pid: number) => { try { process.kill(pid, 0); return true; } catch { return false; } };

describe('hooks', { skip }, () => {
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'niwa-hooks-test-'));
    chmodSync(dir, 0o755);
    host = probeHost({ stateRoot: join(dir, 'state') });
  });
  after(() => {
    assert.deepEqual(cgroupsLeft(project), []);
    assert.equal(readFileSync('/proc/self/mountinfo', 'utf8').includes(dir), false);
    rmSync(dir, { recursive: true, force: true });
  });

  test('every point runs, in order, with the container\'s pid; the stage pauses where the plan says', async () => {
    const log = join(dir, 'order.log');
    const hook = (point: string) => {
      const probe = point === 'after_fork' ? ' cg=$(grep -c niwa /proc/$NIWA_PID/cgroup)'
        : point === 'before_chroot' || point === 'after_chroot' ? ' inroot=$(test -d /proc/$NIWA_PID/root/only-in-container && echo yes || echo no)'
          : '';
      const stdin = OCI.has(point) ? ` cat > ${dir}/${point}.json;` : '';
      return `    ${point}: [${JSON.stringify(`${stdin} echo "${point} $NIWA_PID${probe}" >> ${log}`)}]`;
    };
    const file = join(dir, 'allpoints.container.yaml');
    writeFileSync(file, [
      'name: allpoints',
      'namespaces: [mount, uts, ipc, pid, net]',
      'mounts: [{type: tmpfs, target: /only-in-container}]',
      'process: {args: [/bin/sh, -c, "sleep 0.3"]}',
      'hooks:',
      ...ALL_IN_ORDER.map(hook),
      `    system_failure: ["echo system_failure >> ${log}"]`,
    ].join('\n') + '\n');
    const r = await run(file);
    assert.equal(r.error, undefined, String(r.error));
    assert.equal(r.result!.status, 0);
    const lines = readFileSync(log, 'utf8').trim().split('\n');
    assert.deepEqual(lines.map((l) => l.split(' ')[0]), ALL_IN_ORDER, 'every point once, in order; no system_failure');
    const pid = r.pid!;
    assert.ok(pid > 1);
    for (const l of lines.slice(1)) assert.equal(Number(l.split(' ')[1]), pid, `the container's pid: ${l}`);
    assert.equal(lines[0].trim(), 'before_fork', 'no pid before the fork');
    assert.match(lines[1], / cg=[1-9]/, 'after_fork: already in its cgroups');
    assert.match(lines[4], /^before_chroot .* inroot=no$/, 'before_chroot: the root is not switched yet');
    assert.match(lines[6], /^after_chroot .* inroot=yes$/, 'after_chroot: the root is switched');
    // OCI points get the runtime-spec state on stdin
    const state = (p: string) => JSON.parse(readFileSync(join(dir, `${p}.json`), 'utf8')) as { id: string; status: string; pid?: number; bundle: string };
    assert.deepEqual([state('create_runtime').status, state('create_runtime').pid, state('create_runtime').id], ['creating', pid, r.plan.id]);
    assert.equal(state('start_container').status, 'created');
    assert.equal(state('poststart').status, 'running');
    assert.equal(state('poststop').status, 'stopped');
    assert.equal(state('prestart').bundle, dir);
    // the plan shows each of them as a step
    assert.deepEqual(r.plan.steps.filter((s) => s.op === 'hook').map((s) => s.op === 'hook' && s.point).filter((p) => p !== 'system_failure'), ALL_IN_ORDER);
    assert.equal(r.plan.warnings.length, 0);
    assert.equal(alive(pid), false);
  });

  test('a failing hook at before_chroot stops the start, names the hook, runs system_failure, leaves nothing', async () => {
    const log = join(dir, 'fail.log');
    const file = join(dir, 'failing.container.yaml');
    writeFileSync(file, [
      'name: failing',
      'namespaces: [mount, uts, ipc, pid, net]',
      'cgroup: {pids: 16}',
      `process: {args: [/bin/sh, -c, "echo program-ran >> ${log}"]}`,
      'hooks:',
      `  after_fork: ["echo after_fork $NIWA_PID >> ${log}"]`,
      `  before_chroot: [{command: [/bin/sh, -c, "echo before_chroot >> ${log}; exit 3"]}]`,
      `  after_chroot: ["echo after_chroot >> ${log}"]`,
      `  system_failure: ["echo system_failure $NIWA_PID >> ${log}"]`,
    ].join('\n') + '\n');
    const r = await run(file);
    assert.ok(r.error, 'the start failed');
    assert.match(r.error.message, /hook before_chroot \(hooks\.before_chroot\.0\) failed: exited with 3/);
    const lines = readFileSync(log, 'utf8').trim().split('\n');
    assert.deepEqual(lines.map((l) => l.split(' ')[0]), ['after_fork', 'before_chroot', 'system_failure']);
    const pid = Number(lines[0].split(' ')[1]);
    assert.ok(pid > 1 && !alive(pid), 'the paused container process is gone');
    assert.equal(Number(lines[2].split(' ')[1]) || undefined, undefined, 'system_failure: no container any more');
    assert.deepEqual(cgroupsLeft(project), [], 'its cgroup was removed');
    const cleanup = r.events.find((e) => e.type === 'cleanup');
    assert.ok(cleanup && cleanup.type === 'cleanup' && cleanup.failed.length === 0);
  });

  test('an optional failing hook does not stop the start; it is reported as a warning', async () => {
    const file = join(dir, 'optional.container.yaml');
    writeFileSync(file, [
      'name: optional',
      'process: {args: [/bin/sh, -c, "exit 5"]}',
      'hooks:',
      '  after_chroot: [{command: [/bin/false], optional: true}]',
      '  poststart: [{command: [/bin/false], optional: true}]',
    ].join('\n') + '\n');
    const r = await run(file);
    assert.equal(r.error, undefined, String(r.error));
    assert.equal(r.result!.status, 5, 'the program ran');
    const warnings = r.events.filter((e) => e.type === 'warning').map((e) => (e.type === 'warning' ? e.message : ''));
    assert.equal(warnings.filter((w) => /hook (after_chroot|poststart) .* failed: exited with 1 \(optional/.test(w)).length, 2, warnings.join('\n'));
  });

  test('a failing after_start hook stops the running container and rolls back', async () => {
    const file = join(dir, 'afterstart.container.yaml');
    writeFileSync(file, 'name: afterstart\ncgroup: {pids: 16}\nprocess: {args: [/bin/sleep, "30"]}\nhooks:\n  after_start: ["exit 9"]\n');
    const t0 = Date.now();
    const r = await run(file);
    assert.match(String(r.error), /hook after_start \(hooks\.after_start\.0\) failed: exited with 9/);
    assert.ok(Date.now() - t0 < 10_000, 'the container was killed, not waited for');
    assert.ok(r.pid && !alive(r.pid));
  });

  test('stage protocol: the parent reports its child\'s pid, the child pauses; no runner or a failing runner stops the start', async () => {
    const steps = (parts: [string, object][]): LaunchPlan => ({
      version: 1, name: 't', id: 't', project, spec: '', rootDir: '/', cgroups: [], tty: false, warnings: [],
      steps: parts.map(([phase, op], index) => ({ ...op, phase, index, field: `f${index}`, why: 'test' }) as Step),
    });
    const p = steps([
      ['clone', { op: 'clone', flags: ['CLONE_NEWPID'] }],
      ['parent', { op: 'hook', point: 'after_fork', hook: 0, optional: false }],
      ['parent', { op: 'release_child' }],
      ['child', { op: 'wait_parent' }],
      ['child', { op: 'hook', point: 'before_start', hook: 1, optional: false }],
      ['child', { op: 'execve', path: '/bin/sh', argv: ['sh', '-c', 'echo $$'], env: [] }],
    ]);
    const seen: string[] = [];
    const h = startStage(p, { stdio: ['ignore', 'pipe', 'ignore'], onHook: async (step, pid) => { seen.push(`${step.point} ${pid}`); } });
    let out = '';
    h.stdout!.setEncoding('utf8').on('data', (d: string) => { out += d; });
    await h.started;
    const pid = await h.pid;
    assert.equal((await h.exited).code, 0);
    assert.deepEqual(seen, [`after_fork ${pid}`, `before_start ${pid}`]);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(out, '1\n', 'the program ran after both pauses');

    const none = startStage(p, { stdio: 'ignore' });
    await assert.rejects(none.started, /hook after_fork\[0\]: this launcher was given no hook runner/);
    assert.equal((await none.exited).code, 125);
    const failing = startStage(p, { stdio: 'ignore', onHook: async (step) => { if (step.point === 'before_start') throw new RuntimeFailure('E_HOOK', 'nope'); } });
    await assert.rejects(failing.started, (e: Error) => e.message === 'nope');
    const fpid = await failing.pid;
    await failing.exited;
    assert.equal(alive(fpid), false, 'the paused child was killed');
  });

  test('a function hook of a .container.ts spec gets the typed context', async () => {
    const out = join(dir, 'ctx.json');
    const tsDir = join(dir, 'ts');
    mkdirSync(tsDir);
    // (an ES module scope: in a directory without package.json the spec would load as CommonJS)
    writeFileSync(join(tsDir, 'package.json'), '{"type": "module"}\n');
    const file = join(tsDir, 'fnhook.container.ts');
    writeFileSync(file, `import { appendFileSync, existsSync } from 'node:fs';
export default {
  name: 'fnhook',
  namespaces: ['mount', 'uts', 'pid'],
  process: { args: ['/bin/true'] },
  hooks: {
    after_chroot: (ctx: { point: string; name: string; pid?: number; stateDir: string; spec: { name: string; process: { args: string[] } } }) => {
      appendFileSync(${JSON.stringify(out)}, JSON.stringify({ point: ctx.point, name: ctx.name, pid: ctx.pid, stateDir: ctx.stateDir, spec: ctx.spec.name, args: ctx.spec.process.args, root: existsSync('/proc/' + ctx.pid + '/root/proc/1') }) + '\\n');
    },
    before_fork: [async (ctx: { point: string; pid?: number }) => { appendFileSync(${JSON.stringify(out)}, JSON.stringify({ point: ctx.point, pid: ctx.pid ?? null }) + '\\n'); }],
  },
};
`);
    const r = await run(file);
    assert.equal(r.error, undefined, String(r.error));
    const got = readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    assert.deepEqual(got[0], { point: 'before_fork', pid: null });
    assert.deepEqual(got[1], { point: 'after_chroot', name: 'fnhook', pid: r.pid, stateDir: join(dir, 'state', 'fnhook'), spec: 'fnhook', args: ['/bin/true'], root: true });
    assert.ok(existsSync(file));
  });
});
