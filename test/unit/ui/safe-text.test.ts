// Container output on a terminal: control characters are shown, never sent.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { harmless } from '../../../src/ui/safe-text.js';
import { prefixer } from '../../../src/compose/logs.js';

test('escape sequences, C0 and C1 controls and DEL become visible text; tabs and printable text stay', () => {
  assert.equal(harmless('\x1b]0;pwned\x07\x1b[2J\x1b[31mred\tok\x7f\u009b1m é'), '^[]0;pwned^G^[[2J^[[31mred\tok^?\\u009b1m é');
  assert.equal(harmless('plain text'), 'plain text');
  assert.doesNotMatch(harmless(String.fromCharCode(...Array.from({ length: 160 }, (_, i) => i))), /[\x00-\x08\x0a-\x1f\x7f-\x9f]/);
});

test('compose logs: the prefix keeps its colour, the container\'s line is made harmless unless raw', () => {
  const e = { time: '2026-01-01T00:00:00.000Z', stream: 'stdout' as const, line: 'a\x1b[2Jb' };
  assert.equal(prefixer(['web'], { colour: true })('web', e), '\x1b[36mweb |\x1b[0m a^[[2Jb\n');
  assert.equal(prefixer(['web'], { colour: false, raw: true })('web', e), 'web | a\x1b[2Jb\n');
});
