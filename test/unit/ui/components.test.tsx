// Component frames (ink-testing-library): every component, and every key binding through <App>.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useState } from 'react';
import { render } from 'ink-testing-library';
import { initialState, reduce, type Action, type ViewState, type FinishedLine } from '../../../src/ui/model.js';
import type { RuntimeEvent } from '../../../src/events/types.js';
import { ContainerRow } from '../../../src/ui/components/ContainerRow.js';
import { ContainerTable } from '../../../src/ui/components/ContainerTable.js';
import { FinishedLines } from '../../../src/ui/components/FinishedLines.js';
import { LogPane } from '../../../src/ui/components/LogPane.js';
import { HelpBar } from '../../../src/ui/components/HelpBar.js';
import { App } from '../../../src/ui/components/App.js';

// eslint-disable-next-line no-control-regex
const plain = (s: string | undefined) => (s ?? '').replace(/\u001B\[[0-9;]*m/g, '');
const tick = () => new Promise((r) => setTimeout(r, 20));
const T0 = new Date(2024, 0, 1, 9, 0, 0).getTime();

function demoState(): ViewState {
  const ev: RuntimeEvent[] = [
    { type: 'plan', container: 'web', steps: 40, warnings: [] },
    { type: 'started', container: 'web', pid: 4242, ms: 7 },
    { type: 'status', container: 'web', state: 'running', pid: 4242, at: T0, ports: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }] },
    { type: 'health', container: 'web', status: 'healthy' },
    { type: 'plan', container: 'db', steps: 40, warnings: [] },
    { type: 'step', container: 'db', index: 11, op: 'mount', ok: true },
    { type: 'log', container: 'web', stream: 'stdout', line: 'GET / 200', at: T0 + 1 },
    { type: 'log', container: 'db', stream: 'stderr', line: 'db says hi', at: T0 + 2 },
  ];
  let s = ev.reduce((st, e) => reduce(st, e, T0), initialState({ title: 'demo', now: T0 }));
  s = reduce(s, { type: 'ui:stats', at: T0, stats: { web: { memory: { current: 12 << 20, limit: 64 << 20 }, cpu: { usageNs: 0 }, pids: {}, oomKills: 0 } } });
  s = reduce(s, { type: 'ui:stats', at: T0 + 1000, stats: { web: { memory: { current: 12 << 20, limit: 64 << 20 }, cpu: { usageNs: 32e6 }, pids: {}, oomKills: 0 } } });
  return reduce(s, { type: 'ui:tick', now: T0 + 185_000 });
}

test('ContainerRow: name, coloured state, health, pid, uptime, CPU, memory/limit, restarts, ports; marker when selected', () => {
  const s = demoState();
  const r = render(<ContainerRow c={s.containers.web} selected now={s.now} nameWidth={4} />);
  const f = plain(r.lastFrame());
  assert.match(f, /^› web\s+running\s+healthy\s+4242\s+3m05s\s+3\.2%\s+12M \/ 64M\s+0 8080→80\/tcp/);
  r.unmount();
  const r2 = render(<ContainerRow c={s.containers.db} selected={false} now={s.now} nameWidth={4} />);
  assert.match(plain(r2.lastFrame()), /^ {2}db\s+starting\s+12\/40 mount\s+-\s+-\s+-\s+-\s+0/);
  r2.unmount();
  const ex = reduce(s, { type: 'exited', container: 'db', code: 3, signal: null, oomKilled: false });
  const r3 = render(<ContainerRow c={ex.containers.db} selected={false} now={s.now} nameWidth={4} />);
  assert.match(plain(r3.lastFrame()), /db\s+exited\s+code 3/);
  r3.unmount();
});

test('ContainerTable: header, rows in order, "more" markers, and a placeholder when empty', () => {
  const s = demoState();
  const r = render(<ContainerTable rows={[s.containers.web, s.containers.db]} selected="db" now={s.now} nameWidth={4} hiddenAbove={2} hiddenBelow={5} />);
  const lines = plain(r.lastFrame()).split('\n');
  assert.match(lines[0], /NAME\s+STATE\s+STEP\/HEALTH\s+PID\s+UPTIME\s+CPU\s+MEM\s+RST PORTS/);
  assert.match(lines[1], /↑ 2 more/);
  assert.match(lines[2], /^ {2}web/);
  assert.match(lines[3], /^› db/);
  assert.match(lines[4], /↓ 5 more/);
  r.unmount();
  const e = render(<ContainerTable rows={[]} now={0} nameWidth={4} />);
  assert.match(plain(e.lastFrame()), /waiting for containers/);
  e.unmount();
});

test('FinishedLines: timestamped lines written once per batch, new batches appended above', () => {
  const line = (id: number, text: string, level: FinishedLine['level'] = 'info'): FinishedLine => ({ id, at: T0 + 1, container: 'web', level, text });
  const r = render(<FinishedLines lines={[line(0, 'running pid 1', 'ok'), line(1, 'boom', 'error')]} batch={1} nameWidth={4} />);
  assert.equal(plain(r.lastFrame()), '09:00:00.001 web   running pid 1\n09:00:00.001 web   boom\n');
  r.rerender(<FinishedLines lines={[line(0, 'running pid 1', 'ok'), line(1, 'boom', 'error')]} batch={1} nameWidth={4} />);
  assert.equal(plain(r.lastFrame()).split('\n').filter(Boolean).length, 2, 'same batch: nothing written again');
  r.rerender(<FinishedLines lines={[{ ...line(2, 'GET /', 'log'), stream: 'stdout' }]} batch={2} nameWidth={4} />);
  assert.equal(plain(r.lastFrame()), '09:00:00.001 web   running pid 1\n09:00:00.001 web   boom\n09:00:00.001 web  | GET /\n');
  r.unmount();
});

