// On-disk state without root: layout, atomic writes, listing, the derived truth when no
// supervisor runs (stage alive by pid + start time, pid reuse, dead stage), restart policy and
// back-off, and log lines, rotation and filters.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  containerDir, createContainerDir, deriveState, listNames, pruneProject, readPlan, readState, writeState,
  socketPath, supervisorLogPath, type ContainerState,
} from '../../../src/runtime/state.js';
import { startTime, sameProcessAlive, parseStat, statField } from '../../../src/runtime/proc.js';
import { shouldRestart, nextDelay, BACKOFF_CAP_MS } from '../../../src/runtime/supervisor/restart.js';
import { LineSplitter, LogWriter, MAX_LINE, parseLogLine, parseSince, readLogEntries } from '../../../src/runtime/supervisor/logs.js';
import type { LaunchPlan } from '../../../src/plan/types.js';
import type { CanonicalSpec } from '../../../src/spec/types.js';

const root = mkdtempSync(join(tmpdir(), 'niwa-state-unit-'));
after(() => rmSync(root, { recursive: true, force: true }));

const plan = (name: string) => ({ version: 1, name, id: `${name}-1`, project: 'p', spec: '/x', rootDir: '/r', cgroups: [], tty: false, steps: [], warnings: [] }) as LaunchPlan;
const spec = { name: 'x', hooks: [] } as unknown as CanonicalSpec;
const state = (over: Partial<ContainerState> = {}): ContainerState => ({
  version: 1, id: 'a-1', name: 'a', project: 'p', status: 'running', createdAt: new Date().toISOString(),
  oomKilled: false, restarts: 0, health: 'none', specFile: '/x', cgroups: [], restart: { policy: 'no' }, ...over,
});

test('layout: a directory per container with plan.json and state.json; a name is taken once', () => {
  const dir = createContainerDir(root, 'p', plan('web'), spec);
  assert.equal(dir, containerDir(root, 'p', 'web'));
  assert.equal(readPlan(dir)?.id, 'web-1');
  assert.throws(() => createContainerDir(root, 'p', plan('web'), spec), /EEXIST/);
  writeState(dir, state({ name: 'web' }));
  assert.equal(readState(dir)?.name, 'web');
  assert.deepEqual(readdirSync(dir).sort(), ['plan.json', 'spec.json', 'state.json'], 'no temporary file is left by atomic writes');
  mkdirSync(join(root, 'p', 'half')); // a directory without state.json is not a container
  assert.deepEqual(listNames(root, 'p'), ['web']);
  assert.ok(socketPath(root, 'p').endsWith('/p/_supervisor.sock'));
});

