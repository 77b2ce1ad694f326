// `niwa run --quiz`: the question shows what the container is made of and its command (not the
// answer), and a prediction is judged against what the container printed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { example } from '../../helpers.js';
import { judge, question } from '../../../src/cli/quiz.js';
import { loadSpec } from '../../../src/spec/load/index.js';

test('a guess is right when it is a printed line or a part of the output of 3 characters or more', () => {
  const out = 'my pid: 1\nprocesses:\n  1 sh\n';
  assert.equal(judge('my pid: 1', out), 'right');
  assert.equal(judge('  My   PID: 1 ', out), 'right', 'case and spaces do not matter');
  assert.equal(judge('pid: 1', out), 'right');
  assert.equal(judge('my pid: 4242', out), 'wrong');
  assert.equal(judge('1', 'my pid: 12\n'), 'wrong', 'one character is not a line of its own');
  assert.equal(judge('', out), 'skipped');
});

test('the question names the namespaces, the limits and the command', async () => {
  const q = question(await loadSpec(example('course', '07-cgroup-memory.container.yaml'))).join('\n');
  assert.match(q, /quiz: lesson-memory/);
  assert.match(q, /namespaces: mount, pid/);
  assert.match(q, /memory: 33554432 bytes/);
  assert.match(q, /it runs: \/bin\/sh -c /);
  assert.match(q, /What will it print\?/);
});
