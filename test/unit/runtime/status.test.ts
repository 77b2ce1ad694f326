// The status state machine: every allowed move is accepted, every other one throws, and the
// statuses print as ps shows them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { STATUSES, canTransition, transition, TransitionError, describeStatus, isLive, type Status } from '../../../src/runtime/status.js';

const ALLOWED: [Status, Status][] = [
  ['created', 'running'], ['created', 'exited'], ['created', 'stopped'],
  ['running', 'paused'], ['running', 'stopping'], ['running', 'stopped'], ['running', 'exited'], ['running', 'oom-killed'],
  ['paused', 'running'], ['paused', 'stopping'], ['paused', 'stopped'], ['paused', 'exited'], ['paused', 'oom-killed'],
  ['stopping', 'stopped'], ['stopping', 'exited'], ['stopping', 'oom-killed'],
  ['restarting', 'running'], ['restarting', 'stopped'], ['restarting', 'exited'],
  ['exited', 'restarting'], ['oom-killed', 'restarting'],
];

test('exactly the listed transitions are allowed; every other pair throws TransitionError', () => {
  const allowed = new Set(ALLOWED.map(([a, b]) => `${a}>${b}`));
  let checked = 0;
  for (const from of STATUSES) {
    for (const to of STATUSES) {
      const ok = allowed.has(`${from}>${to}`);
      assert.equal(canTransition(from, to), ok, `${from} → ${to}`);
      if (ok) assert.equal(transition(from, to), to);
      else assert.throws(() => transition(from, to), (e: unknown) => e instanceof TransitionError && e.from === from && e.to === to);
      checked++;
    }
  }
  assert.equal(checked, STATUSES.length ** 2);
});

test('stopped is final; exited and oom-killed only move on to restarting; nothing goes back to created', () => {
  for (const to of STATUSES) assert.equal(canTransition('stopped', to), false);
  for (const from of STATUSES) assert.equal(canTransition(from, 'created'), false);
  assert.deepEqual(STATUSES.filter((to) => canTransition('exited', to)), ['restarting']);
  assert.throws(() => transition('exited', 'running'), /cannot move from exited to running/);
  assert.throws(() => transition('paused', 'paused'));
});

test('live statuses and how ps prints them', () => {
  assert.deepEqual(STATUSES.filter(isLive), ['created', 'running', 'paused', 'stopping', 'restarting']);
  assert.equal(describeStatus({ status: 'exited', exitCode: 3 }), 'exited(3)');
  assert.equal(describeStatus({ status: 'exited', exitCode: null, signal: 9 }), 'exited(137)');
  assert.equal(describeStatus({ status: 'exited' }), 'exited(unknown)');
  assert.equal(describeStatus({ status: 'stopped', signal: 15 }), 'stopped(143)');
  assert.equal(describeStatus({ status: 'stopped' }), 'stopped');
  assert.equal(describeStatus({ status: 'oom-killed', signal: 9 }), 'oom-killed');
  assert.equal(describeStatus({ status: 'paused' }), 'paused');
  assert.equal(describeStatus({ status: 'stopping' }), 'stopping');
  // shim and supervisor gone, processes still in the cgroups (runtime/state.ts deriveState)
  assert.equal(describeStatus({ status: 'running', unsupervised: true }), 'running (unsupervised)');
  assert.equal(describeStatus({ status: 'exited', unsupervised: true, exitCode: 1 }), 'exited(1)');
});
