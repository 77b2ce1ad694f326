// `niwa run` end to end on the real kernel: every check is made from inside the container
// (its own view of hostname, pids, /proc/self/status, mounts, limits), and after each test
// the host must hold no niwa cgroup, mount or process.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, mkdirSync, writeFileSync, rmSync, readFileSync, symlinkSync, readdirSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { niwa, needsRoot, needsStage, type CliResult } from '../helpers.js';
import { capMask, CAPABILITIES } from '../../src/spec/capabilities.js';
import { DEFAULT_CAPABILITIES } from '../../src/spec/defaults.js';

const skip = needsRoot() || needsStage();
let dir = '';
let state = '';

before(() => {
  if (skip) return;
  dir = mkdtempSync(join(tmpdir(), 'niwa-run-test-'));
  chmodSync(dir, 0o755); // the root of a user namespace (an unprivileged host uid) must reach the state dir
  state = join(dir, 'state');
});
after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function niwaCgroups(): string[] {
  const out: string[] = [];
  for (const c of readdirSync('/sys/fs/cgroup')) {
    const p = join('/sys/fs/cgroup', c, 'niwa', 'test');
    if (existsSync(p)) out.push(...readdirSync(p, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => join(p, d.name)));
  }
  return out;
}

/** Writes a YAML spec and runs it; asserts the host is clean afterwards. */
function run(name: string, yaml: string, extra: string[] = []): CliResult {
  const file = join(dir, `${name}.container.yaml`);
  writeFileSync(file, `name: ${name}\n${yaml}`);
  const r = niwa(['run', '--project', 'test', file, ...extra], { env: { ...process.env, NIWA_STATE_ROOT: state } });
  assert.deepEqual(niwaCgroups(), [], 'no niwa cgroup left behind');
  assert.equal(readFileSync('/proc/self/mountinfo', 'utf8').includes(state), false, 'no mount left on the host');
  return r;
}
const sh = (script: string) => `process:\n  args: [/bin/sh, -c, ${JSON.stringify(script)}]\n`;
const statusField = (out: string, key: string) => out.match(new RegExp(`^${key}:\\s*(\\S+)`, 'm'))?.[1];

test('hostname, PID 1, and /proc shows only the container\'s processes', { skip }, () => {
  const r = run('ident', `namespaces: [mount, uts, ipc, pid, net]\nhostname: probe-box\n${sh('hostname; echo pid=$$; ls /proc | grep -E "^[0-9]+$" | tr "\\n" " "')}`);
  assert.equal(r.status, 0, r.stderr);
  const [host, pid, procs] = r.stdout.trim().split('\n');
  assert.equal(host, 'probe-box');
  assert.equal(pid, 'pid=1');
  const pids = procs.trim().split(' ').map(Number);
  assert.ok(pids.includes(1));
  assert.ok(pids.every((p) => p < 20), `only container pids visible, got ${procs}`);
});

test('default capabilities, no_new_privs and seccomp as /proc/self/status shows them', { skip }, () => {
  const r = run('caps', sh('grep -E "^(Cap|NoNewPrivs|Seccomp)" /proc/self/status'));
  assert.equal(r.status, 0, r.stderr);
  const want = capMask(DEFAULT_CAPABILITIES.map((c) => (c.startsWith('CAP_') ? c : 'CAP_' + c)));
  assert.equal(BigInt('0x' + statusField(r.stdout, 'CapEff')), want);
  assert.equal(BigInt('0x' + statusField(r.stdout, 'CapBnd')), want);
  assert.equal(BigInt('0x' + statusField(r.stdout, 'CapInh')), 0n);
  assert.equal(statusField(r.stdout, 'NoNewPrivs'), '1');
  assert.equal(statusField(r.stdout, 'Seccomp'), '2');
});

test('a dropped capability makes its syscall fail; kept, it works', { skip }, () => {
  const script = 'touch /tmp/f; chown 1:1 /tmp/f && echo chown-ok || echo chown-denied';
  const kept = run('capkeep', sh(script));
  assert.match(kept.stdout, /chown-ok/);
  const dropped = run('capdrop', `capabilities: {drop: [CAP_CHOWN]}\n${sh(script + '; grep CapEff /proc/self/status')}`);
  assert.match(dropped.stdout, /chown-denied/);
  const eff = BigInt('0x' + statusField(dropped.stdout, 'CapEff'));
  assert.equal(eff & (1n << BigInt(CAPABILITIES.CAP_CHOWN)), 0n);
});

