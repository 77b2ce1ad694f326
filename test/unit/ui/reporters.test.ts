// The non-TTY front ends read the same events: timestamped plain lines, JSON lines; and which one is chosen.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { timestampedReporter, formatLine } from '../../../src/ui/plain.js';
import { jsonReporter } from '../../../src/ui/json.js';
import { progressMode } from '../../../src/ui/progress.js';
import type { RuntimeEvent } from '../../../src/events/types.js';

const sink = () => {
  let text = '';
  const out = new Writable({ write(c, _e, cb) { text += String(c); cb(); } });
  return { out, text: () => text };
};
const T = new Date(2024, 0, 1, 9, 0, 1, 123).getTime();

const events: RuntimeEvent[] = [
  { type: 'plan', container: 'web', steps: 3, warnings: [] },
  { type: 'step', container: 'web', index: 0, op: 'mount', ok: true },
  { type: 'started', container: 'web', pid: 4242, ms: 7.04 },
  { type: 'log', container: 'web', stream: 'stdout', line: 'listening on :80' },
  { type: 'log', container: 'database', stream: 'stderr', line: 'oops' },
  { type: 'health', container: 'web', status: 'unhealthy', output: 'curl: (7) refused' },
  { type: 'exited', container: 'web', code: 0, signal: null, oomKilled: false },
];

test('plain: timestamped lines, names aligned, logs with | or !, nothing for silent events', () => {
  const s = sink();
  const r = timestampedReporter({ out: s.out, now: () => T });
  events.forEach(r);
  assert.equal(s.text(), [
    '09:00:01.123 web   running pid 4242 (started in 7.0 ms)',
    '09:00:01.123 web  | listening on :80',
    '09:00:01.123 database ! oops',
    '09:00:01.123 web       health: unhealthy — curl: (7) refused',
    '09:00:01.123 web       exited code 0',
    '',
  ].join('\n'));
  assert.equal(r.state.containers.web.state, 'exited');
  const quiet = sink();
  const q = timestampedReporter({ out: quiet.out, now: () => T, logs: false });
  events.forEach(q);
  assert.doesNotMatch(quiet.text(), /listening|oops/);
  const aligned = sink();
  const al = timestampedReporter({ out: aligned.out, now: () => T, names: ['web', 'database'] });
  events.forEach(al);
  assert.match(aligned.text(), /^09:00:01\.123 web {7}running pid 4242/);
});

test('plain: the event time wins over the arrival time; levels do not change the text', () => {
  assert.equal(formatLine({ id: 0, at: T, container: 'db', level: 'error', text: 'exited code 1' }, 4), '09:00:01.123 db    exited code 1');
  assert.equal(formatLine({ id: 0, at: T, level: 'info', text: 'hello' }, 2), '09:00:01.123 niwa  hello');
  const s = sink();
  timestampedReporter({ out: s.out, now: () => 0 })({ type: 'status', container: 'api', state: 'running', pid: 7, at: T });
  assert.equal(s.text(), '09:00:01.123 api   running pid 7\n');
});

test('json: one object per line, the event unchanged plus an ISO timestamp', () => {
  const s = sink();
  const j = jsonReporter({ out: s.out, now: () => T });
  events.forEach(j);
  const lines = s.text().trim().split('\n');
  assert.equal(lines.length, events.length);
  lines.forEach((l, i) => {
    const o = JSON.parse(l);
    assert.equal(o.ts, new Date(T).toISOString());
    delete o.ts;
    assert.deepEqual(o, events[i]);
  });
});

test('progress mode: --json, --progress, then TTY/CI/TERM=dumb decide', () => {
  const tty = { stdoutIsTTY: true, env: { TERM: 'xterm' } };
  assert.equal(progressMode({ ...tty }), 'tty');
  assert.equal(progressMode({ ...tty, json: true }), 'json');
  assert.equal(progressMode({ ...tty, progress: 'plain' }), 'plain');
  assert.equal(progressMode({ ...tty, progress: 'json' }), 'json');
  assert.equal(progressMode({ stdoutIsTTY: false, env: {} }), 'plain');
  assert.equal(progressMode({ stdoutIsTTY: false, env: {}, progress: 'tty' }), 'tty');
  assert.equal(progressMode({ stdoutIsTTY: true, env: { TERM: 'dumb' } }), 'plain');
  assert.equal(progressMode({ stdoutIsTTY: true, env: { CI: 'true' } }), 'plain', 'Ink draws no live area in CI');
  assert.equal(progressMode({ stdoutIsTTY: true, env: { CI: 'false' } }), 'tty');
  assert.throws(() => progressMode({ ...tty, progress: 'fancy' }), /--progress must be auto, tty, plain or json/);
});

test('stats view: successive listings become status, restart and health events for the same view', async () => {
  const { listingEvents } = await import('../../../src/ui/stats-view.js');
  const { initialState, reduce } = await import('../../../src/ui/model.js');
  const now = 100_000;
  const web = { name: 'web', state: 'running', pid: 10, uptime: 30, restarts: 0, health: 'healthy' as const };
  const first = listingEvents(new Map(), [web], now);
  assert.deepEqual(first, [
    { type: 'status', container: 'web', state: 'running', status: 'running', pid: 10, at: 70_000 },
    { type: 'health', container: 'web', status: 'healthy', at: now },
  ]);
  let s = first.reduce((st, e) => reduce(st, e, now), initialState({ now }));
  assert.equal(s.containers.web.startedAt, 70_000, 'uptime comes from the listing');
  assert.deepEqual(listingEvents(new Map([['web', web]]), [web], now), [], 'nothing changed, nothing said');
  const again = { ...web, pid: 11, uptime: 1, restarts: 1 };
  const evs = listingEvents(new Map([['web', web]]), [again], now);
  assert.deepEqual(evs.map((e) => e.type), ['restart', 'status', 'health']);
  s = evs.reduce((st, e) => reduce(st, e, now), s);
  assert.deepEqual([s.containers.web.state, s.containers.web.pid, s.containers.web.restarts, s.containers.web.health], ['running', 11, 1, 'healthy']);
  const paused = listingEvents(new Map([['web', again]]), [{ ...again, state: 'paused' }], now);
  s = paused.reduce((st, e) => reduce(st, e, now), s);
  assert.equal(s.containers.web.status, 'paused', 'the row shows paused');
  const gone = listingEvents(new Map([['web', again]]), [], now);
  assert.deepEqual(gone, [{ type: 'status', container: 'web', state: 'exited', status: 'removed', at: now }]);
});
