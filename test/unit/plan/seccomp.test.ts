// Unit tests for the seccomp compiler: programs are checked like the kernel does and run in a BPF interpreter.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { constants } from 'node:os';
import { AUDIT_ARCH, BPF, SECCOMP_RET, SYSCALL_TABLES, compileSeccomp, seccompStep, type SeccompArch } from '../../../src/plan/steps/seccomp.js';
import { DEFAULT_SECCOMP_PROFILE } from '../../../src/spec/seccomp-default.js';
import { ERRNO, errnoName, errnoNumber, errnoMessage } from '../../../src/plan/errno.js';
import { UserError } from '../../../src/errors.js';
import type { SeccompArg, SeccompOp, SeccompProfile } from '../../../src/spec/types.js';
import { check, run, verdict, type Insn } from '../../bpf-interp.js';

const ARCHES: SeccompArch[] = ['x86_64', 'aarch64'];
const nr = (arch: SeccompArch, name: string) => {
  const n = SYSCALL_TABLES[arch][name];
  assert.notEqual(n, undefined, `${name} on ${arch}`);
  return n;
};
/** Compile, check like the kernel, and return a function giving the verdict for a call. */
function filterFor(profile: SeccompProfile, arch: SeccompArch = 'x86_64') {
  const { filter, summary } = compileSeccomp(profile, arch);
  check(filter);
  const call = (name: string | number, args: (bigint | number)[] = [], archValue = AUDIT_ARCH[arch]) =>
    verdict(run(filter, { nr: typeof name === 'number' ? name : nr(arch, name), arch: archValue, args }));
  return { filter, summary, call };
}
const ALLOW = { action: 'allow', data: 0 };
const EPERM = { action: 'errno', data: 1 };

test('errno table: names and numbers both ways, aliases, and agreement with node', () => {
  assert.equal(errnoName(13), 'EACCES');
  assert.equal(errnoNumber('EACCES'), 13);
  assert.equal(errnoNumber('eperm'), 1);
  assert.equal(errnoNumber('EWOULDBLOCK'), 11);
  assert.equal(errnoNumber('EDEADLOCK'), 35);
  assert.equal(errnoNumber('EHWPOISON'), 133);
  assert.equal(errnoNumber('ENOPE'), undefined);
  assert.equal(errnoName(9999), 'E9999');
  assert.equal(errnoMessage(13), 'Permission denied');
  let compared = 0;
  for (const [name, n] of Object.entries(constants.errno)) {
    if (ERRNO[name] === undefined) continue;
    assert.equal(ERRNO[name], n, name);
    compared++;
  }
  assert.ok(compared > 70, `compared ${compared} names with os.constants.errno`);
});

test('syscall tables: known numbers on both arches, aarch64 has no legacy calls', () => {
  assert.equal(SYSCALL_TABLES.x86_64.read, 0);
  assert.equal(SYSCALL_TABLES.x86_64.execve, 59);
  assert.equal(SYSCALL_TABLES.x86_64.clone3, 435);
  assert.equal(SYSCALL_TABLES.aarch64.read, 63);
  assert.equal(SYSCALL_TABLES.aarch64.openat, 56);
  assert.equal(SYSCALL_TABLES.aarch64.execve, 221);
  assert.equal(SYSCALL_TABLES.aarch64.open, undefined);
  assert.equal(SYSCALL_TABLES.aarch64.fchmodat2, 452);
  for (const arch of ARCHES) {
    const nums = Object.values(SYSCALL_TABLES[arch]);
    assert.equal(new Set(nums).size, nums.length, `${arch}: numbers are unique`);
  }
});

