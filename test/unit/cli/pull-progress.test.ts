// The pull reporter: plain timestamped lines (download progress at most once a second per layer),
// TTY frames redrawn in place, --quiet.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { humanBytes, pullReporter } from '../../../src/cli/pull-progress.js';
import { ago } from '../../../src/cli/image.js';
import type { PullEvent } from '../../../src/image/types.js';

const D1 = 'sha256:' + '1'.repeat(64);
const D2 = 'sha256:' + '2'.repeat(64);
const M = 'sha256:' + 'f'.repeat(64);
const events: PullEvent[] = [
  { type: 'resolve', ref: 'busybox:latest', digest: M, layers: 2 },
  { type: 'layer', ref: 'busybox:latest', digest: D1, state: 'exists', total: 1000 },
  { type: 'layer', ref: 'busybox:latest', digest: D2, state: 'waiting', total: 3_000_000 },
  { type: 'layer', ref: 'busybox:latest', digest: D2, state: 'downloading', current: 0, total: 3_000_000 },
  { type: 'layer', ref: 'busybox:latest', digest: D2, state: 'downloading', current: 1_500_000, total: 3_000_000 },
  { type: 'layer', ref: 'busybox:latest', digest: D2, state: 'retry', message: 'attempt 2 of 4 after: reset' },
  { type: 'layer', ref: 'busybox:latest', digest: D2, state: 'unpacking' },
  { type: 'layer', ref: 'busybox:latest', digest: D2, state: 'done', current: 3_000_000, total: 3_000_000 },
  { type: 'done', ref: 'busybox:latest', digest: M, downloadedBytes: 3_000_000, ms: 1234 },
];

function sink(columns?: number) {
  let text = '';
  return { out: { write: (s: string) => { text += s; return true; }, columns } as unknown as NodeJS.WritableStream & { columns?: number }, text: () => text };
}

test('plain: timestamped lines, state changes only', () => {
  const s = sink();
  const r = pullReporter({ out: s.out, tty: false, now: () => new Date('2026-01-02T03:04:05.000Z') });
  for (const e of events) r.onEvent(e);
  r.finish();
  const lines = s.text().trimEnd().split('\n');
  assert.deepEqual(lines, [
    `2026-01-02T03:04:05.000Z busybox:latest: resolved to ${M} (2 layers)`,
    '2026-01-02T03:04:05.000Z busybox:latest: layer 111111111111 already present 1.00kB',
    '2026-01-02T03:04:05.000Z busybox:latest: layer 222222222222 waiting 3.00MB',
    '2026-01-02T03:04:05.000Z busybox:latest: layer 222222222222 downloading 0B/3.00MB',
    '2026-01-02T03:04:05.000Z busybox:latest: layer 222222222222 retrying: attempt 2 of 4 after: reset',
    '2026-01-02T03:04:05.000Z busybox:latest: layer 222222222222 unpacking',
    '2026-01-02T03:04:05.000Z busybox:latest: layer 222222222222 done',
    `2026-01-02T03:04:05.000Z busybox:latest: pulled ${M} (downloaded 3.00MB in 1.2s)`,
  ]);
});