test('user namespace: uid_map and gid_map as written by the parent', { skip }, () => {
  const r = run('userns', `namespaces: [user, mount, uts, ipc, pid, net]\nuid_map: [{container_id: 0, host_id: 100000, size: 65536}]\ngid_map: [{container_id: 0, host_id: 100000, size: 65536}]\n${sh('cat /proc/self/uid_map /proc/self/gid_map; id -u')}`);
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split('\n').map((l) => l.trim().split(/\s+/).join(' '));
  assert.deepEqual(lines, ['0 100000 65536', '0 100000 65536', '0']);
});

test('pivot_root: the old root is gone from the mount table and unreachable', { skip }, () => {
  const marker = join(dir, 'host-marker');
  writeFileSync(marker, 'host');
  const escape = `perl -e 'mkdir "/tmp/x"; chroot "/tmp/x" or die "chroot: $!"; chdir ".." for 1..64; chroot "."; print((-e "${marker}") ? "escaped\\n" : "contained\\n")'`;
  const r = run('pivot', sh(`cat /proc/self/mountinfo; ${escape}`));
  assert.equal(r.status, 0, r.stderr);
  const mounts = r.stdout.split('\n').filter((l) => / - /.test(l)).map((l) => l.split(' ')[4]);
  assert.ok(mounts.includes('/'), 'a root mount');
  assert.ok(!mounts.some((m) => m.startsWith(dir) || m.startsWith(state)), 'no host path in the mount table');
  const rootLine = r.stdout.split('\n').find((l) => l.split(' ')[4] === '/')!;
  assert.match(rootLine, / - tmpfs /, 'the root is the embedded tmpfs');
  assert.match(r.stdout, /^contained$/m);
});

test('chroot: the old root is still there and a chroot escape reaches it', { skip }, () => {
  const marker = join(dir, 'host-marker2');
  writeFileSync(marker, 'host');
  const escape = `perl -e 'mkdir "/tmp/x"; chroot "/tmp/x" or die "chroot: $!"; chdir ".." for 1..64; chroot "."; print((-e "${marker}") ? "escaped\\n" : "contained\\n")'`;
  const r = run('chroot', `root: chroot\n${sh(escape)}`);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^escaped$/m, 'chroot does not detach the old root: this is why pivot_root is the default');
});

test('a read-only root rejects writes; a tmpfs mount on it stays writable', { skip }, () => {
  const r = run('roroot', `rootfs: {readonly: true}\nmounts: [{type: tmpfs, target: /scratch, size: 1M}]\n${sh('touch /newfile 2>&1; touch /scratch/ok && echo scratch-ok')}`);
  assert.match(r.stdout, /Read-only file system/);
  assert.match(r.stdout, /scratch-ok/);
});

test('a seccomp rule turns a syscall into the chosen errno', { skip }, () => {
  const r = run('seccomp', `seccomp:\n  default_action: allow\n  syscalls:\n    - {names: [mkdir, mkdirat], action: errno, errno: EACCES}\n${sh('mkdir /tmp/d 2>&1; echo done; grep Seccomp: /proc/self/status')}`);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /Permission denied/);
  assert.match(r.stdout, /^Seccomp:\s+2$/m);
});

test('an rlimit holds inside the container', { skip }, () => {
  const r = run('rlimit', `rlimits: {nofile: 64, nproc: {soft: 100, hard: 200}}\n${sh('ulimit -n; grep -E "^Max (processes|open files)" /proc/self/limits')}`);
  assert.equal(r.status, 0, r.stderr);
  const [n, ...limits] = r.stdout.trim().split('\n');
  assert.equal(n, '64');
  const row = (name: string) => limits.find((l) => l.startsWith(name))!.split(/\s{2,}/).slice(1, 3);
  assert.deepEqual(row('Max processes'), ['100', '200']);
  assert.deepEqual(row('Max open files'), ['64', '64']);
});

