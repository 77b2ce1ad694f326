// Real-kernel check of compiled seccomp filters, without the niwa runtime: a tiny C helper
// (built here with cc) reads a filter on stdin, installs it with no_new_privs + seccomp(2), and execs argv.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compileSeccomp, type SeccompArch } from '../../src/plan/steps/seccomp.js';
import { DEFAULT_SECCOMP_PROFILE } from '../../src/spec/seccomp-default.js';
import type { SeccompProfile } from '../../src/spec/types.js';

const HELPER_C = String.raw`
/* Reads "count" then count lines "code jt jf k" from stdin, installs them as a seccomp filter, execs argv[1..]. */
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv) {
  unsigned count;
  if (argc < 2 || scanf("%u", &count) != 1 || count == 0 || count > 4096) { fprintf(stderr, "helper: bad input\n"); return 120; }
  struct sock_filter *f = calloc(count, sizeof *f);
  for (unsigned i = 0; i < count; i++) {
    unsigned code, jt, jf, k;
    if (scanf("%u %u %u %u", &code, &jt, &jf, &k) != 4) { fprintf(stderr, "helper: short program\n"); return 120; }
    f[i].code = code; f[i].jt = jt; f[i].jf = jf; f[i].k = k;
  }
  struct sock_fprog prog = { .len = count, .filter = f };
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) { fprintf(stderr, "helper: no_new_privs: %s\n", strerror(errno)); return 121; }
  if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0) { fprintf(stderr, "helper: seccomp: %s\n", strerror(errno)); return 122; }
  execv(argv[1], argv + 1);
  fprintf(stderr, "helper: execv %s: %s\n", argv[1], strerror(errno));
  return 123;
}
`;

const arch: SeccompArch | undefined = process.arch === 'x64' ? 'x86_64' : process.arch === 'arm64' ? 'aarch64' : undefined;
const hasCc = spawnSync('cc', ['--version']).status === 0;
const hasSeccomp = existsSync('/proc/self/status') && /^Seccomp:/m.test(readFileSync('/proc/self/status', 'utf8'));
const skip = !arch ? `no seccomp table for ${process.arch}` : !hasCc ? 'no C compiler (cc) to build the helper' : !hasSeccomp ? 'kernel without seccomp' : false;

let dir = '';
let helper = '';
before(() => {
  if (skip) return;
  dir = mkdtempSync(join(tmpdir(), 'niwa-seccomp-'));
  writeFileSync(join(dir, 'helper.c'), HELPER_C);
  helper = join(dir, 'helper');
  const cc = spawnSync('cc', ['-O1', '-o', helper, join(dir, 'helper.c')], { encoding: 'utf8' });
  assert.equal(cc.status, 0, `cc failed: ${cc.stderr}`);
});
after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function underFilter(profile: SeccompProfile, script: string) {
  const { filter } = compileSeccomp(profile, arch!);
  const input = `${filter.length}\n${filter.map((i) => i.join(' ')).join('\n')}\n`;
  const r = spawnSync(helper, ['/bin/sh', '-c', script], { input, encoding: 'utf8', timeout: 20_000, env: { PATH: '/usr/bin:/bin', LC_ALL: 'C' } });
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

test('an errno rule makes mkdir fail with EACCES while other commands work', { skip }, () => {
  const profile: SeccompProfile = { default_action: 'allow', syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'errno', errno: 'EACCES' }] };
  const r = underFilter(profile, `echo before; mkdir ${dir}/sub; echo "mkdir=$?"; touch ${dir}/file && echo touched`);
  assert.match(r.stderr, /Permission denied/);
  assert.match(r.stdout, /before\nmkdir=1\ntouched/);
  assert.equal(existsSync(join(dir, 'sub')), false);
  assert.equal(existsSync(join(dir, 'file')), true);
});

test('argument comparisons in the kernel: openat with O_CREAT denied, plain reads allowed', { skip }, () => {
  const O_CREAT = 0o100; // same on x86_64 and aarch64
  const profile: SeccompProfile = {
    default_action: 'allow',
    syscalls: [{ names: ['openat'], action: 'errno', errno: 'EROFS', args: [{ index: 2, op: 'masked_eq', value: O_CREAT, value_two: O_CREAT }] }],
  };
  const r = underFilter(profile, `echo hi > ${dir}/created; echo "redirect=$?"; n=$(wc -l < /etc/passwd) && echo read-ok`);
  assert.match(r.stderr, /Read-only file system/);
  assert.match(r.stdout, /redirect=[12]\nread-ok/);
  assert.equal(existsSync(join(dir, 'created')), false);
});

test('the default profile runs a shell and refuses a new user namespace', { skip }, () => {
  const r = underFilter(DEFAULT_SECCOMP_PROFILE, 'echo ok; mkdir -p /dev/null/x 2>/dev/null; true');
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, 'ok\n');
  if (existsSync('/usr/bin/unshare')) {
    const u = underFilter(DEFAULT_SECCOMP_PROFILE, '/usr/bin/unshare --user true; echo "unshare=$?"');
    assert.match(u.stderr, /Operation not permitted/);
    assert.match(u.stdout, /unshare=1/);
  }
});

test('the kill_process default kills the program with SIGSYS', { skip }, () => {
  const names = ['execve', 'brk', 'mmap', 'munmap', 'mprotect', 'arch_prctl', 'set_tid_address', 'set_robust_list', 'rseq', 'prlimit64',
    'openat', 'newfstatat', 'fstat', 'read', 'pread64', 'close', 'access', 'getrandom', 'exit_group'];
  const r = underFilter({ default_action: 'kill_process', syscalls: [{ names, action: 'allow' }] }, 'echo never');
  assert.equal(r.signal, 'SIGSYS', `status ${r.status} signal ${r.signal} stderr ${r.stderr}`);
});
