// The live view's stop feedback and `niwa stats`' q: a container asked to stop (or restart) shows
// "stopping (Ns)" until its run ends or a new one starts, and a view that watches containers it does
// not own says that q leaves them running.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { render } from 'ink-testing-library';
import { initialState, reduce, type ViewState } from '../../../src/ui/model.js';
import { ContainerRow, stateText } from '../../../src/ui/components/ContainerRow.js';
import { HelpBar } from '../../../src/ui/components/HelpBar.js';
import { listingEvents } from '../../../src/ui/stats-view.js';

const T0 = 1_700_000_000_000;
const running = (opts: { quitLeavesRunning?: boolean } = {}): ViewState =>
  reduce(initialState({ title: 't', now: T0, ...opts }), { type: 'status', container: 'web', state: 'running', pid: 42, at: T0 }, T0);

test('r or s on a running container: "stopping (Ns)" counts up until the run ends', () => {
  let s = reduce(running(), { type: 'ui:action', action: { type: 'restart', name: 'web' } }, T0 + 1000);
  assert.equal(s.containers.web.stoppingSince, T0 + 1000);
  s = reduce(s, { type: 'ui:tick', now: T0 + 4500 }, T0 + 4500);
  assert.equal(stateText(s.containers.web, s.now), 'stopping (3s)');
  const r = render(<ContainerRow c={s.containers.web} selected={false} now={s.now} nameWidth={4} />);
  assert.match(r.lastFrame() ?? '', /web\s+stopping \(3s\)/);
  r.unmount();
  // The same run listed again (same pid) keeps the notice; the new run after the restart clears it.
  s = reduce(s, { type: 'status', container: 'web', state: 'running', pid: 42 }, T0 + 5000);
  assert.equal(stateText(s.containers.web, T0 + 5000), 'stopping (4s)');
  s = reduce(s, { type: 'status', container: 'web', state: 'running', pid: 43, at: T0 + 6000 }, T0 + 6000);
  assert.equal(s.containers.web.stoppingSince, undefined);
  assert.equal(stateText(s.containers.web, T0 + 6000), 'running');
  // s, then the run ends: exited, no notice.
  s = reduce(s, { type: 'ui:action', action: { type: 'stop', name: 'web' } }, T0 + 7000);
  s = reduce(s, { type: 'status', container: 'web', state: 'exited', status: 'stopped', exitCode: 0 }, T0 + 9000);
  assert.equal(stateText(s.containers.web, T0 + 9000), 'stopped');
});

test('an engine that reports "stopping" gets the same count from its report on', () => {
  const s = reduce(running(), { type: 'status', container: 'web', state: 'stopping', at: T0 + 2000 }, T0 + 2000);
  assert.equal(stateText(s.containers.web, T0 + 12_000), 'stopping (10s)');
});

test('q in a view that leaves containers running says so, and a second Ctrl-C does not force anything', () => {
  let s = reduce(running({ quitLeavesRunning: true }), { type: 'ui:action', action: { type: 'stopAll', force: false } }, T0);
  assert.equal(s.quitting, 'graceful');
  assert.match(s.finished.at(-1)!.text, /the containers keep running/);
  assert.doesNotMatch(s.finished.map((l) => l.text).join('\n'), /stopping every container/);
  const again = reduce(s, { type: 'ui:action', action: { type: 'stopAll', force: true } }, T0);
  assert.equal(again.quitting, 'graceful');
  const help = render(<HelpBar quitting="no" interactive leaves />);
  assert.match(help.lastFrame() ?? '', /q quit \(the containers keep running\)/);
  help.unmount();
  const leaving = render(<HelpBar quitting="graceful" interactive leaves />);
  assert.match(leaving.lastFrame() ?? '', /leaving the view… the containers keep running/);
  leaving.unmount();
});

test('listings of the stats view: a restart shows as a new pid, which ends "stopping"', () => {
  const prev = new Map([['web', { name: 'web', state: 'running', pid: 42, uptime: 5, restarts: 0, health: 'none' as const }]]);
  const evs = listingEvents(prev, [{ name: 'web', state: 'running', pid: 43, uptime: 0, restarts: 0, health: 'none' }], T0);
  let s = reduce(running(), { type: 'ui:action', action: { type: 'restart', name: 'web' } }, T0);
  for (const e of evs) s = reduce(s, e, T0);
  assert.equal(s.containers.web.pid, 43);
  assert.equal(s.containers.web.stoppingSince, undefined);
});
