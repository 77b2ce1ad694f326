// Lifecycle points under faults (issue #13 finding 6 and the fault suite): a stop of a PID 1 that
// ignores SIGTERM shows 'stopping' for its grace period; the supervisor SIGKILLed in that period
// leaves a stop that still completes; the supervisor SIGKILLed while a container is paused and while
// it waits to restart; a foreground run whose shim is SIGKILLed says the container was killed.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { needsRoot, needsStage, niwaBin, repoRoot } from '../helpers.js';
import { makeBox, until, alive, sh, type Box } from './box.js';
import type { ContainerState } from '../../src/runtime/state.js';

const skip = needsRoot() || needsStage();
let box: Box;
before(() => { if (!skip) box = makeBox('points'); });
after(async () => { await box?.cleanup(); });

function runAsync(p: string, args: string[]): { done: Promise<{ status: number; stderr: string }>; pid: number } {
  const c = spawn(process.execPath, [niwaBin, args[0], '--project', p, ...args.slice(1)], { cwd: repoRoot, env: box.env(), stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  c.stderr!.on('data', (d) => { stderr += d; });
  return { pid: c.pid!, done: new Promise((resolve) => c.on('close', (code, sig) => resolve({ status: code ?? 128 + (sig === 'SIGKILL' ? 9 : 15), stderr }))) };
}
const stateOf = (p: string, name: string) => { try { return JSON.parse(readFileSync(join(box.state, p, name, 'state.json'), 'utf8')) as ContainerState; } catch { return undefined; } };
const IGNORES_TERM = sh('trap "" TERM; while :; do sleep 0.1; done');

test('stop of a PID 1 that ignores SIGTERM: ps says stopping during the grace period, then stopped', { skip, timeout: 60_000 }, async () => {
  const p = box.project('stopping');
  assert.equal(box.cli(p, ['run', '-d', box.spec('stub', IGNORES_TERM)]).status, 0);
  const st = await until('running', () => stateOf(p, 'stub')?.status === 'running' && stateOf(p, 'stub'));
  const stop = runAsync(p, ['stop', '-t', '3', 'stub']);
  const t0 = Date.now();
  await until('ps to say stopping', () => box.ps(p).stub?.status === 'stopping', 2_500);
  assert.ok(Date.now() - t0 < 3_000, 'within the grace period');
  assert.ok(alive(st.pid), 'it still runs: it ignores SIGTERM');
  const r = await stop.done;
  assert.equal(r.status, 0, r.stderr);
  assert.ok(Date.now() - t0 >= 2_500, 'the grace period was waited');
  assert.equal(box.ps(p).stub.status, 'stopped(137)');
  assert.equal(box.cli(p, ['rm', 'stub']).status, 0);
  await box.assertNothingLeft(p, [st.pid, st.stagePid]);
});

test('the supervisor SIGKILLed during a stop\'s grace period: the stop still completes', { skip, timeout: 60_000 }, async () => {
  const p = box.project('stopkill');
  assert.equal(box.cli(p, ['run', '-d', box.spec('stub', `stop_grace_period: 2s\n${IGNORES_TERM}`)]).status, 0);
  const st = await until('running', () => stateOf(p, 'stub')?.status === 'running' && stateOf(p, 'stub'));
  const stop = runAsync(p, ['stop', 'stub']);
  await until('stopping', () => stateOf(p, 'stub')?.status === 'stopping', 5_000);
  process.kill(box.supervisorPid(p)!, 'SIGKILL');
  const r = await stop.done;
  assert.equal(r.status, 0, r.stderr);
  await until('the container to end', () => !alive(st.pid), 10_000);
  assert.match(box.ps(p).stub.status, /^stopped/);
  assert.equal(box.cli(p, ['rm', 'stub']).status, 0);
  await box.assertNothingLeft(p, [st.pid, st.stagePid]);
});

test('the supervisor SIGKILLed while paused and while waiting to restart: the new one carries on', { skip, timeout: 60_000 }, async () => {
  const p = box.project('pausekill');
  assert.equal(box.cli(p, ['run', '-d', box.spec('pz', sh('exec sleep 300'))]).status, 0);
  assert.equal(box.cli(p, ['run', '-d', box.spec('rs', `restart: always\n${sh('sleep 1; exit 3')}`)]).status, 0);
  const st = await until('running', () => stateOf(p, 'pz')?.status === 'running' && stateOf(p, 'pz'));
  assert.equal(box.cli(p, ['pause', 'pz']).status, 0);
  await until('rs to wait for its restart', () => stateOf(p, 'rs')?.status === 'restarting', 15_000);
  process.kill(box.supervisorPid(p)!, 'SIGKILL');
  const rows = box.ps(p);
  assert.equal(rows.pz.status, 'paused');
  assert.equal(box.cli(p, ['unpause', 'pz']).status, 0, 'a new supervisor unpauses it');
  assert.equal(box.ps(p).pz.status, 'running');
  await until('rs to be restarted by the new supervisor', () => (stateOf(p, 'rs')?.restarts ?? 0) >= 1 && stateOf(p, 'rs')?.status === 'running', 15_000);
  const rm = box.cli(p, ['rm', '-f', 'pz', 'rs']);
  assert.equal(rm.status, 0, rm.stderr);
  await box.assertNothingLeft(p, [st.pid, st.stagePid]);
});

test('a foreground run whose shim is SIGKILLed says the container was killed, and leaves nothing', { skip, timeout: 60_000 }, async () => {
  const p = box.project('fgshim');
  const run = runAsync(p, ['run', box.spec('fg', sh('exec sleep 300'))]);
  const st = await until('running', () => { const s = stateOf(p, 'fg'); return s?.status === 'running' && s.stagePid ? s : undefined; }, 15_000);
  process.kill(st.stagePid!, 'SIGKILL');
  const r = await run.done;
  assert.equal(r.status, 137);
  assert.match(r.stderr, /niwa: warning: the container's shim \(the niwa stage, pid \d+\) was killed by SIGKILL: the container is killed with it/, r.stderr);
  await until('the container to end', () => !alive(st.pid), 5_000);
  assert.equal(existsSync(join(box.state, p, 'fg')), false);
  await box.assertNothingLeft(p, [st.pid]);
});
