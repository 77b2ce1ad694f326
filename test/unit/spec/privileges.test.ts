// Canonicalise capabilities, rlimits, seccomp and hooks (load/capabilities.ts, rlimits.ts, seccomp.ts, hooks.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadObj, minimal, problems } from './spec-helpers.js';
import { DEFAULT_CAPABILITIES } from '../../../src/spec/defaults.js';
import { ALL_CAPS } from '../../../src/spec/capabilities.js';
import { DEFAULT_SECCOMP_PROFILE } from '../../../src/spec/seccomp-default.js';
import type { HookContext } from '../../../src/spec/types.js';

const sortCaps = (a: readonly string[]) => [...a].sort();

test('default capabilities: Docker\'s 14 in bounding/effective/permitted, none inheritable or ambient', async () => {
  const c = (await loadObj(minimal)).capabilities;
  assert.equal(DEFAULT_CAPABILITIES.length, 14);
  for (const set of [c.bounding, c.effective, c.permitted]) assert.deepEqual(sortCaps(set), sortCaps(DEFAULT_CAPABILITIES));
  assert.deepEqual([c.inheritable, c.ambient], [[], []]);
});

test('add/drop normalise names; allow replaces the default; ALL works', async () => {
  const a = (await loadObj({ ...minimal, capabilities: { drop: ['net_raw', 'CAP_MKNOD'], add: ['SYS_PTRACE'] } })).capabilities;
  assert.ok(!a.bounding.includes('CAP_NET_RAW') && !a.bounding.includes('CAP_MKNOD'));
  assert.ok(a.bounding.includes('CAP_SYS_PTRACE'));
  assert.equal(a.bounding.length, 13);
  const b = (await loadObj({ ...minimal, capabilities: { allow: ['CHOWN', 'KILL'] } })).capabilities;
  assert.deepEqual(b.bounding, ['CAP_CHOWN', 'CAP_KILL']);
  const none = (await loadObj({ ...minimal, capabilities: { drop: ['ALL'] } })).capabilities;
  assert.deepEqual(none.effective, []);
  const all = (await loadObj({ ...minimal, capabilities: { add: ['ALL'] } })).capabilities;
  assert.equal(all.permitted.length, ALL_CAPS.length);
});

test('sets override single sets by name; ambient must be permitted and inheritable', async () => {
  const c = (await loadObj({ ...minimal, capabilities: { sets: { inheritable: ['NET_BIND_SERVICE'], ambient: ['NET_BIND_SERVICE'] } } })).capabilities;
  assert.deepEqual(c.ambient, ['CAP_NET_BIND_SERVICE']);
  assert.equal(c.bounding.length, 14);
  const d = await problems(loadObj({ ...minimal, capabilities: { sets: { ambient: ['SYS_ADMIN'] } } }));
  assert.deepEqual(d.map((x) => x.field), ['capabilities.sets.ambient']);
});

test('rlimits: short and long names, unlimited = -1, soft/hard', async () => {
  const s = await loadObj({ ...minimal, rlimits: { nofile: 1024, RLIMIT_CORE: 'unlimited', nproc: { soft: 10, hard: 'unlimited' } } });
  assert.deepEqual(s.rlimits, [
    { type: 'RLIMIT_NOFILE', soft: 1024, hard: 1024 },
    { type: 'RLIMIT_CORE', soft: -1, hard: -1 },
    { type: 'RLIMIT_NPROC', soft: 10, hard: -1 },
  ]);
  const d = await problems(loadObj({ ...minimal, rlimits: { nofile: 1, RLIMIT_NOFILE: 2 } }));
  assert.match(d[0].message, /set twice/);
});

test('seccomp: default = the built-in profile, unconfined = null, a profile is kept', async () => {
  assert.deepEqual((await loadObj(minimal)).seccomp, DEFAULT_SECCOMP_PROFILE);
  assert.equal((await loadObj({ ...minimal, seccomp: 'unconfined' })).seccomp, null);
  const p = { default_action: 'allow' as const, syscalls: [{ names: ['ptrace'], action: 'errno' as const, errno: 'EPERM' }] };
  assert.deepEqual((await loadObj({ ...minimal, seccomp: p })).seccomp, p);
  const injected = { default_action: 'kill' as const };
  assert.deepEqual((await loadObj(minimal, { defaultSeccompProfile: injected })).seccomp, injected);
});

test('hooks: strings run with sh -c, argv kept, functions kept, fields name each hook', async () => {
  const fn = (ctx: HookContext) => { void ctx; };
  const s = await loadObj({
    ...minimal,
    hooks: { before_start: ['echo a', { command: ['/bin/echo', 'b'], optional: true, timeout: 3 }], teardown: fn, poststop: { command: 'rm -rf /tmp/x' } },
  });
  assert.deepEqual(s.hooks, [
    { point: 'before_start', command: ['/bin/sh', '-c', 'echo a'], optional: false, timeout: 30, field: 'hooks.before_start.0' },
    { point: 'before_start', command: ['/bin/echo', 'b'], optional: true, timeout: 3, field: 'hooks.before_start.1' },
    { point: 'teardown', fn, optional: false, timeout: 30, field: 'hooks.teardown' },
    { point: 'poststop', command: ['/bin/sh', '-c', 'rm -rf /tmp/x'], optional: false, timeout: 30, field: 'hooks.poststop' },
  ]);
});
