// The live view's logic: reducer, key mapping (double Ctrl-C), layout budget, throttle, CPU %.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  initialState, reduce, keyToAction, drainFinished, cpuPercent, createThrottle, layout, logPaneLines, allEnded,
  FINISHED_CAP, LOG_TAIL, needsRedraw, type ViewState, type Clock,
} from '../../../src/ui/model.js';
import type { RuntimeEvent } from '../../../src/events/types.js';
import type { CgroupStats } from '../../../src/runtime/cgroup/types.js';

const run = (events: RuntimeEvent[], s: ViewState = initialState({ now: 1000 })) => events.reduce((st, e) => reduce(st, e), s);
const stats = (usageNs: number, mem = 1 << 20, limit: number | null = 64 << 20): CgroupStats =>
  ({ memory: { current: mem, limit }, cpu: { usageNs }, pids: { current: 3 }, oomKills: 0 });

test('a container goes created → starting (step text) → running (pid, startedAt) → exited', () => {
  let s = run([
    { type: 'plan', container: 'web', steps: 40, warnings: ['no seccomp'] },
    { type: 'step', container: 'web', index: 11, op: 'mount', ok: true },
  ]);
  assert.deepEqual(s.order, ['web']);
  assert.equal(s.selected, 'web');
  assert.equal(s.containers.web.state, 'starting');
  assert.equal(s.containers.web.step, '12/40 mount');
  s = reduce(s, { type: 'started', container: 'web', pid: 4242, ms: 7.25 }, 5000);
  assert.equal(s.containers.web.state, 'running');
  assert.equal(s.containers.web.pid, 4242);
  assert.equal(s.containers.web.startedAt, 5000);
  assert.equal(s.containers.web.step, undefined);
  s = reduce(s, { type: 'exited', container: 'web', code: null, signal: 9, oomKilled: true }, 6000);
  assert.equal(s.containers.web.state, 'exited');
  assert.deepEqual(s.containers.web.exit, { code: null, signal: 9, oomKilled: true });
  const { lines, state } = drainFinished(s);
  assert.deepEqual(lines.map((l) => [l.level, l.text]), [
    ['warn', 'warning: no seccomp'],
    ['ok', 'running pid 4242 (started in 7.3 ms)'],
    ['error', 'exited signal 9 (OOM-killed)'],
  ]);
  assert.equal(state.finished.length, 0);
  assert.deepEqual(drainFinished(state).lines, []);
  assert.ok(lines.every((l, i) => i === 0 || l.id > lines[i - 1].id), 'line ids increase');
});

test('a failed step is an error line; ok steps are lines only when verbose', () => {
  const quiet = run([{ type: 'step', container: 'db', index: 0, op: 'unshare', ok: true }, { type: 'step', container: 'db', index: 1, op: 'mount', ok: false, error: 'EPERM' }]);
  assert.deepEqual(quiet.finished.map((l) => l.text), ['step 2 mount failed: EPERM']);
  const loud = run([{ type: 'step', container: 'db', index: 0, op: 'unshare', ok: true }], initialState({ verbose: true }));
  assert.deepEqual(loud.finished.map((l) => l.text), ['step 1 unshare ok']);
});