test('allow-listed calls are allowed, others get the default action, errno rules return their errno', () => {
  const { call } = filterFor({
    default_action: 'errno',
    syscalls: [
      { names: ['read', 'write'], action: 'allow' },
      { names: ['mkdir'], action: 'errno', errno: 'EACCES' },
      { names: ['getpid'], action: 'errno', errno: 38 },
      { names: ['kill'], action: 'trap' },
      { names: ['tkill'], action: 'kill_process' },
      { names: ['tgkill'], action: 'kill' },
      { names: ['uname'], action: 'log' },
      { names: ['ptrace'], action: 'trace', errno: 7 },
    ],
  });
  assert.deepEqual(call('read'), ALLOW);
  assert.deepEqual(call('write'), ALLOW);
  assert.deepEqual(call('mkdir'), { action: 'errno', data: 13 });
  assert.deepEqual(call('getpid'), { action: 'errno', data: 38 });
  assert.deepEqual(call('kill'), { action: 'trap', data: 0 });
  assert.deepEqual(call('tkill'), { action: 'kill_process', data: 0 });
  assert.deepEqual(call('tgkill'), { action: 'kill_thread', data: 0 });
  assert.deepEqual(call('uname'), { action: 'log', data: 0 });
  assert.deepEqual(call('ptrace'), { action: 'trace', data: 7 });
  assert.deepEqual(call('openat'), EPERM, 'errno default without default_errno is EPERM');
  assert.deepEqual(call(1000), EPERM, 'numbers beyond the table get the default');
});

test('default actions: allow, errno with a chosen errno, kill_process', () => {
  assert.deepEqual(filterFor({ default_action: 'allow' }).call('mkdir'), ALLOW);
  assert.deepEqual(filterFor({ default_action: 'errno', default_errno: 'ENOSYS' }).call('mkdir'), { action: 'errno', data: 38 });
  assert.deepEqual(filterFor({ default_action: 'kill_process' }).call('mkdir'), { action: 'kill_process', data: 0 });
});

test('foreign architectures are killed, and x32 calls on x86_64', () => {
  const x = filterFor({ default_action: 'allow' }, 'x86_64');
  assert.deepEqual(x.call('read', [], AUDIT_ARCH.aarch64), { action: 'kill_process', data: 0 });
  assert.deepEqual(x.call('read', [], 0x40000003 /* AUDIT_ARCH_I386 */), { action: 'kill_process', data: 0 });
  assert.deepEqual(x.call(0x40000000 | 0), { action: 'kill_process', data: 0 }, 'x32 read');
  assert.deepEqual(x.call(0x40000000 | 59), { action: 'kill_process', data: 0 }, 'x32 execve');
  assert.deepEqual(x.call(0x3fffffff), ALLOW);
  const a = filterFor({ default_action: 'allow' }, 'aarch64');
  assert.deepEqual(a.call('read', [], AUDIT_ARCH.x86_64), { action: 'kill_process', data: 0 });
  assert.deepEqual(a.call('read', [], 0x40000028 /* AUDIT_ARCH_ARM */), { action: 'kill_process', data: 0 });
  assert.deepEqual(a.call(0x40000000), ALLOW, 'no x32 check on aarch64');
});

// --- argument comparisons -------------------------------------------------------------

const U64 = (1n << 64n) - 1n;
const u = (v: number) => BigInt.asUintN(64, BigInt(v));
const reference: Record<Exclude<SeccompOp, 'masked_eq'>, (a: bigint, v: bigint) => boolean> = {
  eq: (a, v) => a === v, ne: (a, v) => a !== v, lt: (a, v) => a < v, le: (a, v) => a <= v, gt: (a, v) => a > v, ge: (a, v) => a >= v,
};
const CONSTANTS = [0, 1, 5, 0x7fffffff, 0xffffffff, 2 ** 32, 2 ** 32 + 5, 2 ** 33 - 1, 2 ** 40 + 2 ** 31, 2 ** 53 - 1, -1, -100];
/** Probe values around v, including ones that differ only in the other half-word. */
function probes(v: bigint): bigint[] {
  const hi = v >> 32n, lo = v & 0xffffffffn;
  const out = [v, v - 1n, v + 1n, 0n, U64, (hi << 32n) | ((lo + 1n) & 0xffffffffn), (hi << 32n) | ((lo - 1n) & 0xffffffffn),
    (((hi + 1n) & 0xffffffffn) << 32n) | lo, (((hi - 1n) & 0xffffffffn) << 32n) | lo, ((hi + 1n) << 32n) & U64, lo, hi << 32n];
  return out.map((x) => x & U64);
}

for (const op of Object.keys(reference) as (keyof typeof reference)[]) {
  test(`argument comparison ${op}: 64-bit unsigned, both half-words, boundaries`, () => {
    for (const c of CONSTANTS) {
      for (const index of [0, 3, 5]) {
        const { call } = filterFor({
          default_action: 'errno',
          syscalls: [{ names: ['ioctl'], action: 'errno', errno: 'EACCES', args: [{ index, op, value: c }] }, { names: ['ioctl'], action: 'allow' }],
        });
        for (const a of probes(u(c))) {
          const args = [0n, 0n, 0n, 0n, 0n, 0n];
          args[index] = a;
          const want = reference[op](a, u(c)) ? { action: 'errno', data: 13 } : ALLOW;
          assert.deepEqual(call('ioctl', args), want, `arg${index}=0x${a.toString(16)} ${op} 0x${u(c).toString(16)}`);
        }
      }
    }
  });
}

