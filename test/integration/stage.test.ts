// The native stage on the real kernel: hand-built LaunchPlans, checked from inside the
// container through the output of a shell. Needs root and the built stage (skips otherwise).
import { test, describe, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { needsRoot } from '../helpers.js';
import { startStage, stagePath, type StageHandle } from '../../src/runtime/launch/stage.js';
import { RuntimeFailure } from '../../src/errors.js';
import { encodePlan } from '../../src/runtime/launch/encode.js';
import { spawnSync } from 'node:child_process';
import type { LaunchPlan, Op, Phase, Step } from '../../src/plan/types.js';

function stageMissing(): string | false {
  try { stagePath(); return false; } catch (e) { return (e as Error).message; }
}
const skip = needsRoot() || stageMissing();

const ENV = ['PATH=/usr/bin:/bin:/usr/sbin:/sbin'];
type Part = [Phase, Op] | [Phase, Op, string];

/** A LaunchPlan from [phase, op, field?] parts, indexed in order. */
function plan(parts: Part[], tty = false): LaunchPlan {
  const steps = parts.map(([phase, op, field], index) => ({ ...op, phase, index, field: field ?? 'test', why: 'test' }) as Step);
  return { version: 1, name: 't', id: 't', project: 'test', spec: '', rootDir: '/', cgroups: [], tty, steps, warnings: [] };
}
const clone = (...flags: Extract<Op, { op: 'clone' }>['flags']): Part => ['clone', { op: 'clone', flags }];
const sh = (script: string): Part => ['child', { op: 'execve', path: 'sh', argv: ['sh', '-c', script], env: ENV }, 'process.args'];
/** uid/gid maps written by the parent while the child waits, then setresuid/gid 0 in the ns. */
const userns = (map: string): Part[] => [
  ['parent', { op: 'write', path: '/proc/{pid}/uid_map', data: map }, 'uid_map'],
  ['parent', { op: 'write', path: '/proc/{pid}/setgroups', data: 'deny' }, 'gid_map'],
  ['parent', { op: 'write', path: '/proc/{pid}/gid_map', data: map }, 'gid_map'],
  ['parent', { op: 'release_child' }],
  ['child', { op: 'wait_parent' }],
  ['child', { op: 'setresgid', gid: 0 }],
  ['child', { op: 'setresuid', uid: 0 }],
];
const privateMounts: Part = ['child', { op: 'mount', source: null, target: '/', fstype: null, flags: ['MS_REC', 'MS_PRIVATE'], data: null }, 'namespaces.mount'];

interface Ran { code: number | null; signal: number | null; out: string; err: string; pid: number; handle: StageHandle }
const handles: StageHandle[] = [];

function start(p: LaunchPlan): { h: StageHandle; out: () => string; err: () => string } {
  const h = startStage(p, { stdio: ['pipe', 'pipe', 'pipe'] });
  handles.push(h);
  let out = '';
  let err = '';
  h.stdout!.setEncoding('utf8').on('data', (d: string) => { out += d; });
  h.stderr!.setEncoding('utf8').on('data', (d: string) => { err += d; });
  return { h, out: () => out, err: () => err };
}

/** Run to the end; stdout/stderr collected. */
async function run(p: LaunchPlan, stdin = ''): Promise<Ran> {
  const { h, out, err } = start(p);
  h.stdin!.end(stdin);
  await h.started;
  const pid = await h.pid;
  const ex = await h.exited;
  await new Promise<void>((r) => (h.process.stdout!.readableEnded ? r() : h.process.stdout!.once('close', () => r())));
  return { ...ex, out: out(), err: err(), pid, handle: h };
}

const waitFor = async (cond: () => boolean, ms = 5000) => {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 10));
  }
};
const alive = (pid: number) => { try { process.kill(pid, 0); return true; } catch { return false; } };
/** Stage processes whose parent is this test process (a stage not yet reaped would show here). */
const ourChildren = () => readdirSync('/proc').filter((d) => /^\d+$/.test(d)).filter((d) => {
  try {
    const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
    return stat.includes('(niwa-') && stat.replace(/^.*\) /, '').split(' ')[1] === String(process.pid);
  } catch { return false; }
});
const mountinfo = () => readFileSync('/proc/self/mountinfo', 'utf8');
/** Mounts under this test's own directory: the only ones it may compare (other niwa runs may be mounting elsewhere). */
const ownMounts = (dir: string) => mountinfo().split('\n').filter((l) => dir && l.includes(dir)).join('\n');