test('LogPane: a title naming the services, then their lines; nothing when no service is toggled', () => {
  const s = demoState();
  const r = render(<LogPane services={['web', 'db']} lines={[...s.logTail.web, ...s.logTail.db]} nameWidth={4} height={5} />);
  const f = plain(r.lastFrame());
  assert.match(f, /── logs: web, db/);
  assert.match(f, /web  \| GET \/ 200/);
  assert.match(f, /db {3}! db says hi/);
  r.unmount();
  const e = render(<LogPane services={[]} lines={[]} nameWidth={4} height={5} />);
  assert.equal(plain(e.lastFrame()), '');
  e.unmount();
  const w = render(<LogPane services={['web']} lines={[]} nameWidth={4} height={5} />);
  assert.match(plain(w.lastFrame()), /no output yet/);
  w.unmount();
});

test('HelpBar: keys when interactive, the stopping notice while quitting', () => {
  const cases: [Parameters<typeof HelpBar>[0], RegExp][] = [
    [{ quitting: 'no', interactive: true }, /↑\/↓ select · l logs · r restart · s stop · q quit/],
    [{ quitting: 'no', interactive: false }, /^Ctrl-C stop all$/],
    [{ quitting: 'graceful', interactive: true }, /stopping everything… \(Ctrl-C again to force\)/],
    [{ quitting: 'force', interactive: true }, /forcing/],
  ];
  for (const [props, re] of cases) {
    const r = render(<HelpBar {...props} />);
    assert.match(plain(r.lastFrame()), re);
    r.unmount();
  }
});

test('App: title with counts, table, help; finished lines above', () => {
  const s = demoState();
  const lines: FinishedLine[] = [{ id: 0, at: T0, container: 'web', level: 'ok', text: 'running pid 4242' }];
  const r = render(<App state={s} lines={lines} batch={1} rows={40} interactive onAction={() => {}} />);
  const f = plain(r.lastFrame()).split('\n');
  assert.match(f[0], /web {3}running pid 4242/);
  assert.match(f[1], /^demo — 1\/2 running$/);
  assert.match(f[2], /NAME/);
  assert.match(f[3], /^› web/);
  assert.match(f[4], /^ {2}db/);
  assert.match(f[5], /q quit/);
  r.unmount();
});

async function pressed(keys: string[], state = demoState()): Promise<Action[]> {
  const got: Action[] = [];
  const r = render(<App state={state} lines={[]} batch={0} rows={40} interactive onAction={(a) => got.push(a)} />);
  await tick();
  for (const k of keys) { r.stdin.write(k); await tick(); }
  r.unmount();
  return got;
}

test('App keys: every binding reaches onAction through keyToAction', async () => {
  assert.deepEqual(await pressed(['l']), [{ type: 'toggleLogs', name: 'web' }]);
  assert.deepEqual(await pressed(['r']), [{ type: 'restart', name: 'web' }]);
  assert.deepEqual(await pressed(['s']), [{ type: 'stop', name: 'web' }]);
  assert.deepEqual(await pressed(['\u001B[B']), [{ type: 'select', delta: 1 }]);
  assert.deepEqual(await pressed(['\u001B[A']), [{ type: 'select', delta: -1 }]);
  assert.deepEqual(await pressed(['q']), [{ type: 'stopAll', force: false }]);
  assert.deepEqual(await pressed(['\u0003']), [{ type: 'stopAll', force: false, interrupt: true }]);
  assert.deepEqual(await pressed(['x', 'z']), [], 'other keys do nothing');
  const quitting = reduce(demoState(), { type: 'ui:action', action: { type: 'stopAll', force: false } });
  assert.deepEqual(await pressed(['\u0003'], quitting), [{ type: 'stopAll', force: true, interrupt: true }], 'second Ctrl-C forces');
});

/** App wired to the reducer, as live.tsx does it, so a key press shows up in the next frame. */
function Wired({ init, onAction }: { init: ViewState; onAction: (a: Action) => void }) {
  const [s, set] = useState(init);
  return <App state={s} lines={[]} batch={0} rows={40} interactive onAction={(a) => { onAction(a); set((x) => reduce(x, { type: 'ui:action', action: a })); }} />;
}

test('App keys change the frame: ↓ moves the marker, l opens the log pane, Ctrl-C twice shows forcing', async () => {
  const acts: Action[] = [];
  const r = render(<Wired init={demoState()} onAction={(a) => acts.push(a)} />);
  // Each key is answered by a re-render; under load that takes longer than a tick: wait for the frame
  // (the next key's handler reads the state the last render gave it).
  const frame = async (re: RegExp, not = false) => {
    for (let i = 0; i < 100 && re.test(plain(r.lastFrame())) === not; i++) await tick();
    if (not) assert.doesNotMatch(plain(r.lastFrame()), re); else assert.match(plain(r.lastFrame()), re);
  };
  await frame(/› web/);
  r.stdin.write('\u001B[B');
  await frame(/› db/);
  assert.doesNotMatch(plain(r.lastFrame()), /── logs/);
  r.stdin.write('l');
  await frame(/── logs: db[\s\S]*db says hi/);
  r.stdin.write('l');
  await frame(/── logs/, true);
  r.stdin.write('\u001B[A');
  await frame(/› web/);
  r.stdin.write('l');
  await frame(/── logs: web[\s\S]*GET \/ 200/);
  r.stdin.write('\u0003');
  await frame(/stopping everything/);
  r.stdin.write('\u0003');
  await frame(/forcing: killing everything/);
  assert.deepEqual(acts.map((a) => a.type), ['select', 'toggleLogs', 'toggleLogs', 'select', 'toggleLogs', 'stopAll', 'stopAll']);
  r.unmount();
});
