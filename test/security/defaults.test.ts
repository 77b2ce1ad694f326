// Attack: what a default container (no spec fields loosened) can do to the kernel. From inside, with
// perl's syscall(): keyrings, namespaces, mounts, kexec, open_by_handle_at (the "shocker" escape),
// bpf and perf are refused with EPERM by the default seccomp profile and capability set; ptrace of
// a process that is not the container's fails (no CAP_SYS_PTRACE); masked /proc and /sys paths are
// empty and read-only ones cannot be written, and none of these can be undone with umount.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { needsRoot, needsStage } from '../helpers.js';
import { securityBox } from './box.js';
import { SYSCALLS as X86 } from '../../src/plan/syscalls/x86_64.js';
import { SYSCALLS as ARM } from '../../src/plan/syscalls/aarch64.js';

const skip = needsRoot() || needsStage() || (!['x64', 'arm64'].includes(process.arch) && `no syscall table for ${process.arch}`);
const NR = process.arch === 'arm64' ? ARM : X86;
const PROJECT = 'sec-defaults';
const box = securityBox('niwa-sec-defaults-', PROJECT, skip);
const run = (name: string, yaml: string) => box.run(name, yaml);
const perl = (script: string) => `process:\n  args: [/usr/bin/perl, -e, ${JSON.stringify(script)}]\n`;

/** Each call with harmless arguments; the line printed is NAME=errno (0 = it worked). */
const CALLS: [string, string][] = [
  ['keyctl', '0, 0, 0, 0, 0'], // KEYCTL_GET_KEYRING_ID
  ['add_key', '"user", "k", "v", 1, -4'], // into the session keyring
  ['request_key', '"user", "k", 0, 0'],
  ['unshare', '0x10000000'], // CLONE_NEWUSER (no capability needed without seccomp)
  ['unshare', '0x20000'], // CLONE_NEWNS
  ['mount', '"none", "/tmp", "tmpfs", 0, 0'],
  ['umount2', '"/proc/kcore", 2'],
  ['kexec_load', '0, 0, 0, 0'],
  ['open_by_handle_at', '3, 0, 0'],
  ['bpf', '0, 0, 0'],
  ['perf_event_open', '0, 0, -1, -1, 0'],
  ['init_module', '0, 0, ""'],
  ['reboot', '0, 0, 0, 0'],
  ['swapon', '"/x", 0'],
  ['setns', '0, 0'],
  ['pivot_root', '"/", "/"'],
  ['chroot', '"/tmp"'], // CAP_SYS_CHROOT is a default capability (as in Docker): allowed; listed to show it
];

test('the default seccomp profile and capabilities refuse keyrings, namespaces, mount, kexec, open_by_handle_at, bpf, perf, modules', { skip }, () => {
  let k = 0;
  // (perl's syscall() passes strings as pointers to their buffers, which must be variables)
  const perlArgs = (args: string) => args.replace(/"([^"]*)"/g, (_, s: string) => `(my $s${k++} = "${s}")`);
  const script = CALLS.map(([name, args], i) => `$! = 0; my $r${i} = syscall(${NR[name]}, ${perlArgs(args)}); print "${name}=", ($r${i} == -1 ? $!+0 : 0), "\\n";`).join(' ');
  const r = run('calls', perl(script));
  assert.equal(r.status, 0, r.stderr);
  const got = r.stdout.trim().split('\n');
  assert.equal(got.length, CALLS.length, r.stdout);
  CALLS.forEach(([name], i) => {
    const errno = Number(got[i].split('=')[1]);
    if (name === 'chroot') assert.equal(errno, 0, 'chroot is allowed (CAP_SYS_CHROOT, as Docker)');
    else assert.equal(errno, 1, `${name} must fail with EPERM (got errno ${errno})`);
  });
});

test('seccomp and no_new_privs are on, the capability set is Docker\'s', { skip }, () => {
  const r = run('status', 'process:\n  args: [/bin/sh, -c, "grep -E \'^(Seccomp|NoNewPrivs|CapEff|CapBnd):\' /proc/self/status"]\n');
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^Seccomp:\s+2$/m);
  assert.match(r.stdout, /^NoNewPrivs:\s+1$/m);
  assert.match(r.stdout, /^CapEff:\s+00000000a80425fb$/m);
});

test('ptrace of a process outside the container fails (no CAP_SYS_PTRACE), even without a pid namespace', { skip }, () => {
  // PTRACE_ATTACH = 16 on the host's init and on the container's own shim (its parent's parent here)
  const script = `for my $p (1, getppid()) { $! = 0; my $r = syscall(${NR.ptrace}, 16, $p, 0, 0); print "attach $p=", ($r == -1 ? $!+0 : 0), "\\n"; }`;
  const r = run('ptrace', `namespaces: [mount, uts, ipc, net]\nannotations: {niwa.intended: host-pid}\n${perl(script)}`);
  assert.equal(r.status, 0, r.stderr);
  for (const l of r.stdout.trim().split('\n')) assert.match(l, /=1$/, `ptrace must fail with EPERM: ${r.stdout}`);
});

test('masked paths read empty, read-only paths refuse writes, and neither can be unmounted', { skip }, () => {
  const script = [
    'for f in /proc/kcore /proc/keys /proc/timer_list /proc/sched_debug; do [ -e $f ] && printf "%s=%s\\n" $f "$(head -c 16 $f | wc -c)"; done',
    'printf "firmware=%s\\n" "$(ls -A /sys/firmware | wc -l)"',
    'echo 3 > /proc/sys/vm/drop_caches 2>/dev/null; echo "drop_caches=$?"',
    'echo h > /proc/sysrq-trigger 2>/dev/null; echo "sysrq=$?"',
    'echo 1 > /proc/sys/kernel/panic 2>/dev/null; echo "panic=$?"',
    'touch /sys/firmware/x 2>/dev/null; echo "firmware_write=$?"',
    'umount /proc/kcore 2>/dev/null; echo "umount=$?"',
    'mount -o remount,rw /proc/sys 2>/dev/null; echo "remount=$?"',
  ].join('; ');
  const r = run('paths', `process:\n  args: [/bin/sh, -c, ${JSON.stringify(script)}]\n`);
  assert.equal(r.status, 0, r.stderr);
  for (const l of r.stdout.trim().split('\n')) {
    const [k, v] = l.split('=');
    if (k.startsWith('/proc/') || k === 'firmware') assert.equal(v, '0', `${k} must be empty: ${r.stdout}`);
    else assert.notEqual(v, '0', `${k} must fail: ${r.stdout}`);
  }
  assert.match(r.stdout, /\/proc\/keys=0/, 'masked /proc/keys was checked');
});