test('tty: one row per layer, redrawn in place; the last frame shows every layer done', () => {
  const s = sink(100);
  const r = pullReporter({ out: s.out, tty: true });
  for (const e of events.slice(0, 5)) r.onEvent(e);
  r.finish();
  const frame1 = s.text();
  assert.match(frame1, /^busybox:latest: pulling sha256:f+\n/);
  assert.match(frame1, /\x1b\[2K111111111111  already present 1\.00kB\n/);
  assert.match(frame1, /\x1b\[2K222222222222  downloading     \[=+>\s+\] 1\.50MB\/3\.00MB\n$/);
  for (const e of events.slice(5)) r.onEvent(e);
  r.finish();
  const rest = s.text().slice(frame1.length);
  assert.ok(rest.startsWith('\x1b[2A'), 'moves up over the previous frame');
  assert.match(rest, /222222222222  done            3\.00MB\n/);
  assert.match(rest, /pulled sha256:f+ \(downloaded 3\.00MB in 1\.2s\)\n$/);
  for (const line of s.text().split('\n').filter((l) => l.includes('\x1b[2K'))) assert.ok(line.replace(/\x1b\[\d*[A-Z]/g, '').length < 100);
});

/** The screen a terminal shows after this output (cursor up, erase line, erase below, newlines). */
function screen(text: string): string[] {
  const lines: string[] = [''];
  let y = 0;
  for (const m of text.matchAll(/\x1b\[(\d*)([AKJ])|\n|[^\x1b\n]+/g)) {
    if (m[0] === '\n') { y++; if (y === lines.length) lines.push(''); } else if (m[2] === 'A') y = Math.max(0, y - Number(m[1] || 1));
    else if (m[2] === 'K') lines[y] = '';
    else if (m[2] === 'J') lines.splice(y + 1), lines[y] = '';
    else lines[y] += m[0];
  }
  return lines.filter((l, i) => l || i < lines.length - 1);
}

test('tty, two images at once: a finished image leaves its lines above the live block of the other', () => {
  const s = sink(100);
  const r = pullReporter({ out: s.out, tty: true });
  const A = 'sha256:' + 'a'.repeat(64);
  const B = 'sha256:' + 'b'.repeat(64);
  r.onEvent({ type: 'resolve', ref: 'one:1', digest: M, layers: 1 });
  r.onEvent({ type: 'layer', ref: 'one:1', digest: A, state: 'downloading', current: 10, total: 100 });
  r.onEvent({ type: 'resolve', ref: 'two:2', digest: M, layers: 1 });
  r.onEvent({ type: 'layer', ref: 'two:2', digest: B, state: 'downloading', current: 50, total: 100 });
  r.finish();
  r.onEvent({ type: 'layer', ref: 'one:1', digest: A, state: 'done', current: 100, total: 100 });
  r.onEvent({ type: 'done', ref: 'one:1', digest: M, downloadedBytes: 100, ms: 10 });
  r.onEvent({ type: 'layer', ref: 'two:2', digest: B, state: 'unpacking' });
  r.finish();
  assert.deepEqual(screen(s.text()), [
    `one:1: pulling ${M}`,
    `two:2: pulling ${M}`,
    'aaaaaaaaaaaa  done            100B',
    `one:1: pulled ${M} (downloaded 100B in 0.0s)`,
    'bbbbbbbbbbbb  unpacking       ',
  ]);
  r.onEvent({ type: 'layer', ref: 'two:2', digest: B, state: 'done', current: 100, total: 100 });
  r.onEvent({ type: 'done', ref: 'two:2', digest: M, downloadedBytes: 100, ms: 20 });
  assert.deepEqual(screen(s.text()).slice(4), ['bbbbbbbbbbbb  done            100B', `two:2: pulled ${M} (downloaded 100B in 0.0s)`]);
});

test('quiet prints nothing; sizes and ages read like docker\'s', () => {
  const s = sink();
  const r = pullReporter({ out: s.out, tty: false, quiet: true });
  for (const e of events) r.onEvent(e);
  assert.equal(s.text(), '');
  assert.deepEqual([0, 999, 1000, 1_234_567, 98_700_000, 5e9].map(humanBytes), ['0B', '999B', '1.00kB', '1.23MB', '98.7MB', '5.00GB']);
  assert.deepEqual([500, 30_000, 70_000, 180_000, 3_600_000, 7_200_000, 86_400_000 * 3, 86_400_000 * 20, 86_400_000 * 400].map(ago),
    ['just now', '30 seconds ago', 'about a minute ago', '3 minutes ago', 'about an hour ago', '2 hours ago', '3 days ago', '3 weeks ago', '1 year ago']);
});