test('atomic writes: a reader never sees a partial state.json', () => {
  const dir = containerDir(root, 'p', 'web');
  for (let i = 0; i < 200; i++) {
    writeState(dir, state({ name: 'web', restarts: i, healthOutput: 'x'.repeat(i * 50) }));
    assert.equal(JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')).restarts, i);
  }
});

test('derived truth: a live stage (same start time) is running; a reused pid or a dead stage is exited(unknown)', async () => {
  const child = spawn('sleep', ['30'], { stdio: 'ignore' });
  try {
    await new Promise((r) => child.once('spawn', r));
    const pid = child.pid!;
    const start = startTime(pid)!;
    assert.ok(start > 0);
    assert.ok(sameProcessAlive(pid, start));
    const running = deriveState(state({ stagePid: pid, stageStart: start, pid }), undefined);
    assert.equal(running.status, 'running');
    const reused = deriveState(state({ stagePid: pid, stageStart: start + 1, pid, exitCode: 0 }), undefined);
    assert.equal(reused.status, 'exited', 'another process with the same pid is not our stage');
    assert.equal(reused.exitCode, undefined, 'the exit code is unknown');
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    assert.equal(deriveState(state({ stagePid: pid, stageStart: start }), undefined).status, 'exited');
  } finally { child.kill('SIGKILL'); }
  // final statuses are taken as recorded; a restarting one with no supervisor has ended
  assert.deepEqual(deriveState(state({ status: 'exited', exitCode: 4 }), undefined).exitCode, 4);
  assert.equal(deriveState(state({ status: 'stopped', signal: 9 }), undefined).status, 'stopped');
  assert.equal(deriveState(state({ status: 'restarting', exitCode: 1 }), undefined).status, 'exited');
});

test('/proc/PID/stat parsing copes with spaces and parentheses in the command', () => {
  const text = '123 (a (b) c) S 1 123 123 0 -1 4194560 0 0 0 0 7 3 0 0 20 0 1 0 98765 0 0';
  assert.equal(parseStat(text)?.comm, 'a (b) c');
  assert.equal(statField(text, 3), 'S');
  assert.equal(statField(text, 14), '7');
  assert.equal(statField(text, 22), '98765');
});

test('pruneProject removes an empty project with its supervisor files, and keeps one with containers', () => {
  mkdirSync(join(root, 'empty'));
  writeFileSync(supervisorLogPath(root, 'empty'), 'log\n');
  assert.equal(pruneProject(root, 'empty'), true);
  assert.equal(existsSync(join(root, 'empty')), false);
  assert.equal(pruneProject(root, 'p'), false);
  assert.ok(existsSync(containerDir(root, 'p', 'web')));
});

test('restart policies', () => {
  const f = (o: Partial<Parameters<typeof shouldRestart>[1]> = {}) => ({ exitCode: 1, signal: null, oomKilled: false, stopRequested: false, restarts: 0, ...o });
  assert.equal(shouldRestart({ policy: 'no' }, f()), false);
  assert.equal(shouldRestart({ policy: 'always' }, f({ exitCode: 0 })), true);
  assert.equal(shouldRestart({ policy: 'unless-stopped' }, f({ exitCode: 0 })), true);
  assert.equal(shouldRestart({ policy: 'always' }, f({ stopRequested: true })), false, 'an explicit stop wins');
  assert.equal(shouldRestart({ policy: 'unless-stopped' }, f({ stopRequested: true })), false);
  assert.equal(shouldRestart({ policy: 'on-failure' }, f({ exitCode: 0 })), false);
  assert.equal(shouldRestart({ policy: 'on-failure' }, f({ exitCode: null, signal: 9 })), true);
  assert.equal(shouldRestart({ policy: 'on-failure' }, f({ exitCode: 0, oomKilled: true })), true);
  assert.equal(shouldRestart({ policy: 'on-failure', maxRetries: 3 }, f({ restarts: 2 })), true);
  assert.equal(shouldRestart({ policy: 'on-failure', maxRetries: 3 }, f({ restarts: 3 })), false, 'stops after N restarts');
});

test('back-off: 100 ms doubling to the cap, reset after a 10 s run', () => {
  const seq: number[] = [];
  let d: number | undefined;
  for (let i = 0; i < 12; i++) { d = nextDelay(d, 50); seq.push(d); }
  assert.deepEqual(seq.slice(0, 5), [100, 200, 400, 800, 1600]);
  assert.equal(seq.at(-1), BACKOFF_CAP_MS);
  assert.equal(nextDelay(BACKOFF_CAP_MS, 10_000), 100);
  assert.equal(nextDelay(800, 9_999), 1600);
});

test('log lines: split, timestamped, parsed back, rotated at the cap, filtered by tail and since', () => {
  const s = new LineSplitter();
  assert.deepEqual(s.feed('a\nb'), ['a']);
  assert.deepEqual(s.feed('c\n\nd'), ['bc', '']);
  assert.deepEqual(s.flush(), ['d']);
  assert.equal(s.feed('x'.repeat(MAX_LINE + 5)).length, 1, 'a line without newline is cut at MAX_LINE');

  assert.deepEqual(parseLogLine('2026-11-29T09:00:00.123Z stdout hello world'), { time: '2026-11-29T09:00:00.123Z', stream: 'stdout', line: 'hello world' });
  assert.equal(parseLogLine('garbage'), undefined);

  const dir = mkdtempSync(join(root, 'log-'));
  const path = join(dir, 'container.log');
  const w = new LogWriter(path, 1000);
  const t0 = Date.parse('2026-11-29T09:00:00.000Z');
  for (let i = 0; i < 100; i++) w.write({ time: new Date(t0 + i * 1000).toISOString(), stream: i % 2 ? 'stderr' : 'stdout', line: `line ${i}` });
  w.close();
  assert.ok(readFileSync(path).length <= 1000);
  assert.ok(readFileSync(path + '.1').length <= 1000);
  assert.deepEqual(readdirSync(dir).sort(), ['container.log', 'container.log.1'], 'one rotated file is kept');
  const all = readLogEntries(path);
  assert.equal(all.at(-1)?.line, 'line 99');
  assert.ok(all.length > 20 && all.length < 100, 'older lines were dropped by rotation');
  for (let i = 1; i < all.length; i++) assert.equal(Number(all[i].line.split(' ')[1]), Number(all[i - 1].line.split(' ')[1]) + 1, 'in order, none lost between the two files');
  assert.deepEqual(readLogEntries(path, { tail: 2 }).map((e) => e.line), ['line 98', 'line 99']);
  assert.deepEqual(readLogEntries(path, { since: new Date(t0 + 97_000) }).map((e) => e.line), ['line 97', 'line 98', 'line 99']);
  assert.equal(readLogEntries(path, { tail: 0 }).length, 0);
});

test('--since accepts ISO times, Unix seconds and durations', () => {
  const now = Date.parse('2026-11-29T10:00:00Z');
  assert.equal(parseSince('2026-11-29T09:00:00Z', now)?.getTime(), Date.parse('2026-11-29T09:00:00Z'));
  assert.equal(parseSince('1700000000', now)?.getTime(), 1_700_000_000_000);
  assert.equal(parseSince('1m30s', now)?.getTime(), now - 90_000);
  assert.equal(parseSince('250ms', now)?.getTime(), now - 250);
  assert.equal(parseSince('yesterday-ish', now), undefined);
});