test('argument comparison masked_eq: (arg & mask) == value across both half-words', () => {
  const cases: [number, number][] = [[0x7e020000, 0], [0xff, 0x11], [2 ** 32 + 1, 2 ** 32], [2 ** 40 - 1, 2 ** 36 + 3], [-1, 42], [0xf0000000, 0x10000000]];
  for (const [mask, want] of cases) {
    const { call } = filterFor({
      default_action: 'errno',
      syscalls: [{ names: ['clone'], action: 'allow', args: [{ index: 0, op: 'masked_eq', value: mask, value_two: want }] }],
    });
    const m = u(mask), w = u(want);
    for (const a of [...probes(w), ...probes(m), w | (~m & U64), w | 0x10000000n, w | (1n << 36n), 0x11n, 0x111n]) {
      const expect = (a & m) === w ? ALLOW : EPERM;
      assert.deepEqual(call('clone', [a & U64]), expect, `(0x${a.toString(16)} & 0x${m.toString(16)}) == 0x${w.toString(16)}`);
    }
  }
});

test('several comparisons in one rule must all hold; a failed rule falls through to later rules', () => {
  const { call } = filterFor({
    default_action: 'errno',
    syscalls: [
      { names: ['mmap', 'mprotect'], action: 'errno', errno: 'EACCES', args: [{ index: 2, op: 'masked_eq', value: 4, value_two: 4 }, { index: 3, op: 'ne', value: 0x22 }] },
      { names: ['mmap'], action: 'allow', args: [{ index: 1, op: 'le', value: 2 ** 33 }] },
      { names: ['mmap', 'mprotect'], action: 'errno', errno: 'ENOMEM' },
    ],
  });
  assert.deepEqual(call('mmap', [0, 4096, 7, 0x2]), { action: 'errno', data: 13 });
  assert.deepEqual(call('mprotect', [0, 4096, 4, 0x2]), { action: 'errno', data: 13 });
  assert.deepEqual(call('mmap', [0, 4096, 7, 0x22]), ALLOW, 'second comparison fails → next rule');
  assert.deepEqual(call('mmap', [0, 2 ** 33 + 1, 7, 0x22]), { action: 'errno', data: 12 });
  assert.deepEqual(call('mprotect', [0, 4096, 3, 0]), { action: 'errno', data: 12 });
  assert.deepEqual(call('munmap', [0, 4096]), EPERM);
});

test('first matching rule wins; unconditional rules make later rules for the same call dead', () => {
  const { call, filter } = filterFor({
    default_action: 'allow',
    syscalls: [
      { names: ['mkdir'], action: 'errno', errno: 'EEXIST' },
      { names: ['mkdir'], action: 'errno', errno: 'EACCES', args: [{ index: 1, op: 'eq', value: 0 }] },
      { names: ['rmdir'], action: 'allow' }, // same as default: no code
    ],
  });
  assert.deepEqual(call('mkdir', [0, 0]), { action: 'errno', data: 17 });
  assert.deepEqual(call('rmdir'), ALLOW);
  assert.equal(filter.filter(([c]) => c === BPF.LD_W_ABS).length, 2, 'only arch and nr are loaded: the arg rule was dropped');
});

