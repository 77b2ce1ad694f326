// The device allowlist's eBPF program (cgroup v2), run through the same interpreter semantics the
// kernel applies: allowed accesses return 1, everything else 0; and its byte encoding.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deviceProgram, deviceRules, programBytes, ruleText, runDeviceProgram } from '../../../src/plan/steps/devices.js';
import type { CanonicalDevice } from '../../../src/spec/types.js';

const fuse: CanonicalDevice = { type: 'c', major: 10, minor: 229, access: 'rw', source: '/dev/fuse', target: '/dev/fuse', field: 'devices.0' };
const prog = deviceProgram(deviceRules({ devices: [fuse] }));
const allowed = (type: 'b' | 'c', access: string, major: number, minor: number) => runDeviceProgram(prog, type, access, major, minor) === 1;

test('the default list: null, zero, full, random, urandom, tty, console, ptmx, pts are usable', () => {
  for (const [ma, mi] of [[1, 3], [1, 5], [1, 7], [1, 8], [1, 9], [5, 0], [5, 1], [5, 2], [136, 0], [136, 7]]) {
    for (const acc of ['r', 'w', 'rw', 'm', 'rwm']) assert.ok(allowed('c', acc, ma, mi), `c ${ma}:${mi} ${acc}`);
  }
});

test('host disks, /dev/kvm, /dev/vcs, /dev/mem, loop devices: mknod yes (as Docker), open no', () => {
  for (const [t, ma, mi] of [['b', 8, 0], ['b', 253, 0], ['b', 7, 0], ['c', 10, 232], ['c', 7, 0], ['c', 1, 1], ['c', 4, 1], ['c', 137, 0]] as const) {
    assert.ok(allowed(t, 'm', ma, mi), `${t} ${ma}:${mi} mknod`);
    for (const acc of ['r', 'w', 'rw', 'rm', 'rwm']) assert.equal(allowed(t, acc, ma, mi), false, `${t} ${ma}:${mi} ${acc}`);
  }
  assert.equal(allowed('b', 'r', 1, 3), false, 'the type is checked: a block device with null\'s numbers is not null');
});

test('a spec device gets exactly its permissions', () => {
  assert.ok(allowed('c', 'rw', 10, 229));
  assert.ok(allowed('c', 'r', 10, 229));
  assert.ok(allowed('c', 'm', 10, 229), 'mknod via the c *:* m rule');
  assert.equal(allowed('c', 'rw', 10, 228), false);
});

test('rule text and encoding', () => {
  assert.deepEqual(deviceRules({ devices: [] }).map(ruleText).slice(0, 3), ['c *:* m', 'b *:* m', 'c 1:3 rwm']);
  assert.equal(ruleText({ type: 'a', major: -1, minor: -1, access: 'rwm' }), 'a rwm');
  const bytes = programBytes(prog);
  assert.equal(bytes.length, prog.length * 8);
  assert.equal(bytes[0], 0x61); // ldxw r2, [r1+0]
  assert.equal(bytes[1], 0x12);
  assert.deepEqual([...bytes.subarray(-8)], [0x95, 0, 0, 0, 0, 0, 0, 0]); // exit
  // every jump lands inside the program
  prog.forEach(([code, , off], i) => { if (code === 0x55 || code === 0x5d) assert.ok(i + 1 + off < prog.length); });
});
