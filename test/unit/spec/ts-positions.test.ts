// Positions of fields in TS specs: found in order along the dotted path, or not at all.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { locateInSource } from '../../../src/spec/load/ts-positions.js';

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