test('programs longer than 255 instructions jump right (groups and far jumps via ja)', () => {
  const names = Object.keys(SYSCALL_TABLES.x86_64).filter((n) => n !== 'getpid' && n !== 'mkdir' && n !== 'ioctl');
  assert.ok(names.length > 300);
  // ioctl and mkdir come after the long conditional block: their jumps cross it.
  const profile: SeccompProfile = {
    default_action: 'errno',
    syscalls: [
      { names, action: 'errno', errno: 'EACCES', args: [{ index: 0, op: 'eq', value: 7 }] },
      { names: names.slice(0, 290), action: 'allow' },
      { names: ['mkdir', 'ioctl'], action: 'errno', errno: 'EROFS' },
    ],
  };
  const { filter, call } = filterFor(profile);
  assert.ok(filter.length > 600, `long program (${filter.length})`);
  assert.ok(filter.some(([c]) => c === BPF.JA), 'far conditional jumps went through ja');
  for (const n of names) {
    assert.deepEqual(call(n, [7]), { action: 'errno', data: 13 }, `${n}(7)`);
    assert.deepEqual(call(n, [8]), names.indexOf(n) < 290 ? ALLOW : EPERM, `${n}(8)`);
  }
  assert.deepEqual(call('mkdir'), { action: 'errno', data: 30 });
  assert.deepEqual(call('ioctl'), { action: 'errno', data: 30 });
  assert.deepEqual(call('getpid'), EPERM);

  const big = filterFor({ default_action: 'errno', syscalls: [{ names: Object.keys(SYSCALL_TABLES.x86_64).filter((n) => n !== 'getpid'), action: 'allow' }] });
  assert.ok(big.filter.length > 255);
  for (const n of Object.keys(SYSCALL_TABLES.x86_64)) assert.deepEqual(big.call(n), n === 'getpid' ? EPERM : ALLOW, n);
});

test('every compiled program has short jumps, targets inside it, and ends with a return', () => {
  const programs: Insn[][] = ARCHES.map((a) => compileSeccomp(DEFAULT_SECCOMP_PROFILE, a).filter);
  programs.push(compileSeccomp({ default_action: 'allow', syscalls: [{ names: Object.keys(SYSCALL_TABLES.x86_64), action: 'log', args: [{ index: 1, op: 'gt', value: 2 ** 35 }] }] }, 'x86_64').filter);
  for (const p of programs) {
    check(p); // the kernel's rules
    p.forEach(([code, jt, jf, k], pc) => {
      assert.ok(jt <= 255 && jf <= 255, `insn ${pc}: jt/jf ≤ 255`);
      if (code === BPF.JA) assert.ok(pc + 1 + k < p.length, `insn ${pc}: ja target inside`);
      else if ((code & 7) === 5) assert.ok(pc + 1 + Math.max(jt, jf) < p.length, `insn ${pc}: target inside`);
    });
    assert.equal(p[p.length - 1][0], BPF.RET_K);
  }
});

// --- the default profile ----------------------------------------------------------------

for (const arch of ARCHES) {
  test(`default profile on ${arch}: ordinary calls allowed, kernel administration denied`, () => {
    const { call, summary, filter } = filterFor(DEFAULT_SECCOMP_PROFILE, arch);
    for (const n of ['read', 'write', 'openat', 'close', 'mmap', 'execve', 'exit_group', 'futex', 'rt_sigaction', 'wait4', 'socket', 'fchmodat2', 'rseq'])
      assert.deepEqual(call(n), ALLOW, n);
    const SIGCHLD = 17, CLONE_VM = 0x100, CLONE_THREAD = 0x10000, CLONE_NEWUSER = 0x10000000, CLONE_NEWNET = 0x40000000;
    assert.deepEqual(call('clone', [SIGCHLD]), ALLOW, 'fork-like clone');
    assert.deepEqual(call('clone', [CLONE_VM | CLONE_THREAD | 0x3d0f00]), ALLOW, 'pthread_create-like clone');
    assert.deepEqual(call('clone', [CLONE_NEWUSER | SIGCHLD]), EPERM, 'clone into a new user namespace');
    assert.deepEqual(call('clone', [CLONE_NEWNET]), EPERM);
    assert.deepEqual(call('clone3'), { action: 'errno', data: 38 }, 'clone3 → ENOSYS so libc falls back to clone');
    assert.deepEqual(call('personality', [0]), ALLOW);
    assert.deepEqual(call('personality', [0xffffffff]), ALLOW, 'query');
    assert.deepEqual(call('personality', [0x0040000 /* ADDR_NO_RANDOMIZE */]), EPERM);
    for (const n of ['kexec_load', 'init_module', 'finit_module', 'delete_module', 'reboot', 'swapon', 'mount', 'umount2', 'unshare', 'setns', 'bpf', 'keyctl', 'open_by_handle_at', 'io_uring_setup', 'userfaultfd'])
      assert.deepEqual(call(n), EPERM, n);
    assert.match(summary, /^default errno\(EPERM\), \d+ allowed, 1 errno\(ENOSYS\), 2 conditional/);
    assert.ok(filter.length > 255 && filter.length < 500, `${filter.length} instructions`);
    if (arch === 'x86_64') assert.deepEqual(call('open'), ALLOW);
    else assert.match(summary, /not on aarch64/);
  });
}

