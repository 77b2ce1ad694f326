// `niwa plan --only FIELD`: just the steps of one spec field (prefix match on the dotted path), for
// the course's "look at the steps this lesson is about". Through the real CLI (bin/niwa.js → dist).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { example, niwa } from '../../helpers.js';

const lesson = (f: string) => example('course', f);

test('--only cgroup.memory --explain shows the memory limit step and nothing else', () => {
  const r = niwa(['plan', '--host', 'generic', '--explain', '--only', 'cgroup.memory', lesson('07-cgroup-memory.container.yaml')]);
  assert.equal(r.status, 0, r.stderr);
  const steps = r.stdout.match(/^\[\d+\] .*/gm) ?? [];
  assert.equal(steps.length, 1, r.stdout);
  assert.match(steps[0], /memory\.max/);
  assert.match(r.stdout, /from: spec field cgroup\.memory/);
  assert.match(r.stdout, /^1 step\. /m);
});

test('--only takes a comma list; a field without steps of its own gets its parent\'s (namespaces.uts → the clone)', () => {
  const r = niwa(['plan', '--json', '--host', 'generic', '--only', 'namespaces.uts,hostname', lesson('01-uts.container.yaml')]);
  assert.equal(r.status, 0, r.stderr);
  const plan = JSON.parse(r.stdout) as { steps: { op: string; field: string }[] };
  assert.deepEqual([...new Set(plan.steps.map((s) => s.field))].sort(), ['hostname', 'namespaces']);
  assert.ok(plan.steps.some((s) => s.op === 'clone'));
  assert.ok(!plan.steps.some((s) => s.field === 'namespaces.mount'), 'not the siblings');
});

test('--only with a field that has no steps is a usage error listing the fields that do', () => {
  const r = niwa(['plan', '--host', 'generic', '--only', 'cgroupz', lesson('07-cgroup-memory.container.yaml')]);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /no step comes from spec field 'cgroupz'/);
  assert.match(r.stderr, /fields with steps in this plan: .*cgroup/);
  const s = niwa(['plan', '--shell', '--only', 'cgroup', lesson('07-cgroup-memory.container.yaml')]);
  assert.equal(s.status, 2);
});
