// encodePlan: the flat buffer the native stage reads (golden bytes, round trip through the
// test decoder, names → numbers, refusals), and that its tables agree with native/*.c.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { encodePlan, decodePlan, OPCODES, RLIM_INFINITY, rlimitNumber } from '../../../src/runtime/launch/encode.js';
import type { Op, Phase, Step } from '../../../src/plan/types.js';

const steps = (parts: [Phase, Op][]): Step[] => parts.map(([phase, op], index) => ({ ...op, phase, index, field: 'f', why: 'w' }) as Step);
const tiny = steps([
  ['clone', { op: 'clone', flags: ['CLONE_NEWUTS'] }],
  ['child', { op: 'sethostname', name: 'h' }],
]);

test('golden bytes of a two-step plan', () => {
  const b = encodePlan(tiny, { tty: true });
  const hex = b.toString('hex');
  assert.equal(hex, [
    '4e495741', '0100', '0100', '02000000', // "NIWA", version 1, flags tty, 2 steps
    '00000000', '02', '08', '0100', // step 0, phase clone, op clone, 1 field
    '03', '08000000', '0000000400000000', // u64 CLONE_NEWUTS = 0x04000000
    '01000000', '04', '12', '0100', // step 1, phase child, op sethostname, 1 field
    '01', '02000000', '6800', // str "h\0"
  ].join(''));
});

test('round trip: names become numbers, prepare/cleanup steps are left out', () => {
  const s = steps([
    ['prepare', { op: 'mkdir', path: '/sys/fs/cgroup/x', mode: 0o755 }],
    ['stage', { op: 'unshare', flags: ['CLONE_NEWTIME'] }],
    ['clone', { op: 'clone', flags: ['CLONE_NEWUSER', 'CLONE_NEWNS', 'CLONE_NEWPID'] }],
    ['parent', { op: 'write', path: '/proc/{pid}/uid_map', data: '0 1000 1' }],
    ['parent', { op: 'release_child' }],
    ['child', { op: 'wait_parent' }],
    ['child', { op: 'mount', source: null, target: '/usr', fstype: null, flags: ['MS_REMOUNT', 'MS_BIND', 'MS_RDONLY'], data: null, inRoot: '/r', mkTarget: 'file', keepLocked: true }],
    ['child', { op: 'umount2', target: '.', flags: ['MNT_DETACH'] }],
    ['child', { op: 'setrlimit', resource: 'RLIMIT_NOFILE', soft: 1024, hard: -1 }],
    ['child', { op: 'capset', effective: ['CAP_CHOWN'], permitted: ['net_bind_service', 'CAP_CHOWN'], inheritable: [] }],
    ['child', { op: 'setgroups', gids: [1, 2] }],
    ['child', { op: 'seccomp', summary: 's', filter: [[0x06, 0, 0, 0x7fff0000]] }],
    ['child', { op: 'execve', path: 'sh', argv: ['sh', '-c', 'échö'], env: ['A=1'] }],
    ['cleanup', { op: 'rmdir', path: '/sys/fs/cgroup/x' }],
  ]);
  const d = decodePlan(encodePlan(s, { tty: false }));
  assert.equal(d.version, 1);
  assert.equal(d.tty, false);
  assert.deepEqual(d.steps.map((x) => [x.index, x.phase, x.op]), [
    [1, 1, 'unshare'], [2, 2, 'clone'], [3, 3, 'write'], [4, 3, 'release_child'], [5, 4, 'wait_parent'], [6, 4, 'mount'],
    [7, 4, 'umount2'], [8, 4, 'setrlimit'], [9, 4, 'capset'], [10, 4, 'setgroups'], [11, 4, 'seccomp'], [12, 4, 'execve'],
  ]);
  const f = (i: number) => d.steps.find((x) => x.index === i)!.fields;
  assert.deepEqual(f(1), [0x80n]);
  assert.deepEqual(f(2), [0x10000000n | 0x20000n | 0x20000000n]);
  assert.deepEqual(f(3), ['/proc/{pid}/uid_map', '0 1000 1', null, 0n]);
  assert.deepEqual(f(6), [null, '/usr', null, 32n | 4096n | 1n, null, '/r', 2n, 1n]);
  assert.deepEqual(f(7), ['.', 2n]);
  assert.deepEqual(f(8), [7n, 1024n, RLIM_INFINITY]);
  assert.deepEqual(f(9), [1n, (1n << 10n) | 1n, 0n]);
  assert.deepEqual(f(10), [[1n, 2n]]);
  assert.deepEqual(f(11), [Buffer.from('060000000000ff7f', 'hex')]);
  assert.deepEqual(f(12), ['sh', ['sh', '-c', 'échö'], ['A=1']]);
});

test('unknown names and bad values throw, naming the step', () => {
  const bad = (op: Op, re: RegExp) => assert.throws(() => encodePlan(steps([['clone', { op: 'clone', flags: [] }], ['child', op]]), { tty: false }), re);
  bad({ op: 'mount', source: null, target: '/', fstype: null, flags: ['MS_BOGUS' as 'MS_BIND'], data: null }, /step 1 \(mount\): unknown mount flag "MS_BOGUS"/);
  bad({ op: 'capset', effective: ['CAP_FLY'], permitted: [], inheritable: [] }, /unknown capability "CAP_FLY"/);
  bad({ op: 'setrlimit', resource: 'RLIMIT_BOGUS', soft: 1, hard: 1 }, /unknown rlimit/);
  bad({ op: 'umount2', target: '/', flags: ['MNT_LAZY' as 'MNT_DETACH'] }, /unknown umount flag/);
  bad({ op: 'mkdir', path: '/a\0b', mode: 0o755 }, /NUL/);
  bad({ op: 'mkdir', path: '/a', mode: -1 }, /non-negative integer/);
  bad({ op: 'execve', path: 'x', argv: [], env: [] }, /argv is empty/);
  assert.throws(() => encodePlan(steps([['stage', { op: 'hook', point: 'x', hook: 0, optional: false }], ['clone', { op: 'clone', flags: [] }]]), { tty: false }), /hook belongs to phase parent or child/);
  bad({ op: 'probe', address: '127.0.0.1', port: 70000, timeoutMs: 1, request: null }, /port out of range/);
  assert.throws(() => encodePlan(steps([['clone', { op: 'unshare', flags: ['CLONE_NEWNS_X' as 'CLONE_NEWNS'] }]]), { tty: false }), /clone must be/);
  assert.equal(rlimitNumber('nofile'), 7);
});