test('every name in the default profile is a syscall on some architecture', () => {
  const known = new Set([...Object.keys(SYSCALL_TABLES.x86_64), ...Object.keys(SYSCALL_TABLES.aarch64)]);
  for (const r of DEFAULT_SECCOMP_PROFILE.syscalls ?? []) for (const n of r.names) assert.ok(known.has(n), n);
});

// --- errors -------------------------------------------------------------------------------

function userError(fn: () => unknown): UserError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof UserError, String(e));
    return e;
  }
  assert.fail('expected a UserError');
}

test('unknown syscall names: field path and closest-name hint; all problems reported at once', () => {
  const e = userError(() =>
    compileSeccomp({
      default_action: 'errno',
      syscalls: [
        { names: ['read'], action: 'allow' },
        { names: ['read'], action: 'allow' },
        { names: ['read'], action: 'allow' },
        { names: ['write', 'mkdri'], action: 'errno', errno: 'EACES' },
      ],
    }, 'aarch64'),
  );
  assert.equal(e.code, 'SECCOMP_PROFILE');
  const byField = Object.fromEntries(e.details.map((d) => [d.field, d]));
  assert.match(byField['seccomp.syscalls.3.names.1'].message, /unknown syscall "mkdri"/);
  assert.match(byField['seccomp.syscalls.3.names.1'].hint ?? '', /mkdir/);
  assert.match(byField['seccomp.syscalls.3.errno'].hint ?? '', /EACCES/);
  assert.equal(e.details.length, 2);
});

test('bad actions, errnos and arguments name their fields', () => {
  const e = userError(() =>
    compileSeccomp({
      default_action: 'deny' as never,
      default_errno: 'EPERM',
      syscalls: [
        { names: [], action: 'allow' },
        { names: ['read'], action: 'allow', errno: 'EPERM' },
        { names: ['read'], action: 'errno', errno: 70000 },
        { names: ['read'], action: 'allow', args: [{ index: 6, op: 'eq', value: 1 }, { index: 0, op: 'masked_eq', value: 1 }, { index: 0, op: 'like' as SeccompOp, value: 1.5 } as SeccompArg] },
      ],
    }, 'x86_64', 'containers.web.seccomp'),
  );
  assert.deepEqual(e.details.map((d) => d.field).sort(), [
    'containers.web.seccomp.default_action',
    'containers.web.seccomp.syscalls.0.names',
    'containers.web.seccomp.syscalls.1.errno',
    'containers.web.seccomp.syscalls.2.errno',
    'containers.web.seccomp.syscalls.3.args.0.index',
    'containers.web.seccomp.syscalls.3.args.1.value_two',
    'containers.web.seccomp.syscalls.3.args.2.op',
    'containers.web.seccomp.syscalls.3.args.2.value',
  ]);
});

test('names that exist only on the other architecture are skipped there', () => {
  const p: SeccompProfile = { default_action: 'errno', syscalls: [{ names: ['open', 'arch_prctl', 'openat'], action: 'allow' }] };
  const a = filterFor(p, 'aarch64');
  assert.deepEqual(a.call('openat'), ALLOW);
  assert.match(a.summary, /2 not on aarch64/);
  const x = filterFor(p, 'x86_64');
  assert.deepEqual(x.call('open'), ALLOW);
  assert.doesNotMatch(x.summary, /not on/);
});

test('seccompStep: null profile → no step; otherwise a JSON-clean seccomp step', () => {
  assert.equal(seccompStep(null, 'x86_64'), null);
  const s = seccompStep(DEFAULT_SECCOMP_PROFILE, 'aarch64');
  assert.ok(s && s.op === 'seccomp');
  assert.equal(s.field, 'seccomp');
  assert.equal(s.man, 'seccomp(2)');
  assert.ok(s.why.length > 20);
  assert.deepEqual(JSON.parse(JSON.stringify(s)), s);
  assert.equal(s.filter[0][3], 4, 'loads the arch first');
  assert.equal(s.filter[s.filter.length - 1][3], SECCOMP_RET.kill_process);
});