test('mounts: bind read-only, tmpfs with size, environment and cwd', { skip }, () => {
  const data = join(dir, 'data');
  mkdirSync(data, { recursive: true });
  writeFileSync(join(data, 'hello.txt'), 'from host\n');
  const r = run('mounts', `mounts:\n  - {type: tmpfs, target: /scratch, size: 2M}\n  - {type: bind, source: ${data}, target: /data, readonly: true}\nprocess:\n  args: [/bin/sh, -c, 'cat /data/hello.txt; touch /data/x 2>&1; df -k /scratch | tail -1; echo $GREETING; pwd']\n  env: {GREETING: hi}\n  cwd: /scratch\n`);
  assert.equal(r.status, 0, r.stderr);
  const out = r.stdout.split('\n');
  assert.equal(out[0], 'from host');
  assert.match(out[1], /Read-only file system/);
  assert.match(out[2], /\s2048\s/);
  assert.equal(out[3], 'hi');
  assert.equal(out[4], '/scratch');
  assert.deepEqual(readdirSync(data), ['hello.txt']);
});

test('symlink escape: a mount target that is a symlink to a host path lands inside the rootfs', { skip }, () => {
  const hostTarget = join(dir, 'host-target');
  mkdirSync(hostTarget);
  writeFileSync(join(hostTarget, 'keep'), 'untouched');
  const rootfs = join(dir, 'rootfs');
  mkdirSync(join(rootfs, 'usr'), { recursive: true });
  for (const l of ['bin', 'lib', 'lib64', 'sbin']) symlinkSync(`usr/${l}`, join(rootfs, l));
  symlinkSync(hostTarget, join(rootfs, 'escape')); // absolute: points at the host dir
  symlinkSync('../../../../../../..' + hostTarget, join(rootfs, 'escape2')); // relative, climbing out
  const r = run('symlink', `rootfs: ${rootfs}\nmounts:\n  - {type: bind, source: /usr, target: /usr, readonly: true}\n  - {type: tmpfs, target: /escape}\n  - {type: tmpfs, target: /escape2/sub}\n${sh('echo inside > /escape/file; echo inside > /escape2/sub/file; ls /escape')}`);
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(readdirSync(hostTarget), ['keep'], 'the host directory is untouched');
  assert.equal(readFileSync(join(hostTarget, 'keep'), 'utf8'), 'untouched');
  assert.equal(readFileSync('/proc/self/mountinfo', 'utf8').includes(hostTarget), false);
  rmSync(rootfs, { recursive: true, force: true });
});

test('exit status: the container\'s code, or 128+N for a signal', { skip }, () => {
  assert.equal(run('exit7', sh('exit 7')).status, 7);
  // Not PID 1: the init of a PID namespace cannot be SIGKILLed from inside it.
  assert.equal(run('kill9', `namespaces: [mount, uts]\n${sh('kill -9 $$')}`).status, 137);
});

test('cgroup limits are in place before the program runs', { skip }, () => {
  const r = run('cg', `cgroup: {memory: 32M, pids: 64}\n${sh('cat /proc/self/cgroup')}`);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /memory:\/niwa\/test\/cg-[0-9a-f]+$/m);
  assert.match(r.stdout, /pids:\/niwa\/test\/cg-[0-9a-f]+$/m);
});

test('a failing step names the spec field and errno, and leaves nothing behind', { skip }, () => {
  const r = run('fail', `sysctls: {net.ipv4.no_such_setting: 1}\n${sh('echo should-not-run')}`);
  assert.equal(r.status, 125, 'a setup failure of niwa run is Docker\'s 125');
  assert.doesNotMatch(r.stdout, /should-not-run/);
  assert.match(r.stderr, /sysctls\.net\.ipv4\.no_such_setting/);
  assert.match(r.stderr, /ENOENT/);
});

test('an invalid spec starts nothing and exits 125 (niwa run passes statuses through, so its own failures are Docker\'s)', { skip }, () => {
  const r = run('bad', `namespaces: [mount, pid, bogus]\n${sh('true')}`);
  assert.equal(r.status, 125);
  assert.match(r.stderr, /namespaces/);
});