test('status, health, restart and ports update the row; repeated states add no lines', () => {
  const ports = [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' as const }];
  let s = run([
    { type: 'status', container: 'api', state: 'running', pid: 10, ports, at: 2000 },
    { type: 'status', container: 'api', state: 'running', pid: 10 },
    { type: 'health', container: 'api', status: 'starting' },
    { type: 'health', container: 'api', status: 'healthy' },
    { type: 'health', container: 'api', status: 'healthy' },
  ]);
  assert.equal(s.containers.api.health, 'healthy');
  s = reduce(s, { type: 'restart', container: 'api', count: 1, reason: 'exited code 1' });
  const c = s.containers.api;
  assert.equal(c.startedAt, 2000);
  assert.deepEqual(c.ports, ports);
  assert.equal(c.health, 'none', 'health is of the process that ended');
  assert.equal(c.pid, undefined);
  assert.equal(c.restarts, 1);
  assert.equal(c.state, 'restarting');
  assert.deepEqual(s.finished.map((l) => l.text), ['running pid 10', 'health: starting', 'health: healthy', 'restarting (restart 1: exited code 1)']);
  s = reduce(s, { type: 'status', container: 'api', state: 'running', pid: 11, at: 9000 });
  assert.equal(s.containers.api.pid, 11);
  assert.equal(s.containers.api.startedAt, 9000, 'a new process restarts the uptime');
  s = reduce(s, { type: 'status', container: 'api', state: 'exited' });
  assert.equal(s.containers.api.pid, undefined);
  assert.ok(allEnded(s));
});

test('log lines go to the per-service tail (capped); finished lines only when attached', () => {
  let s = initialState();
  for (let i = 0; i < LOG_TAIL + 5; i++) s = reduce(s, { type: 'log', container: 'web', stream: 'stdout', line: `l${i}`, at: i });
  assert.equal(s.logTail.web.length, LOG_TAIL);
  assert.equal(s.logTail.web[0].line, 'l5');
  assert.equal(s.finished.length, 0);
  const att = reduce(initialState({ attachLogs: true }), { type: 'log', container: 'web', stream: 'stderr', line: 'boom' });
  assert.deepEqual(att.finished.map((l) => [l.level, l.stream, l.text]), [['log', 'stderr', 'boom']]);
});

test('the finished queue is capped when nobody drains it', () => {
  let s = initialState({ attachLogs: true });
  for (let i = 0; i < FINISHED_CAP + 10; i++) s = reduce(s, { type: 'log', container: 'w', stream: 'stdout', line: String(i) });
  assert.equal(s.finished.length, FINISHED_CAP);
  assert.equal(s.finished.at(-1)!.text, String(FINISHED_CAP + 9));
});

test('CPU % of one core from successive cumulative samples', () => {
  assert.equal(cpuPercent(undefined, { usageNs: 5e9, at: 1000 }), undefined);
  assert.equal(cpuPercent({ usageNs: 0, at: 0 }, { usageNs: 500e6, at: 1000 }), 50);
  assert.equal(cpuPercent({ usageNs: 0, at: 0 }, { usageNs: 3e9, at: 2000 }), 150, 'more than one core');
  assert.equal(cpuPercent({ usageNs: 9e9, at: 0 }, { usageNs: 1e9, at: 1000 }), undefined, 'counter reset');
  assert.equal(cpuPercent({ usageNs: 0, at: 1000 }, { usageNs: 1e9, at: 1000 }), undefined, 'no time passed');
});

test('stats polls set memory and CPU % per running container; ended containers are left alone', () => {
  let s = run([{ type: 'started', container: 'a', pid: 1, ms: 1 }, { type: 'exited', container: 'b', code: 0, signal: null, oomKilled: false }]);
  s = reduce(s, { type: 'ui:stats', at: 10_000, stats: { a: stats(1e9), b: stats(1e9), ghost: stats(1) } });
  assert.equal(s.containers.a.cpuPercent, undefined, 'one sample is not a rate');
  s = reduce(s, { type: 'ui:stats', at: 11_000, stats: { a: stats(1.25e9, 5 << 20) } });
  assert.equal(s.containers.a.cpuPercent, 25);
  assert.equal(s.containers.a.memCurrent, 5 << 20);
  assert.equal(s.containers.a.memLimit, 64 << 20);
  assert.equal(s.containers.b.memCurrent, undefined);
  assert.equal(s.containers.ghost, undefined);
  s = reduce(s, { type: 'stats', container: 'a', stats: stats(2.25e9), at: 13_000 });
  assert.equal(s.containers.a.cpuPercent, 50, 'the supervisor\'s stats events count the same way');
});

test('keys: arrows/j/k select, l/r/s act on the selection, q stops, Ctrl-C twice forces', () => {
  let s = run([{ type: 'plan', container: 'a', steps: 1, warnings: [] }, { type: 'plan', container: 'b', steps: 1, warnings: [] }, { type: 'plan', container: 'c', steps: 1, warnings: [] }]);
  const act = (input: string, key = {}) => keyToAction(input, key, s);
  assert.deepEqual(act('', { downArrow: true }), { type: 'select', delta: 1 });
  assert.deepEqual(act('j'), { type: 'select', delta: 1 });
  assert.deepEqual(act('', { upArrow: true }), { type: 'select', delta: -1 });
  assert.deepEqual(act('k'), { type: 'select', delta: -1 });
  s = reduce(s, { type: 'ui:action', action: act('', { downArrow: true })! });
  assert.equal(s.selected, 'b');
  s = reduce(s, { type: 'ui:action', action: { type: 'select', delta: 10 } });
  assert.equal(s.selected, 'c', 'selection stops at the last row');
  s = reduce(s, { type: 'ui:action', action: { type: 'select', delta: -10 } });
  assert.equal(s.selected, 'a');
  assert.deepEqual(act('l'), { type: 'toggleLogs', name: 'a' });
  assert.deepEqual(act('r'), { type: 'restart', name: 'a' });
  assert.deepEqual(act('s'), { type: 'stop', name: 'a' });
  assert.equal(act('x'), null);
  assert.equal(act('l', { ctrl: true }), null);
  s = reduce(s, { type: 'ui:action', action: act('l')! });
  assert.equal(s.logsVisible.a, true);
  s = reduce(s, { type: 'ui:action', action: act('l')! });
  assert.equal(s.logsVisible.a, false);

  assert.deepEqual(act('q'), { type: 'stopAll', force: false });
  assert.deepEqual(act('c', { ctrl: true }), { type: 'stopAll', force: false, interrupt: true });
  s = reduce(s, { type: 'ui:action', action: act('c', { ctrl: true })! });
  assert.equal(s.quitting, 'graceful');
  assert.deepEqual(act('c', { ctrl: true }), { type: 'stopAll', force: true, interrupt: true }, 'the second Ctrl-C forces');
  assert.equal(act('q'), null, 'q while stopping does nothing');
  assert.equal(act('r'), null, 'no restarts while stopping');
  s = reduce(s, { type: 'ui:action', action: act('c', { ctrl: true })! });
  assert.equal(s.quitting, 'force');
  assert.deepEqual(drainFinished(s).lines.map((l) => l.text).slice(-2), ['stopping every container (Ctrl-C again to force)', 'forcing: killing every container now']);
});

test('keys with no containers do nothing but quitting', () => {
  const s = initialState();
  assert.equal(keyToAction('', { downArrow: true }, s), null);
  assert.equal(keyToAction('l', {}, s), null);
  assert.deepEqual(keyToAction('q', {}, s), { type: 'stopAll', force: false });
});

test('layout keeps the live area shorter than the terminal and the selection in view', () => {
  let s = initialState();
  for (let i = 0; i < 20; i++) s = reduce(s, { type: 'plan', container: `svc${i}`, steps: 1, warnings: [] });
  assert.deepEqual(layout(s, 40), { first: 0, count: 20, logLines: 0, logServices: [] });
  const small = layout(s, 15);
  assert.ok(small.count + 2 + 4 <= 15, `rows ${small.count} + markers + chrome fit in 15`);
  s = reduce(s, { type: 'ui:action', action: { type: 'select', delta: 15 } });
  const l2 = layout(s, 15);
  assert.ok(l2.first <= 15 && 15 < l2.first + l2.count, 'selected row is in the window');
  s = reduce(s, { type: 'ui:action', action: { type: 'toggleLogs', name: 'svc15' } });
  const l3 = layout(s, 40);
  assert.deepEqual(l3.logServices, ['svc15']);
  assert.ok(l3.logLines >= 1 && l3.count + l3.logLines + 1 + 2 + 4 <= 40, JSON.stringify(l3));
});

test('logPaneLines interleaves the chosen services by time and keeps the last n', () => {
  let s = initialState();
  s = reduce(s, { type: 'log', container: 'a', stream: 'stdout', line: 'a1', at: 1 });
  s = reduce(s, { type: 'log', container: 'b', stream: 'stdout', line: 'b1', at: 2 });
  s = reduce(s, { type: 'log', container: 'a', stream: 'stdout', line: 'a2', at: 3 });
  assert.deepEqual(logPaneLines(s, ['a', 'b'], 2).map((l) => l.line), ['b1', 'a2']);
  assert.deepEqual(logPaneLines(s, ['a'], 5).map((l) => l.line), ['a1', 'a2']);
  assert.deepEqual(logPaneLines(s, ['a'], 0), []);
});

function fakeClock(): Clock & { t: number; advance(ms: number): void } {
  let timers: { at: number; f: () => void; id: number }[] = [];
  let id = 0;
  const c = {
    t: 0,
    now: () => c.t,
    setTimeout: (f: () => void, ms: number) => { timers.push({ at: c.t + ms, f, id: ++id }); return id; },
    clearTimeout: (x: unknown) => { timers = timers.filter((t) => t.id !== x); },
    advance(ms: number) {
      const end = c.t + ms;
      for (;;) {
        timers.sort((a, b) => a.at - b.at);
        const next = timers[0];
        if (!next || next.at > end) break;
        timers.shift();
        c.t = next.at;
        next.f();
      }
      c.t = end;
    },
  };
  return c;
}

test('the throttle runs at most N times a second, leading and trailing, and coalesces bursts', () => {
  const clock = fakeClock();
  let n = 0;
  const th = createThrottle(() => n++, 4, clock);
  th.schedule();
  assert.equal(n, 1, 'leading edge runs at once');
  for (let i = 0; i < 100; i++) { clock.advance(1); th.schedule(); }
  assert.equal(n, 1, 'a burst inside the interval waits');
  clock.advance(150);
  assert.equal(n, 2, 'one trailing run at the end of the interval');
  // 1000 schedules spread over 10 s → at most 4 runs a second.
  for (let i = 0; i < 1000; i++) { clock.advance(10); th.schedule(); }
  clock.advance(1000);
  assert.ok(n <= 2 + 4 * 11, `ran ${n} times`);
  assert.ok(n >= 2 + 4 * 9, `but kept up: ${n}`);
  assert.equal(th.runs, n);
  th.schedule(); th.schedule();
  const before = n;
  th.flush();
  assert.ok(n <= before + 1);
  th.schedule();
  th.cancel();
  clock.advance(1000);
  assert.ok(n <= before + 2);
});

test('retarget: keys mapped against an old frame act on the selection and quitting state as they are now', async () => {
  const { retarget } = await import('../../../src/ui/model.js');
  let s = run([{ type: 'plan', container: 'a', steps: 1, warnings: [] }, { type: 'plan', container: 'b', steps: 1, warnings: [] }]);
  const frame = s; // what the user saw when pressing ↓ ↓ l in one burst
  s = reduce(s, { type: 'ui:action', action: keyToAction('', { downArrow: true }, frame)! });
  assert.deepEqual(retarget(keyToAction('l', {}, frame)!, s), { type: 'toggleLogs', name: 'b' });
  assert.deepEqual(retarget(keyToAction('r', {}, frame)!, s), { type: 'restart', name: 'b' });
  s = reduce(s, { type: 'ui:action', action: keyToAction('\u0003', {}, frame)! });
  assert.deepEqual(retarget(keyToAction('\u0003', {}, frame)!, s), { type: 'stopAll', force: true, interrupt: true }, 'second Ctrl-C from the same frame still forces');
  assert.equal(retarget(keyToAction('s', {}, frame)!, s), null, 'no stops once stopping');
  assert.equal(retarget({ type: 'restart', name: 'a' }, initialState()), null);
});

test('needsRedraw: hidden log lines cost no redraw; rows, lines, keys, ticks and visible logs do', () => {
  let s = run([{ type: 'started', container: 'web', pid: 1, ms: 1 }, { type: 'started', container: 'db', pid: 2, ms: 1 }]);
  s = drainFinished(s).state;
  const log = (st: ViewState, c = 'web') => reduce(st, { type: 'log', container: c, stream: 'stdout', line: 'x' }, 5000);
  const { needsRedraw: nr } = { needsRedraw };
  assert.equal(nr(s, log(s)), false, 'a log line of a hidden service');
  assert.equal(nr(s, reduce(s, { type: 'ui:tick', now: s.now + 1000 })), true, 'the clock moves uptimes');
  assert.equal(nr(s, reduce(s, { type: 'health', container: 'web', status: 'healthy' })), true);
  assert.equal(nr(s, reduce(s, { type: 'ui:action', action: { type: 'select', delta: 1 } })), true);
  const shown = reduce(s, { type: 'ui:action', action: { type: 'toggleLogs', name: 'web' } });
  assert.equal(nr(s, shown), true);
  assert.equal(nr(shown, log(shown)), true, 'a log line in the open pane');
  assert.equal(nr(shown, log(shown, 'db')), false, 'a log line of another, hidden service');
  const attached = initialState({ attachLogs: true });
  assert.equal(nr(attached, log(attached)), true, 'attached logs are written above');
});

test('the throttle stretches its interval to keep expensive runs inside a CPU budget', () => {
  const clock = fakeClock();
  let n = 0;
  // Each run costs 20 ms; a 5 % budget allows one run per 400 ms (2.5/s) although 4/s are allowed.
  const th = createThrottle(() => { n++; clock.t += 20; }, 4, clock, 0.05);
  for (let i = 0; i < 1000; i++) { clock.advance(10); th.schedule(); }
  assert.ok(Math.abs(th.interval - 400) < 1, `interval ${th.interval}`);
  assert.ok(n <= 10 * 2.5 + 2, `ran ${n} times in 10 s`);
  assert.ok(n >= 10 * 2.5 - 3, `but still ran: ${n}`);
  const cheap = createThrottle(() => {}, 4, clock, 0.05);
  cheap.schedule();
  assert.equal(cheap.interval, 250, 'cheap runs keep the fps cap');
});
