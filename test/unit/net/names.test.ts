// Interface and state names: ≤ 15 bytes, deterministic, distinct per project/network/container.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bridgeName, vethName, containerIfname, isNiwaIfname, validIfname, netnsPath, hostsPath, safeComponent, IFNAME_MAX } from '../../../src/runtime/net/names.js';

test('bridge and veth names fit IFNAMSIZ and carry the nw prefix', () => {
  const b = bridgeName('a-very-long-project-name-indeed', 'backend-network-with-long-name');
  const v = vethName('a-very-long-project-name-indeed', 'backend-network-with-long-name', 'container-1');
  assert.match(b, /^nw-[0-9a-f]{10}$/);
  assert.match(v, /^nw[0-9a-f]{12}$/);
  assert.ok(b.length <= IFNAME_MAX && v.length <= IFNAME_MAX);
  assert.ok(validIfname(b) && validIfname(v));
  assert.ok(isNiwaIfname(b) && isNiwaIfname(v));
  assert.equal(isNiwaIfname('eth0'), false);
  assert.equal(isNiwaIfname('docker0'), false);
});

test('names are deterministic and distinct', () => {
  assert.equal(bridgeName('p', 'n'), bridgeName('p', 'n'));
  assert.notEqual(bridgeName('p', 'n'), bridgeName('p', 'm'));
  assert.notEqual(bridgeName('p', 'n'), bridgeName('q', 'n'));
  // no ambiguity from joining parts: ("a-b","c") vs ("a","b-c")
  assert.notEqual(bridgeName('a-b', 'c'), bridgeName('a', 'b-c'));
  assert.equal(vethName('p', 'n', 'c'), vethName('p', 'n', 'c'));
  assert.notEqual(vethName('p', 'n', 'c1'), vethName('p', 'n', 'c2'));
  assert.notEqual(vethName('p', 'n1', 'c'), vethName('p', 'n2', 'c'));
  const many = new Set(Array.from({ length: 2000 }, (_, i) => vethName('p', 'n', `c${i}`)));
  assert.equal(many.size, 2000);
});

test('container interface names and invalid names', () => {
  assert.equal(containerIfname(0), 'eth0');
  assert.equal(containerIfname(3), 'eth3');
  assert.equal(validIfname('a'.repeat(16)), false);
  assert.equal(validIfname('a/b'), false);
  assert.equal(validIfname(''), false);
});

test('state paths live under <stateRoot>/net and refuse path tricks', () => {
  assert.equal(netnsPath('/run/niwa', 'proj', 'web-1'), '/run/niwa/net/ns/proj/web-1');
  assert.equal(hostsPath('/tmp/s', 'proj', 'web-1'), '/tmp/s/net/hosts/proj/web-1');
  assert.throws(() => netnsPath('/run/niwa', '..', 'x'), /invalid project name/);
  assert.throws(() => hostsPath('/run/niwa', 'p', 'a/b'), /invalid container name/);
  assert.throws(() => safeComponent('network', ''), /invalid network name/);
});
