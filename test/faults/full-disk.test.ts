// A full disk under the state root (issue #13 finding 2): the state root is a 2 MB tmpfs that this
// test mounts under its own temp dir. A chatty container fills it: the supervisor lives on, keeps
// draining the container's pipe (the container never stalls), drops its output with a counted
// notice and writes again once there is room; every start on the full disk fails with "no space
// left on the state filesystem (PATH)" and leaves nothing; rm removes a half-written record.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { needsRoot, needsStage } from '../helpers.js';
import { tryRequest } from '../../src/runtime/supervisor/client.js';
import { makeBox, until, alive, type Box } from './box.js';

const skip = needsRoot() || needsStage();
let box: Box;
before(() => { if (!skip) box = makeBox('enospc', { tmpfsBytes: 2 * 1024 * 1024 }); });
after(async () => { await box?.cleanup(); });

const NO_SPACE = /no space left on the state filesystem \(\/[^)]*\)/;

test('a full state filesystem: the supervisor survives, drains, counts what it drops, and resumes', { skip }, async () => {
  const p = box.project('chatty');
  const out = join(box.dir, 'out');
  mkdirSync(out);
  // 1 MB of the 2 MB is taken by a file the test removes later, to make room again
  const filler = join(box.state, 'filler');
  writeFileSync(filler, Buffer.alloc(1024 * 1024, 1));
  const file = box.spec('chatty', [
    'mounts:', `  - {type: bind, source: ${out}, target: /out}`,
    // 3.6 MB of output, then a marker: written only if its pipe was drained all along
    'process:', '  args: [/bin/sh, -c, \'i=0; while [ $i -lt 40000 ]; do echo "line $i xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"; i=$((i+1)); done; echo drained > /out/marker; while [ ! -e /out/go ]; do sleep 0.05; done; echo after-space; exec sleep 300\']', '',
  ].join('\n'));
  const r = box.cli(p, ['run', '-d', file]);
  assert.equal(r.status, 0, r.stderr);
  await until('the container to get through its output on a full disk', () => existsSync(join(out, 'marker')), 30_000);
  assert.equal(statfsSync(box.state).bavail, 0, 'the state filesystem is full');
  const sup = box.supervisorPid(p);
  assert.ok(alive(sup), 'the supervisor is alive');
  const ping = await tryRequest({ root: box.state, project: p }, { op: 'ping' });
  assert.equal(ping?.ok, true, 'and answers');
  assert.equal(box.ps(p).chatty.status, 'running');

  // every start on the full disk: a clear error, nothing left behind
  const small = box.spec('small', 'process:\n  args: [/bin/true]\n');
  for (const args of [['run', small], ['run', '-d', small]]) {
    const f = box.cli(p, args);
    assert.notEqual(f.status, 0);
    assert.match(f.stderr, NO_SPACE, f.stderr);
    assert.match(f.stderr, /hint: free space there/);
    assert.doesNotMatch(f.stderr, /internal error|ENOSPC:|\n\s+at /, f.stderr);
    assert.equal(existsSync(join(box.state, p, 'small')), false, `${args.join(' ')} left a directory`);
  }
  const other = box.project('other');
  const f = box.cli(other, ['run', '-d', small]);
  assert.notEqual(f.status, 0);
  assert.match(f.stderr, NO_SPACE, f.stderr);
  assert.equal(existsSync(join(box.state, other)), false, 'a project that could not start leaves no directory');

  // room again: the log says how much was dropped, then goes on
  rmSync(filler);
  writeFileSync(join(out, 'go'), '');
  // (the file itself: `niwa logs` prints the notice, a stderr line, on its stderr)
  const logFile = join(box.state, p, 'chatty', 'container.log');
  const logs = await until('the log to resume', () => { const l = readFileSync(logFile, 'utf8'); return l.includes('stdout after-space') ? l : undefined; }, 10_000);
  const m = /^\S+ stderr niwa: (\d+) bytes of output dropped: no space left on the state filesystem \((\/[^)]+)\)\n/m.exec(logs);
  assert.ok(m, logs.slice(-500));
  assert.ok(Number(m[1]) > 1_000_000, `dropped ${m[1]} bytes`);
  assert.ok(logs.indexOf(m[0]) < logs.indexOf('after-space'), 'the notice comes before what was written after it');
  assert.match(logs, /^\S+ stdout line 0 x+$/m, 'what fitted was written');
  assert.match(box.cli(p, ['logs', 'chatty']).stderr, /bytes of output dropped/, 'niwa logs shows the notice');

  const rm = box.cli(p, ['rm', '-f', 'chatty']);
  assert.equal(rm.status, 0, rm.stderr);
  await box.assertNothingLeft(p, [sup]);
});

test('rm removes a record that a full disk left half-written (no state.json)', { skip }, async () => {
  const p = box.project('half');
  const d = join(box.state, p, 'half');
  mkdirSync(d, { recursive: true });
  writeFileSync(join(d, 'spec.json'), '{"name":');
  const r = box.cli(p, ['rm', 'half']);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(existsSync(d), false);
  await box.assertNothingLeft(p);
  // and a name that was never there is still an error
  const n = box.cli(p, ['rm', 'nothere']);
  assert.equal(n.status, 2, n.stderr);
  assert.match(n.stderr, /no container 'nothere'/);
  rmSync(join(box.state, p), { recursive: true, force: true });
});
