// Killed in the middle (issue #13 findings 3 and 4): the supervisor SIGKILLed again and again while
// 20 `run -d` are in flight — each run either succeeds or fails cleanly (never "already exists" for
// its own retry), and no `exited(unknown)` stub is left; and shim and supervisor both killed under
// a running container — ps tells the truth from its cgroup (running, unsupervised) and stop / rm -f
// act on the processes there.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { needsRoot, needsStage, niwaBin, repoRoot } from '../helpers.js';
import { makeBox, until, alive, sh, type Box } from './box.js';
import type { ContainerState } from '../../src/runtime/state.js';

const skip = needsRoot() || needsStage();
let box: Box;
before(() => { if (!skip) box = makeBox('kill'); });
after(async () => { await box?.cleanup(); });

function runAsync(p: string, args: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, [niwaBin, args[0], '--project', p, ...args.slice(1)], { cwd: repoRoot, env: box.env() });
    let stdout = '';
    let stderr = '';
    c.stdout.on('data', (d) => { stdout += d; });
    c.stderr.on('data', (d) => { stderr += d; });
    c.on('close', (code) => resolve({ status: code ?? -1, stdout, stderr }));
  });
}
const stateOf = (p: string, name: string) => JSON.parse(readFileSync(join(box.state, p, name, 'state.json'), 'utf8')) as ContainerState;

test('the supervisor SIGKILLed at several points of 20 in-flight run -d: each succeeds or fails cleanly, no stub', { skip, timeout: 180_000 }, async () => {
  const p = box.project('inflight');
  const file = box.spec('w', sh('exec sleep 300'));
  const names = Array.from({ length: 20 }, (_, i) => `w${i}`);
  const runs = names.map((n) => runAsync(p, ['run', '-d', '--name', n, file]));
  let settled = false;
  void Promise.all(runs).then(() => { settled = true; });
  // kill whichever supervisor is up, at different moments of the starts
  const killed: number[] = [];
  // (each a given time after that supervisor appeared: early in its first starts, mid-way, late)
  for (const delay of [300, 900, 100, 600, 1500]) {
    const pid = await until('a supervisor', () => settled || (box.supervisorPid(p) && alive(box.supervisorPid(p)) && !killed.includes(box.supervisorPid(p)!) ? box.supervisorPid(p) : undefined), 60_000);
    if (settled || typeof pid !== 'number') break;
    await new Promise((r) => setTimeout(r, delay));
    if (settled) break;
    try { process.kill(pid, 'SIGKILL'); killed.push(pid); } catch { /* it went by itself */ }
  }
  const results = await Promise.all(runs);
  assert.ok(killed.length >= 1, `killed ${killed.length} supervisors`);
  const ok = names.filter((_, i) => results[i].status === 0);
  const supLog = () => { try { return readFileSync(join(box.state, p, '_supervisor.log'), 'utf8').split('\n').filter((l) => /w\d+|supervisor/.test(l)).slice(-60).join('\n'); } catch { return '(no log)'; } };
  results.forEach((r, i) => {
    assert.doesNotMatch(r.stderr, /already exists|internal error|\n\s+at /, `${names[i]}: ${r.stderr}\n--- supervisor log ---\n${supLog()}`);
    if (r.status === 0) assert.match(r.stdout, new RegExp(`^${names[i]}-[0-9a-f]{8}\\n$`));
    else assert.ok([1, 2, 125].includes(r.status) && /^niwa: /.test(r.stderr), `${names[i]} failed unclearly (${r.status}): ${r.stderr}`);
  });
  process.stderr.write(`# ${ok.length}/20 run -d succeeded with ${killed.length} supervisors killed; failures: ${[...new Set(results.filter((r) => r.status).map((r) => r.stderr.split('\n')[0]))].join(' | ') || 'none'}\n`);
  // every container that ran is supervised and running; no record of a failed or interrupted start remains
  const rows = await until('the starts to settle', () => { const r = box.ps(p); return Object.values(r).every((c) => c.state !== 'created') ? r : undefined; }, 20_000);
  for (const n of names) {
    if (ok.includes(n)) {
      assert.equal(rows[n]?.status, 'running', `${n}: ${JSON.stringify(rows[n])}`);
      assert.ok(alive(rows[n].pid), `${n} runs`);
    } else assert.equal(rows[n], undefined, `${n} failed but left ${JSON.stringify(rows[n])}`);
  }
  assert.deepEqual(Object.values(rows).filter((c) => /unknown/.test(c.status)), []);
  const pids = Object.values(rows).map((c) => c.pid);
  const rm = box.cli(p, ['rm', '-f', ...Object.keys(rows)]);
  assert.equal(rm.status, 0, rm.stderr);
  await box.assertNothingLeft(p, pids);
});

/** A container `orph` running `script`, then its supervisor and its shim SIGKILLed. */
async function orphan(p: string, script: string): Promise<{ st: ContainerState; sup: number }> {
  const r = box.cli(p, ['run', '-d', box.spec('orph', sh(script))]);
  assert.equal(r.status, 0, r.stderr);
  const st = await until('running', () => { const s = stateOf(p, 'orph'); return s.status === 'running' ? s : undefined; });
  const sup = box.supervisorPid(p)!;
  process.kill(sup, 'SIGKILL');
  process.kill(st.stagePid!, 'SIGKILL');
  await until('the shim to go', () => !alive(st.stagePid) && !alive(sup));
  return { st, sup };
}

test('shim and supervisor both killed: ps says running (unsupervised) from the cgroup; stop ends it; nothing is left', { skip, timeout: 60_000 }, async () => {
  const p = box.project('orphan');
  const { st, sup } = await orphan(p, 'trap "" TERM; sleep 300 & sleep 300');
  assert.ok(alive(st.pid), 'the container process outlives its shim');
  // without a supervisor (ps derives from state.json and the host) and with one (which adopts it)
  const row = box.ps(p).orph;
  assert.equal(row.status, 'running (unsupervised)', JSON.stringify(row));
  const procs = readFileSync(join(st.cgroups.find((c) => c.includes('/pids/')) ?? st.cgroups[0], 'cgroup.procs'), 'utf8').trim().split('\n').map(Number);
  assert.ok(procs.includes(row.pid!), `ps pid ${row.pid} is one of the cgroup's ${procs}`);
  const t0 = Date.now();
  const stop = box.cli(p, ['stop', '-t', '1', 'orph']);
  assert.equal(stop.status, 0, stop.stderr);
  assert.ok(Date.now() - t0 < 15_000);
  assert.ok(!alive(st.pid), 'stop killed it');
  const after = box.ps(p).orph;
  assert.match(after.status, /^(stopped|exited)/, JSON.stringify(after));
  assert.equal(box.cli(p, ['rm', 'orph']).status, 0);
  await box.assertNothingLeft(p, [st.pid, st.stagePid, sup]);
});

test('shim and supervisor both killed: rm -f kills what is in the cgroup and removes everything', { skip, timeout: 60_000 }, async () => {
  const p = box.project('orphrm');
  const { st, sup } = await orphan(p, 'sleep 300 & exec sleep 300');
  const rm = box.cli(p, ['rm', '-f', 'orph']);
  assert.equal(rm.status, 0, rm.stderr);
  assert.ok(!alive(st.pid));
  await box.assertNothingLeft(p, [st.pid]);
});
