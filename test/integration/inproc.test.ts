// The EXPERIMENTAL in-process launch (src/runtime/launch/inproc.ts, native/lib/inproc.c) on the
// real kernel: a compiled plan runs as PID 1 with its hostname, 200 launches leave no fd and no
// process behind in this (the launching) process, and plans it cannot run are refused before
// anything is cloned. Needs root and native/build/libniwa-stage.so (skips otherwise).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { needsRoot } from '../helpers.js';
import { launchInProcess, inProcessLibPath } from '../../src/runtime/launch/inproc.js';
import { loadSpec } from '../../src/spec/load/index.js';
import { compile } from '../../src/plan/compile.js';
import { probeHost } from '../../src/validate/host.js';
import { RuntimeFailure } from '../../src/errors.js';
import type { LaunchPlan } from '../../src/plan/types.js';

const skip = needsRoot() || (existsSync(inProcessLibPath()) ? false : `the in-process stage library was not built (${inProcessLibPath()})`);
let dir = '';

before(() => {
  if (skip) return;
  dir = mkdtempSync(join(tmpdir(), 'niwa-inproc-test-'));
  chmodSync(dir, 0o755);
});
after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** A plan compiled from a spec on this host, without cgroups; its prepare step (the root's mount point) done. */
async function planOf(name: string, yaml: string): Promise<LaunchPlan> {
  const file = join(dir, `${name}.container.yaml`);
  writeFileSync(file, `name: ${name}\n${yaml}`);
  const host = { ...probeHost({ stateRoot: join(dir, 'state') }), cgroup: { kind: 'v1' as const, v2Controllers: [], v1: {} } };
  const plan = compile(await loadSpec(file), host, { id: name, project: 'test' });
  for (const s of plan.steps) {
    if (s.phase === 'prepare' && s.op === 'mkdir') mkdirSync(s.path, { recursive: true, mode: s.mode });
    else if (s.phase === 'prepare' || s.phase === 'cleanup') throw new Error(`unexpected ${s.phase} step ${s.op}`);
  }
  return plan;
}
const NS = 'namespaces: [mount, uts, ipc, pid, net]\n';
const openFds = () => readdirSync('/proc/self/fd').length;
/** Processes whose parent is this process (an unreaped container would show here, as a zombie too). */
const ourChildren = () => readdirSync('/proc').filter((d) => /^\d+$/.test(d)).filter((d) => {
  try { return readFileSync(`/proc/${d}/stat`, 'utf8').replace(/^.*\) /, '').split(' ')[1] === String(process.pid); } catch { return false; }
});

test('in-process: the container runs as PID 1 with the plan\'s hostname, its stdio only', { skip }, async () => {
  const plan = await planOf('ident', `${NS}hostname: inproc-box\nprocess:\n  args: [/bin/sh, -c, 'echo "$(hostname) pid=$$"; ls /proc/self/fd | tr "\\n" " "']\n`);
  const out = join(dir, 'ident.out');
  const fd = openSync(out, 'w');
  try {
    const c = await launchInProcess(plan, { stdio: [-1, fd, fd] });
    assert.ok(c.pid > 0);
    assert.deepEqual(await c.exited, { code: 0, signal: null });
  } finally {
    closeSync(fd);
  }
  const [first, fds] = readFileSync(out, 'utf8').split('\n');
  assert.equal(first, 'inproc-box pid=1');
  assert.equal(fds.trim(), '0 1 2 3', 'only stdio (+ ls\'s own directory fd) reaches the container, none of Node\'s');
});

test('in-process: 200 launches, no failure, no leaked fd, no leftover process', { skip }, async () => {
  const plan = await planOf('many', `${NS}hostname: many\nprocess: {args: [/bin/true]}\n`);
  await (await launchInProcess(plan)).exited; // loads koffi and the library first
  const fds = openFds();
  const pids: number[] = [];
  for (let i = 0; i < 200; i++) {
    const c = await launchInProcess(plan, { mode: i % 2 ? 'sync' : 'async' });
    pids.push(c.pid);
    assert.deepEqual(await c.exited, { code: 0, signal: null }, `launch ${i}`);
  }
  assert.equal(new Set(pids).size, 200);
  assert.equal(openFds(), fds, 'no fd leaked (pipes, pidfds)');
  assert.deepEqual(ourChildren(), [], 'every container was reaped');
});

test('in-process: kill() reaches the container through its pidfd; exited reports the signal', { skip }, async () => {
  const plan = await planOf('sleeper', `${NS}process: {args: [/bin/sleep, '30']}\n`);
  const c = await launchInProcess(plan);
  assert.equal(c.kill('SIGKILL'), true);
  assert.deepEqual(await c.exited, { code: null, signal: 9 });
  assert.equal(c.kill('SIGKILL'), false, 'reaped: nothing to signal');
  assert.deepEqual(ourChildren(), []);
});

test('in-process: a failing step is reported like the executable reports it, and cleaned up', { skip }, async () => {
  const plan = await planOf('missing', `${NS}process: {args: [/no/such/program]}\n`);
  const fds = openFds();
  await assert.rejects(launchInProcess(plan), (e: unknown) => e instanceof RuntimeFailure && e.code === 'E_STEP' && /execve `\/no\/such\/program`: ENOENT/.test(e.message));
  assert.equal(openFds(), fds);
  assert.deepEqual(ourChildren(), [], 'the failed container was killed and reaped');
});

test('in-process: plans that would act on Node itself are refused before anything is cloned', { skip }, async () => {
  const plan = await planOf('refused', `${NS}process: {args: [/bin/true]}\n`);
  const cl = plan.steps.find((s) => s.phase === 'clone')!;
  const withStage: LaunchPlan = { ...plan, steps: [{ op: 'unshare', flags: ['CLONE_NEWTIME'], phase: 'stage', index: 999, field: 'test', why: 'test' }, ...plan.steps] };
  await assert.rejects(launchInProcess(withStage), (e: unknown) => e instanceof RuntimeFailure && e.code === 'E_INPROC_UNSUPPORTED' && /stage phase/.test(e.message));
  await assert.rejects(launchInProcess({ ...plan, tty: true }), (e: unknown) => e instanceof RuntimeFailure && e.code === 'E_INPROC_UNSUPPORTED');
  assert.ok(cl);
  assert.deepEqual(ourChildren(), []);
});