describe('native stage', { skip }, () => {
  let tmp = '';
  let mountsBefore = '';
  before(() => {
    tmp = mkdtempSync(join(tmpdir(), 'niwa-stage-test-'));
    mountsBefore = ownMounts(tmp);
  });
  afterEach(async () => {
    // every container of the test is gone and no mount leaked into our namespace
    for (const h of handles.splice(0)) { h.kill('SIGKILL'); await h.exited; }
    assert.equal(ownMounts(tmp), mountsBefore);
  });
  after(() => {
    rmSync(tmp, { recursive: true, force: true });
    assert.equal(existsSync(tmp), false);
    assert.deepEqual(ownMounts(tmp), '');
  });

  const withProc = (...flags: Extract<Op, { op: 'clone' }>['flags']): Part[] => [
    clone('CLONE_NEWPID', 'CLONE_NEWNS', ...flags),
    privateMounts,
    ['child', { op: 'mount', source: 'proc', target: '/proc', fstype: 'proc', flags: [], data: null }],
  ];

  test('uts namespace + sethostname: hostname inside, host name untouched', async () => {
    const host = readFileSync('/proc/sys/kernel/hostname', 'utf8').trim();
    const r = await run(plan([clone('CLONE_NEWUTS'), ['child', { op: 'sethostname', name: 'niwa-box' }, 'hostname'], sh('hostname')]));
    assert.equal(r.out, 'niwa-box\n');
    assert.equal(r.code, 0);
    assert.equal(readFileSync('/proc/sys/kernel/hostname', 'utf8').trim(), host);
  });

  test('pid namespace: the shell is pid 1; `pid` reports its host pid', async () => {
    const r = await run(plan([clone('CLONE_NEWPID'), sh('echo $$')]));
    assert.equal(r.out, '1\n');
    assert.ok(r.pid > 1 && r.pid !== process.pid);
  });

  test('user namespace: uid_map written by the parent phase, root inside', async () => {
    const r = await run(plan([clone('CLONE_NEWUSER'), ...userns('0 100000 65536'), sh('cat /proc/self/uid_map /proc/self/gid_map /proc/self/setgroups; id -u')]));
    assert.deepEqual(r.out.trim().split('\n').map((l) => l.trim().split(/\s+/).join(' ')), ['0 100000 65536', '0 100000 65536', 'deny', '0']);
  });

  test('{pid} in a parent-phase write: path and data get the container host pid', async () => {
    const r = await run(plan([clone(), ['parent', { op: 'write', path: join(tmp, 'pid-{pid}'), data: 'pid={pid} {pid}', create: true }], sh('true')]));
    assert.equal(readFileSync(join(tmp, `pid-${r.pid}`), 'utf8'), `pid=${r.pid} ${r.pid}`);
    rmSync(join(tmp, `pid-${r.pid}`));
  });

  test('stage phase: unshare CLONE_NEWTIME + timens_offsets, the child is born in it', async () => {
    const r = await run(plan([
      ['stage', { op: 'unshare', flags: ['CLONE_NEWTIME'] }, 'namespaces.time'],
      ['stage', { op: 'write', path: '/proc/self/timens_offsets', data: 'monotonic 86400 0\nboottime 172800 0\n' }, 'namespaces.time'],
      clone(),
      sh('cat /proc/self/timens_offsets; cut -d. -f1 /proc/uptime'),
    ]));
    const lines = r.out.trim().split('\n').map((l) => l.trim().split(/\s+/).join(' '));
    assert.deepEqual(lines.slice(0, 2), ['monotonic 86400 0', 'boottime 172800 0']);
    assert.ok(Number(lines[2]) >= 172800, `uptime ${lines[2]}`);
  });

  test('stage phase: setns joins the uts namespace of a running container', async () => {
    const a = start(plan([clone('CLONE_NEWUTS'), ['child', { op: 'sethostname', name: 'alpha' }], sh('echo up; exec sleep 30')]));
    const apid = await a.h.pid;
    await waitFor(() => a.out().includes('up'));
    const r = await run(plan([['stage', { op: 'setns', ns: 'uts', path: `/proc/${apid}/ns/uts`, flag: 'CLONE_NEWUTS' }, 'namespaces.uts'], clone(), sh('hostname')]));
    assert.equal(r.out, 'alpha\n');
    a.h.kill('SIGKILL');
    assert.deepEqual(await a.h.exited, { code: null, signal: 9 });
  });

  test('tmpfs root, read-only /usr, merged-/usr symlinks, pivot_root: no host path in mountinfo', async () => {
    const root = join(tmp, 'root');
    mkdirSync(root);
    const R = { inRoot: root };
    const r = await run(plan([
      clone('CLONE_NEWNS', 'CLONE_NEWPID'),
      privateMounts,
      ['child', { op: 'mount', source: 'tmpfs', target: root, fstype: 'tmpfs', flags: ['MS_NOSUID', 'MS_NODEV'], data: 'mode=0755' }, 'rootfs'],
      ['child', { op: 'mount', source: '/usr', target: '/usr', fstype: null, flags: ['MS_BIND', 'MS_REC'], data: null, mkTarget: 'dir', ...R }, 'mounts.0'],
      ['child', { op: 'mount', source: null, target: '/usr', fstype: null, flags: ['MS_REMOUNT', 'MS_BIND', 'MS_RDONLY'], data: null, keepLocked: true, ...R }, 'mounts.0.readonly'],
      ...['bin', 'lib', 'lib64', 'sbin'].map((d): Part => ['child', { op: 'symlink', target: `usr/${d}`, path: `/${d}`, ...R }, 'rootfs']),
      ['child', { op: 'mount', source: 'proc', target: '/proc', fstype: 'proc', flags: ['MS_NOSUID', 'MS_NODEV', 'MS_NOEXEC'], data: null, mkTarget: 'dir', ...R }, 'rootfs'],
      ['child', { op: 'mkdir', path: '/tmp', mode: 0o1777, parents: true, ...R }, 'rootfs'],
      ['child', { op: 'chdir', path: root }, 'root'],
      ['child', { op: 'pivot_root', newRoot: '.', putOld: '.' }, 'root'],
      ['child', { op: 'umount2', target: '.', flags: ['MNT_DETACH'] }, 'root'],
      ['child', { op: 'chdir', path: '/' }, 'root'],
      sh('cat /proc/self/mountinfo; echo ---; stat -c %a /tmp; touch /usr/x 2>/dev/null || echo usr-ro; ls /'),
    ]));
    assert.equal(r.code, 0, r.err);
    const [mi, rest] = r.out.split('---\n');
    const points = mi.trim().split('\n').map((l) => l.split(' ')[4]);
    assert.deepEqual(points.sort(), ['/', '/proc', '/usr']);
    assert.ok(!mi.includes(tmp), mi);
    assert.ok(/ \/usr ro,/.test(mi), 'usr mounted read-only: ' + mi);
    assert.deepEqual(rest.trim().split('\n'), ['1777', 'usr-ro', 'bin', 'lib', 'lib64', 'proc', 'sbin', 'tmp', 'usr']);
  });

  test('inRoot: a symlink in the rootfs to a host dir, and "..", never lead outside the root', async () => {
    const host = join(tmp, 'host');
    const root = join(tmp, 'root2');
    mkdirSync(host);
    mkdirSync(root);
    writeFileSync(join(host, 'keep'), 'x');
    const R = { inRoot: root };
    const r = await run(plan([
      clone('CLONE_NEWNS'),
      privateMounts,
      ['child', { op: 'mount', source: 'tmpfs', target: root, fstype: 'tmpfs', flags: [], data: null }],
      ['child', { op: 'symlink', target: host, path: '/data', ...R }],
      ['child', { op: 'symlink', target: '../../../../../..' + host, path: '/rel', ...R }],
      ['child', { op: 'mount', source: 'tmpfs', target: '/data/x', fstype: 'tmpfs', flags: [], data: null, mkTarget: 'dir', ...R }, 'mounts.0.target'],
      ['child', { op: 'mount', source: '/dev/null', target: '/rel/devnull', fstype: null, flags: ['MS_BIND'], data: null, mkTarget: 'file', ...R }],
      ['child', { op: 'write', path: '/data/file', data: 'inside', create: true, ...R }],
      ['child', { op: 'write', path: `../../../..${host}/dotdot`, data: 'inside', create: true, ...R }],
      ['child', { op: 'mkdir', path: '/data/made/deeper', mode: 0o700, parents: true, ...R }],
      ['child', { op: 'touch', path: '/rel/t', mode: 0o600, ...R }],
      sh(`ls -A ${host}; echo ---; ls -A ${root}${host}; stat -c %a ${root}${host}/made/deeper ${root}${host}/t; grep -c ' ${root}${host}/x ' /proc/self/mountinfo`),
    ]));
    assert.equal(r.code, 0, r.err);
    const [outside, inside] = r.out.split('---\n');
    assert.equal(outside, 'keep\n');
    assert.deepEqual(inside.trim().split('\n'), ['devnull', 'dotdot', 'file', 'made', 't', 'x', '700', '600', '1']);
    assert.deepEqual(readdirSync(host), ['keep']);
  });

  test('mask and readonly: tmpfs over a dir, /dev/null over a file, read-only bind; missing paths skipped', async () => {
    const d = mkdtempSync(join(tmp, 'mask-'));
    for (const x of ['dir', 'ro']) mkdirSync(join(d, x));
    writeFileSync(join(d, 'dir', 'secret'), 'secret');
    writeFileSync(join(d, 'file'), 'secret');
    const r = await run(plan([
      clone('CLONE_NEWNS'),
      privateMounts,
      ['child', { op: 'mask', path: join(d, 'dir') }, 'masked_paths.0'],
      ['child', { op: 'mask', path: join(d, 'file') }, 'masked_paths.1'],
      ['child', { op: 'mask', path: join(d, 'missing') }, 'masked_paths.2'],
      ['child', { op: 'readonly', path: join(d, 'ro') }, 'readonly_paths.0'],
      ['child', { op: 'readonly', path: join(d, 'missing2') }, 'readonly_paths.1'],
      sh(`cd ${d}; ls -A dir; echo "file <$(cat file)>"; touch dir/x 2>/dev/null || echo dir-ro; touch ro/x 2>/dev/null || echo ro-ro; ls -A`),
    ]));
    assert.equal(r.code, 0, r.err);
    assert.deepEqual(r.out.trim().split('\n'), ['file <>', 'dir-ro', 'ro-ro', 'dir', 'file', 'ro']);
    assert.equal(readFileSync(join(d, 'file'), 'utf8'), 'secret');
  });

  test('mkdir without parents refuses an existing dir; ifup brings lo up in a new net namespace', async () => {
    const d = mkdtempSync(join(tmp, 'mk-'));
    const { h } = start(plan([clone(), ['child', { op: 'mkdir', path: d, mode: 0o755 }, 'rootfs'], sh('true')]));
    await assert.rejects(h.started, (e: Error) => e.message.startsWith(`mkdir \`${d}\`: EEXIST — spec field rootfs`));
    const r = await run(plan([clone('CLONE_NEWNET'), ['child', { op: 'ifup', name: 'lo' }, 'namespaces.net'], sh('ip -o link show lo | grep -o "state [A-Z]*"; ip -o link | wc -l')]));
    assert.deepEqual(r.out.trim().split('\n'), ['state UNKNOWN', '1']);
    const down = await run(plan([clone('CLONE_NEWNET'), sh('ip -o link show lo | grep -o "state [A-Z]*"')]));
    assert.equal(down.out.trim(), 'state DOWN');
  });

  test('the container inherits only fds 0, 1, 2 (plain, tty and init modes)', async () => {
    // looked at from outside, once the program runs (`exec sleep` keeps the shell's fds)
    const fdsOf = (pid: number) => readdirSync(`/proc/${pid}/fd`).map(Number).sort((x, y) => x - y);
    const check = async (p: LaunchPlan, init = false) => {
      const { h, out } = start(p);
      await h.started;
      await waitFor(() => out().includes('ready'));
      const pid = await h.pid;
      assert.deepEqual(fdsOf(pid), [0, 1, 2]);
      if (init) {
        const kids = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(' ').map(Number);
        assert.equal(kids.length, 1);
        assert.deepEqual(fdsOf(kids[0]), [0, 1, 2]);
      }
      h.kill('SIGKILL');
      await h.exited;
    };
    const prog = sh('echo ready; exec sleep 10');
    await check(plan([clone(), prog]));
    await check(plan([clone(), ['child', { op: 'setsid' }], ['child', { op: 'setctty' }], prog], true));
    await check(plan([...withProc(), ['child', { op: 'init' }], prog]), true);
  });

  test('capbset_drop, keepcaps, setresuid, capset, ambient_raise: the sets in /proc/self/status', async () => {
    const keep = ['CAP_CHOWN', 'CAP_NET_BIND_SERVICE'];
    const { ALL_CAPS } = await import('../../src/spec/capabilities.js');
    const r = await run(plan([
      clone(),
      ['child', { op: 'capbset_drop', caps: ALL_CAPS.filter((c) => !keep.includes(c)) }, 'capabilities'],
      ['child', { op: 'keepcaps', on: true }],
      ['child', { op: 'setgroups', gids: [1000, 1001] }],
      ['child', { op: 'setresgid', gid: 1000 }],
      ['child', { op: 'setresuid', uid: 1000 }],
      ['child', { op: 'capset', effective: keep, permitted: keep, inheritable: keep }],
      ['child', { op: 'ambient_raise', caps: ['CAP_NET_BIND_SERVICE'] }],
      sh('grep -E "^(Cap|Uid|Gid|Groups)" /proc/self/status'),
    ]));
    const st = Object.fromEntries(r.out.trim().split('\n').map((l) => l.split(/:\s+/)));
    assert.equal(st.CapBnd, '0000000000000401');
    assert.equal(st.CapInh, '0000000000000401');
    assert.equal(st.CapAmb, '0000000000000400');
    assert.equal(st.CapPrm, '0000000000000400');
    assert.equal(st.CapEff, '0000000000000400');
    assert.equal(st.Uid.split(/\s+/)[0], '1000');
    assert.equal(st.Gid.split(/\s+/)[0], '1000');
    assert.equal(st.Groups.trim(), '1000 1001');
  });

  test('no_new_privs and setrlimit', async () => {
    const r = await run(plan([
      clone(),
      ['child', { op: 'setrlimit', resource: 'RLIMIT_NOFILE', soft: 123, hard: 456 }, 'rlimits.nofile'],
      ['child', { op: 'setrlimit', resource: 'core', soft: -1, hard: -1 }, 'rlimits.core'],
      ['child', { op: 'no_new_privs' }, 'no_new_privs'],
      sh('grep NoNewPrivs /proc/self/status; ulimit -n; ulimit -Hn; ulimit -c'),
    ]));
    assert.deepEqual(r.out.trim().split('\n').map((l) => l.replace(/\s+/g, ' ')), ['NoNewPrivs: 1', '123', '456', 'unlimited']);
  });

  test('seccomp: a classic BPF filter that fails sethostname with EPERM', { skip: process.arch !== 'x64' && 'x86_64 syscall numbers' }, async () => {
    const AUDIT_ARCH_X86_64 = 0xc000003e;
    const filter: [number, number, number, number][] = [
      [0x20, 0, 0, 4], // ld arch
      [0x15, 1, 0, AUDIT_ARCH_X86_64], // jeq x86_64 → skip the kill
      [0x06, 0, 0, 0x80000000], // ret KILL_PROCESS
      [0x20, 0, 0, 0], // ld nr
      [0x15, 0, 1, 170], // jeq __NR_sethostname
      [0x06, 0, 0, 0x00050000 | 1], // ret ERRNO(EPERM)
      [0x06, 0, 0, 0x7fff0000], // ret ALLOW
    ];
    const r = await run(plan([
      clone('CLONE_NEWUTS'),
      ['child', { op: 'sethostname', name: 'before' }],
      ['child', { op: 'no_new_privs' }],
      ['child', { op: 'seccomp', summary: 'test', filter }, 'seccomp'],
      sh('grep -E "^Seccomp:" /proc/self/status; hostname after 2>/dev/null || echo refused; hostname'),
    ]));
    assert.deepEqual(r.out.trim().split('\n').map((l) => l.replace(/\s+/g, ' ')), ['Seccomp: 2', 'refused', 'before']);
  });

  for (const [name, parts, re, index] of [
    ['pivot_root to a directory that is not a mount point', [clone('CLONE_NEWNS'), privateMounts, ['child', { op: 'chdir', path: '/sys/kernel' }, 'root'], ['child', { op: 'pivot_root', newRoot: '.', putOld: '.' }, 'root'], sh('true')],
      /^pivot_root `\.`: EINVAL — spec field root \(step 3, child\)$/, 3],
    ['a bind mount of a missing source', [clone('CLONE_NEWNS'), privateMounts, ['child', { op: 'mount', source: '/nonexistent-niwa', target: '/mnt', fstype: null, flags: ['MS_BIND'], data: null }, 'mounts.0.source'], sh('true')],
      /^mount `\/mnt`: ENOENT — spec field mounts\.0\.source \(step 2, child\)$/, 2],
    ['execve of a command not in PATH', [clone(), ['child', { op: 'execve', path: 'no-such-command-niwa', argv: ['x'], env: ENV }, 'process.args']],
      /^execve `no-such-command-niwa`: ENOENT — spec field process\.args/, 1],
    ['a parent-phase write the kernel refuses (bad uid_map)', [clone('CLONE_NEWUSER'), ['parent', { op: 'write', path: '/proc/{pid}/uid_map', data: 'garbage' }, 'uid_map'], ['parent', { op: 'release_child' }], ['child', { op: 'wait_parent' }], sh('true')],
      /^write `\/proc\/\{pid\}\/uid_map`: EINVAL — spec field uid_map \(step 1, parent\)$/, 1],
    ['a stage-phase setns of a missing namespace file', [['stage', { op: 'setns', ns: 'net', path: '/nonexistent-niwa/ns/net', flag: 'CLONE_NEWNET' }, 'namespaces.net'], clone(), sh('true')],
      /^setns `\/nonexistent-niwa\/ns\/net`: ENOENT — spec field namespaces\.net \(step 0, stage\)$/, 0],
    ['wait_parent without release_child fails instead of hanging', [clone(), ['child', { op: 'wait_parent' }, 'namespaces'], sh('true')],
      /^wait_parent: EPIPE — spec field namespaces/, 1],
  ] as [string, Part[], RegExp, number][]) {
    test(`a failing step rejects started, leaves nothing: ${name}`, async () => {
      const p = plan(parts);
      const { h } = start(p);
      h.stdin!.end();
      const childPid = await h.pid.catch(() => undefined);
      const e = await h.started.then(() => undefined, (x: unknown) => x);
      assert.ok(e instanceof RuntimeFailure, String(e));
      assert.match(e.message, re);
      assert.equal(e.code, 'E_STEP');
      assert.equal(e.field, p.steps[index].field);
      assert.deepEqual(await h.exited, { code: 125, signal: null });
      if (childPid !== undefined) assert.equal(alive(childPid), false, 'container process is gone');
      assert.deepEqual(ourChildren(), []);
    });
  }

  test('exit codes and death by signal propagate', async () => {
    const a = await run(plan([clone(), sh('exit 7')]));
    assert.deepEqual([a.code, a.signal], [7, null]);
    assert.equal(a.handle.process.exitCode, 7);
    const b = await run(plan([clone(), sh('kill -9 $$')]));
    assert.deepEqual([b.code, b.signal], [null, 9]);
    assert.equal(b.handle.process.exitCode, 128 + 9);
  });

  test('SIGTERM to the stage reaches a trap in the container; SIGKILL goes to the container', async () => {
    const { h, out } = start(plan([clone(), sh('trap "echo got TERM; exit 3" TERM; echo ready; while :; do sleep 0.05; done')]));
    await h.started;
    await waitFor(() => out().includes('ready'));
    h.kill('SIGTERM');
    assert.deepEqual(await h.exited, { code: 3, signal: null });
    await waitFor(() => out().includes('got TERM'));

    const k = start(plan([clone(), sh('echo ready; exec sleep 30')]));
    await k.h.started;
    await waitFor(() => k.out().includes('ready'));
    k.h.kill('SIGKILL'); // not forwardable: sent to the container, the stage reports it
    assert.deepEqual(await k.h.exited, { code: null, signal: 9 });
    assert.equal(k.h.process.exitCode, 137);
  });

  test('init: PID 1 reaps an orphan, the program runs as pid 2, its exit code comes through', async () => {
    const r = await run(plan([
      ...withProc(),
      ['child', { op: 'init' }, 'process.init'],
      sh(`p=$(sh -c 'sleep 0.3 >/dev/null 2>&1 & echo $!')
          echo "orphan ppid $(cut -d' ' -f4 /proc/$p/stat)"
          sleep 0.8
          if [ -e /proc/$p ]; then echo "left $(grep State /proc/$p/status)"; else echo reaped; fi
          cat /proc/1/comm; echo $$; exit 5`),
    ]));
    assert.deepEqual(r.out.trim().split('\n'), ['orphan ppid 1', 'reaped', 'niwa-init', '2']);
    assert.deepEqual([r.code, r.signal], [5, null]);
  });

  test('init forwards signals to the program', async () => {
    const { h, out } = start(plan([...withProc(), ['child', { op: 'init' }], sh('trap "echo got TERM; exit 3" TERM; echo ready; while :; do sleep 0.05; done')]));
    await h.started;
    await waitFor(() => out().includes('ready'));
    h.kill('SIGTERM');
    assert.deepEqual(await h.exited, { code: 3, signal: null });
    // a program killed by a signal: PID 1 cannot die by it, so init exits 128+N
    const r = await run(plan([...withProc(), ['child', { op: 'init' }], sh('kill -9 $$')]));
    assert.deepEqual([r.code, r.signal], [137, null]);
  });

  test('tty: the container gets a pty as controlling terminal and stdio, relayed by the stage', async () => {
    const r = await run(plan([clone(), ['child', { op: 'setsid' }, 'process.tty'], ['child', { op: 'setctty' }, 'process.tty'],
      sh('tty; [ -t 0 ] && [ -t 1 ] && [ -t 2 ] && echo all-tty; ps -o tty= -p $$ | grep -c pts')], true));
    const lines = r.out.replace(/\r/g, '').trim().split('\n');
    assert.match(lines[0], /^\/dev\/pts\/\d+$/);
    assert.deepEqual(lines.slice(1), ['all-tty', '1']);
    assert.equal(r.code, 0);
  });

  test('tty: input is relayed to the program, end of input becomes EOF', async () => {
    const r = await run(plan([clone(), ['child', { op: 'setsid' }], ['child', { op: 'setctty' }], sh('stty -echo; read a; echo "got <$a>"; cat; echo end')], true), 'hello\n');
    assert.match(r.out.replace(/\r/g, ''), /got <hello>\nend\n$/);
  });

  test('tty on a real terminal (under script): window size copied, raw mode while running, terminal restored', { skip: !existsSync('/usr/bin/script') && 'needs script(1)' }, async () => {
    const p = plan([clone(), ['child', { op: 'setsid' }], ['child', { op: 'setctty' }], sh('stty size; sleep 0.4')], true);
    const dir = mkdtempSync(join(tmp, 'tty-'));
    writeFileSync(join(dir, 'plan'), encodePlan(p.steps, { tty: true }));
    // the stage runs in the background with the terminal as stdin; meanwhile we look at the terminal's mode
    const cmd = `cd ${dir}; stty rows 31 cols 101; stty -g > before; ${stagePath()} 3<plan 4>report </dev/tty & sleep 0.2; stty -a > during; wait; stty -g > after`;
    const r = spawnSync('script', ['-qec', cmd, '/dev/null'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 10_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /31 101\r?$/m); // (script may type a ^@ at its stdin EOF)
    assert.equal(readFileSync(join(dir, 'report'), 'utf8').replace(/^pid \d+/, 'pid N'), 'pid N\nexec\nexit 0\n');
    const during = readFileSync(join(dir, 'during'), 'utf8');
    assert.match(during, /-icanon/);
    assert.match(during, /-echo /);
    assert.equal(readFileSync(join(dir, 'after'), 'utf8'), readFileSync(join(dir, 'before'), 'utf8'));
    assert.match(readFileSync(join(dir, 'before'), 'utf8'), /./);
  });

  test('setctty without a tty in the plan fails with ENOTTY', async () => {
    const { h } = start(plan([clone(), ['child', { op: 'setsid' }], ['child', { op: 'setctty' }, 'process.tty'], sh('true')]));
    await assert.rejects(h.started, /setctty: ENOTTY — spec field process.tty/);
  });

  test('200 launches: no failure, no leaked fd, no process left; timings', async (t) => {
    const fds = () => readdirSync('/proc/self/fd').length;
    const p = plan([clone(), ['child', { op: 'execve', path: '/bin/true', argv: ['true'], env: [] }]]);
    // warm up, so lazily opened fds of the runtime are counted before
    await run(p);
    const before = fds();
    const toExec: number[] = [];
    const toExit: number[] = [];
    for (let i = 0; i < 200; i++) {
      const t0 = performance.now();
      const h = startStage(p, { stdio: 'ignore' });
      await h.started;
      toExec.push(performance.now() - t0);
      const ex = await h.exited;
      toExit.push(performance.now() - t0);
      assert.deepEqual(ex, { code: 0, signal: null });
    }
    await new Promise((r) => setImmediate(r));
    assert.equal(fds(), before);
    assert.deepEqual(ourChildren(), []);
    const med = (a: number[]) => a.sort((x, y) => x - y)[a.length >> 1].toFixed(2);
    t.diagnostic(`spawn→exec median ${med(toExec)} ms, spawn→exit median ${med(toExit)} ms (200 runs)`);
  });
});
