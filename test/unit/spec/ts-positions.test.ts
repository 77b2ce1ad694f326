// Positions of fields in TS specs: found in order along the dotted path, or not at all.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { locateBuilderCalls, locateInSource } from '../../../src/spec/load/ts-positions.js';

const src = `import { defineContainer } from 'niwa';
export default defineContainer({
  name: 'web',
  hostname: 'x',
  process: {
    args: ['/bin/true'],
    'cwd': '/srv',
  },
  cgroup: { memory: 'lots', pids: 10 },
});
`;

test('a nested key is found after its parent, list indexes skipped', () => {
  assert.deepEqual(locateInSource(src, 'process.args.0'), { line: 6, col: 5 });
  assert.deepEqual(locateInSource(src, 'process.cwd'), { line: 7, col: 5 });
  assert.deepEqual(locateInSource(src, 'cgroup.memory'), { line: 9, col: 13 });
  assert.deepEqual(locateInSource(src, 'name'), { line: 3, col: 3 });
});

test('a path that is not written as keys gets no position (never a wrong one)', () => {
  assert.equal(locateInSource(src, 'capabilities.drop'), undefined);
  assert.equal(locateInSource(src, 'cgroup.cpus'), undefined);
  // the builder's method form
  assert.deepEqual(locateInSource("container('x').memory('64M')", 'memory'), { line: 1, col: 16 });
});

test('several builders in one file: each builder\'s calls are counted from its own container(NAME) call', () => {
  const barn = `const a = container('a').memory('1m')
  .memory('2m');
const b = container("b").hostname('x')
  .memory('3m');
// container('b') in a comment is no second b
const c = container('c').memory('4m');
`;
  assert.deepEqual(locateBuilderCalls(barn, 'b', { name: { method: 'container', nth: 0 }, 'cgroup.memory': { method: 'memory', nth: 0 } }),
    { name: { line: 3, col: 11 }, 'cgroup.memory': { line: 4, col: 4 } });
  assert.deepEqual(locateBuilderCalls(barn, 'a', { 'cgroup.memory': { method: 'memory', nth: 1 } }), { 'cgroup.memory': { line: 2, col: 4 } });
  // a call outside the builder's stretch: the builder's own call, never another builder's
  assert.deepEqual(locateBuilderCalls(barn, 'c', { hostname: { method: 'hostname', nth: 0 } }), { hostname: { line: 6, col: 11 } });
  // which builder cannot be told: no positions
  assert.deepEqual(locateBuilderCalls(barn + "const d = container('c');\n", 'c', { 'cgroup.memory': { method: 'memory', nth: 0 } }), {});
  assert.deepEqual(locateBuilderCalls(barn, 'zz', { 'cgroup.memory': { method: 'memory', nth: 0 } }), {});
  // one builder: counted over the whole file, as before
  assert.deepEqual(locateBuilderCalls("x(container('q')).memory('1m')", 'other', { 'cgroup.memory': { method: 'memory', nth: 0 } }), { 'cgroup.memory': { line: 1, col: 19 } });
});
