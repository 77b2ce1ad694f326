// Pulls in the live view: pull events make a row per image (bar, layers done, bytes), a finished
// line when it is done or failed, and the row goes; the App frame shows the row above the table.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { render } from 'ink-testing-library';
import { initialState, reduce, pullSummary, type ViewState } from '../../../src/ui/model.js';
import type { RuntimeEvent } from '../../../src/events/types.js';
import { App } from '../../../src/ui/components/App.js';
import { pullLine } from '../../../src/ui/components/PullRows.js';

// eslint-disable-next-line no-control-regex
const plain = (s: string | undefined) => (s ?? '').replace(/\u001B\[[0-9;]*m/g, '');
const D1 = 'sha256:' + '1'.repeat(64);
const D2 = 'sha256:' + '2'.repeat(64);
const pull = (event: Extract<RuntimeEvent, { type: 'pull' }>['event']): RuntimeEvent => ({ type: 'pull', event });

function pulling(): ViewState {
  let s = initialState({ title: 'niwa compose up — demo', now: 1000 });
  for (const e of [
    pull({ type: 'resolve', ref: 'db:16', digest: 'sha256:' + 'a'.repeat(64), layers: 2 }),
    pull({ type: 'layer', ref: 'db:16', digest: D1, state: 'downloading', current: 5e6, total: 10e6 }),
    pull({ type: 'layer', ref: 'db:16', digest: D2, state: 'done', total: 2e6 }),
  ]) s = reduce(s, e, 1000);
  return s;
}

test('a pull is a row with layers done and bytes; done leaves a finished line and removes the row', () => {
  let s = pulling();
  assert.deepEqual(s.pullOrder, ['db:16']);
  assert.deepEqual(pullSummary(s.pulls['db:16']), { done: 1, layers: 2, current: 7e6, total: 12e6 });
  assert.match(pullLine(s.pulls['db:16']), /^pulling db:16 {2}\[=+> +\] 1\/2 layers {2}7\.0MB\/12\.0MB$/);
  s = reduce(s, pull({ type: 'done', ref: 'db:16', digest: 'sha256:' + 'a'.repeat(64), downloadedBytes: 12e6, ms: 1500 }), 2000);
  assert.deepEqual(s.pullOrder, []);
  assert.deepEqual(s.pulls, {});
  assert.equal(s.finished.at(-1)!.text, 'pulled db:16 (12.0 MB in 1.5 s)');
  s = reduce(s, pull({ type: 'error', ref: 'x:1', message: 'manifest unknown' }), 2100);
  assert.equal(s.finished.at(-1)!.level, 'error');
  assert.equal(s.finished.at(-1)!.text, 'pull x:1: manifest unknown');
});

test('the App frame shows the pull row above the table', () => {
  const r = render(<App state={pulling()} lines={[]} batch={0} rows={30} interactive={false} onAction={() => {}} />);
  const frame = plain(r.lastFrame());
  const lines = frame.split('\n');
  const title = lines.findIndex((l) => l.includes('niwa compose up — demo'));
  const row = lines.findIndex((l) => l.startsWith('pulling db:16'));
  assert.ok(title >= 0 && row === title + 1, frame);
  r.unmount();
});