test('cgroup namespace: the container sees its own cgroup as /', { skip }, () => {
  const r = run('cgns', `namespaces: [mount, uts, ipc, pid, net, cgroup]\ncgroup: {pids: 32}\n${sh('cat /proc/self/cgroup')}`);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^\d+:pids:\/$/m);
  assert.doesNotMatch(r.stdout, /niwa/);
});

test('signals sent to `niwa run` reach the container; its handler decides the exit', { skip }, async () => {
  const { spawn } = await import('node:child_process');
  const { niwaBin } = await import('../helpers.js');
  const file = join(dir, 'sig.container.yaml');
  writeFileSync(file, `name: sig\n${sh('trap "echo got-term; exit 42" TERM; echo ready; while :; do sleep 0.1; done')}`);
  const child = spawn(process.execPath, [niwaBin, 'run', '--project', 'test', file], { env: { ...process.env, NIWA_STATE_ROOT: state }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => { out += d; });
  const code = await new Promise<number | null>((resolve) => {
    const t = setInterval(() => { if (out.includes('ready')) { clearInterval(t); child.kill('SIGTERM'); } }, 20);
    const guard = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.on('exit', (c) => { clearInterval(t); clearTimeout(guard); resolve(c); });
  });
  assert.match(out, /got-term/);
  assert.equal(code, 42);
  assert.deepEqual(niwaCgroups(), []);
});

test('a missing program fails at execve with a hint about the container\'s root, and nothing is left', { skip }, () => {
  const r = run('noprog', 'process: {args: [/bin/no-such-program]}\n');
  assert.equal(r.status, 127, 'command not found: 127 as in Docker');
  assert.match(r.stderr, /execve `\/bin\/no-such-program`: ENOENT — spec field process\.args/);
  assert.match(r.stderr, /hint: no such program inside the container/);
});

test('tty: the container gets a terminal of its own devpts (also in a user namespace), sized like ours', { skip }, async () => {
  const { spawnSync } = await import('node:child_process');
  const { niwaBin } = await import('../helpers.js');
  for (const [name, extra] of [['ttyplain', ''], ['ttyuser', 'namespaces: [user, mount, uts, ipc, pid, net]\nuid_map: [{container_id: 0, host_id: 100000, size: 65536}]\ngid_map: [{container_id: 0, host_id: 100000, size: 65536}]\n']]) {
    const file = join(dir, `${name}.container.yaml`);
    writeFileSync(file, `name: ${name}\n${extra}process:\n  args: [/bin/sh, -c, 'tty; stty size; ls /dev/pts']\n  tty: true\n`);
    // script(1) gives niwa a real terminal (stty sets its size); the container must see its own.
    const cmd = `stty rows 33 cols 101; ${process.execPath} ${niwaBin} run --project test ${file}`;
    const r = spawnSync('script', ['-qec', cmd, '/dev/null'], { encoding: 'utf8', env: { ...process.env, NIWA_STATE_ROOT: state }, timeout: 30_000 });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    // script(1) turns the end of its own stdin into a NUL typed at the terminal, which the
    // container's terminal echoes as ^@: not part of what the container printed.
    const out = r.stdout.replace(/\r/g, '').replace(/\^@/g, '');
    assert.match(out, /^\/dev\/pts\/0$/m, `${name}: ttyname inside is the container's own /dev/pts/0:\n${out}`);
    assert.match(out, /^33 101$/m, `${name}: window size passed on`);
    assert.deepEqual(niwaCgroups(), []);
  }
});

test('a file bound onto a file: the target is created as a file, read-only', { skip }, () => {
  const f = join(dir, 'single.conf');
  writeFileSync(f, 'one file\n');
  const r = run('filebind', `mounts: [{type: bind, source: ${f}, target: /etc/app/single.conf, readonly: true}]\n${sh('cat /etc/app/single.conf; test -f /etc/app/single.conf && echo is-file; (echo x >> /etc/app/single.conf) 2>&1; true')}`);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^one file\nis-file\n.*Read-only file system/m);
  assert.equal(readFileSync(f, 'utf8'), 'one file\n');
});