test('phase order and exactly one clone', () => {
  assert.throws(() => encodePlan(steps([['child', { op: 'setsid' }], ['clone', { op: 'clone', flags: [] }]]), { tty: false }), /comes after a later phase/);
  assert.throws(() => encodePlan(steps([['child', { op: 'setsid' }]]), { tty: false }), /exactly one clone step \(has 0\)/);
  assert.throws(() => encodePlan(steps([['clone', { op: 'clone', flags: [] }], ['child', { op: 'release_child' }]]), { tty: false }), /release_child belongs to phase parent/);
});

/** The repository root (tests run from test/ under tsx and from dist/test/ after tsc). */
function repo(): string {
  let d = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(d, 'native', 'stage.h'))) {
    if (dirname(d) === d) throw new Error('native/ not found');
    d = dirname(d);
  }
  return d;
}

test('opcodes and argument signatures agree with native/stage.h and native/plan.c', () => {
  const h = readFileSync(join(repo(), 'native', 'stage.h'), 'utf8');
  const c = readFileSync(join(repo(), 'native', 'plan.c'), 'utf8');
  const native = Object.fromEntries([...h.matchAll(/OP_([A-Z0-9_]+) = (\d+)/g)].map((m) => [m[1].toLowerCase(), Number(m[2])]));
  assert.deepEqual(native, { ...OPCODES });
  // each op encodes as many fields as its C signature has letters
  const sig = Object.fromEntries([...c.matchAll(/\[OP_([A-Z0-9_]+)\] = "([A-Za-z]*)"/g)].map((m) => [m[1].toLowerCase(), m[2]]));
  const sample: Record<string, Op> = {
    mkdir: { op: 'mkdir', path: '/a', mode: 1 }, rmdir: { op: 'rmdir', path: '/a' }, write: { op: 'write', path: '/a', data: '' },
    touch: { op: 'touch', path: '/a', mode: 1 }, symlink: { op: 'symlink', target: 'a', path: '/b' },
    setns: { op: 'setns', ns: 'net', path: '/p', flag: 'CLONE_NEWNET' }, unshare: { op: 'unshare', flags: [] },
    release_child: { op: 'release_child' }, wait_parent: { op: 'wait_parent' },
    mount: { op: 'mount', source: null, target: '/', fstype: null, flags: [], data: null }, umount2: { op: 'umount2', target: '/', flags: [] },
    mask: { op: 'mask', path: '/a' }, readonly: { op: 'readonly', path: '/a' }, pivot_root: { op: 'pivot_root', newRoot: '.', putOld: '.' },
    chroot: { op: 'chroot', path: '.' }, chdir: { op: 'chdir', path: '/' }, sethostname: { op: 'sethostname', name: 'h' },
    setdomainname: { op: 'setdomainname', name: 'd' }, setrlimit: { op: 'setrlimit', resource: 'core', soft: 0, hard: 0 },
    capbset_drop: { op: 'capbset_drop', caps: [] }, keepcaps: { op: 'keepcaps', on: true }, setgroups: { op: 'setgroups', gids: [] },
    setresgid: { op: 'setresgid', gid: 0 }, setresuid: { op: 'setresuid', uid: 0 },
    capset: { op: 'capset', effective: [], permitted: [], inheritable: [] }, ambient_raise: { op: 'ambient_raise', caps: [] },
    no_new_privs: { op: 'no_new_privs' }, seccomp: { op: 'seccomp', summary: '', filter: [[6, 0, 0, 0]] }, setsid: { op: 'setsid' },
    setctty: { op: 'setctty' }, init: { op: 'init' }, execve: { op: 'execve', path: '/x', argv: ['x'], env: [] }, ifup: { op: 'ifup', name: 'lo' },
    hook: { op: 'hook', point: 'after_chroot', hook: 0, optional: false }, probe: { op: 'probe', address: '127.0.0.1', port: 80, timeoutMs: 1000, request: null },
    openpty: { op: 'openpty', path: '/dev/ptmx' },
    device_filter: { op: 'device_filter', cgroup: '/sys/fs/cgroup/x', rules: ['a rwm'], program: [[0xb7, 0, 0, 1], [0x95, 0, 0, 0]] },
  };
  for (const [name, letters] of Object.entries(sig)) {
    if (name === 'clone') continue;
    const op = sample[name];
    assert.ok(op, `sample for ${name}`);
    const phase: Phase = name === 'release_child' ? 'parent' : name === 'device_filter' ? 'stage' : 'child';
    const parts: [Phase, Op][] = phase === 'stage' ? [[phase, op], ['clone', { op: 'clone', flags: [] }]] : [['clone', { op: 'clone', flags: [] }], [phase, op]];
    const d = decodePlan(encodePlan(steps(parts), { tty: false }));
    assert.equal(d.steps.find((s) => s.op === name)!.fields.length, letters.length, name);
  }
});
