// `niwa exec` on the real kernel: a long-running container is started with runPlan, then commands
// are run in it through the exec plan. Every check is made from inside (hostname, /proc, root,
// cgroup, capabilities, no_new_privs, seccomp) and compared with the container's own PID 1.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { needsRoot, needsStage, repoRoot } from '../helpers.js';
import { probeHost } from '../../src/validate/host.js';
import { execInContainer } from '../../src/runtime/exec.js';
import type { HostFacts } from '../../src/plan/types.js';
import { startContainer, cgroupsLeft as cgroupsLeftIn, type Running } from './running.js';
import { ALL_CAPS, capMask } from '../../src/spec/capabilities.js';

const skip = needsRoot() || needsStage();
const project = `exectest${randomBytes(3).toString('hex')}`;
let dir = '';
let state = '';
let host: HostFacts;

const start = (name: string, yaml: string) => startContainer(dir, host, project, name, yaml);
const cgroupsLeft = () => cgroupsLeftIn(project);

async function sh(c: Running, script: string, extra: Partial<Parameters<typeof execInContainer>[1]> = {}) {
  return execInContainer({ pid: c.pid, cgroups: c.plan.cgroups }, { args: ['/bin/sh', '-c', script], ...extra }, { spec: c.spec, host, timeoutMs: 10_000 });
}
/** Waits (bounded) until `script` succeeds inside the container. */
async function until(c: Running, script: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if ((await sh(c, script)).status === 0) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for: ${script}`);
}
const field = (out: string, key: string) => out.match(new RegExp(`^${key}:\\s*(\\S+)`, 'm'))?.[1];

describe('niwa exec', { skip }, () => {
  const running: Running[] = [];
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'niwa-exec-test-'));
    chmodSync(dir, 0o755);
    state = join(dir, 'state');
    mkdirSync(state);
    chmodSync(state, 0o755);
    host = probeHost({ stateRoot: state });
  });
  after(async () => {
    for (const c of running.splice(0)) await c.stop();
    assert.deepEqual(cgroupsLeft(), [], 'no cgroup of this test left');
    assert.equal(readFileSync('/proc/self/mountinfo', 'utf8').includes(dir), false, 'no mount left');
    rmSync(dir, { recursive: true, force: true });
  });

  const box = (extra = '') => `namespaces: [mount, uts, ipc, pid, net, cgroup]\nhostname: exec-box\ncgroup: {pids: 64}\n${extra}process:\n  args: [/bin/sh, -c, 'echo only-here > /marker; exec sleep 1000']\n`;

  test('the command sees the container: hostname, pid namespace, root, cgroup, capabilities, no_new_privs, seccomp', async () => {
    const c = await start('ident', box());
    running.push(c);
    await until(c, 'test -f /marker');
    const r = await sh(c, [
      'hostname', 'echo self=$$', 'cat /proc/1/cmdline | tr "\\0" " "; echo', 'cat /marker',
      'cat /proc/self/cgroup | sort | md5sum', 'cat /proc/1/cgroup | sort | md5sum',
      'grep -E "^(CapEff|CapBnd|NoNewPrivs|Seccomp):" /proc/self/status', 'grep -E "^(CapEff|CapBnd):" /proc/1/status | sed s/^/init-/',
      'ls /proc | grep -E "^[0-9]+$" | tr "\\n" " "; echo', 'pwd',
    ].join('; '));
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout!.trim().split('\n');
    assert.equal(lines[0], 'exec-box');
    const self = Number(lines[1].slice(5));
    assert.ok(self > 1, `own pid in the container's namespace, not 1: ${lines[1]}`);
    assert.match(lines[2], /^sleep 1000/, 'PID 1 is the container\'s process');
    assert.equal(lines[3], 'only-here', '/ is the container\'s root (setns into the mount namespace set it)');
    assert.equal(lines[4], lines[5], '/proc/self/cgroup equals the container\'s');
    assert.equal(field(r.stdout!, 'CapEff'), field(r.stdout!, 'init-CapEff'));
    assert.equal(field(r.stdout!, 'CapBnd'), field(r.stdout!, 'init-CapBnd'));
    assert.equal(field(r.stdout!, 'NoNewPrivs'), '1');
    assert.equal(field(r.stdout!, 'Seccomp'), '2');
    const pids = lines[lines.length - 2].trim().split(' ').map(Number);
    assert.ok(pids.includes(1) && pids.includes(self) && pids.every((p) => p < 100), `only container pids: ${pids}`);
    assert.equal(lines[lines.length - 1], '/');
    // the host's view: the command ran in the container's cgroup
    const hostCg = readFileSync(`/proc/${c.pid}/cgroup`, 'utf8');
    assert.match(hostCg, new RegExp(`niwa/${project}/`));
  });

  test('exit status, environment overrides, cwd, user switch and --privileged', async () => {
    const c = await start('misc', box());
    running.push(c);
    assert.equal((await sh(c, 'exit 7')).status, 7);
    const killed = await sh(c, 'kill -9 $$');
    assert.equal(killed.signal, 9);
    assert.equal(killed.status, 137);
    const env = await sh(c, 'echo $GREETING:$PATH; pwd', { env: { GREETING: 'hi' }, cwd: '/tmp' });
    assert.match(env.stdout!, /^hi:\/usr\/local\/sbin/);
    assert.match(env.stdout!, /^\/tmp$/m);
    const user = await sh(c, 'id -u; id -g; grep -E "^CapEff" /proc/self/status', { user: { uid: 1000, gid: 1000, groups: [] } });
    assert.deepEqual(user.stdout!.trim().split('\n').slice(0, 2), ['1000', '1000']);
    const priv = await sh(c, 'grep -E "^(CapEff|Seccomp):" /proc/self/status', { privileged: true });
    assert.equal(BigInt('0x' + field(priv.stdout!, 'CapEff')), capMask(ALL_CAPS) & BigInt('0x' + field(readFileSync('/proc/self/status', 'utf8'), 'CapBnd')));
    assert.equal(field(priv.stdout!, 'Seccomp'), '0');
    const missing = await execInContainer({ pid: c.pid, cgroups: c.plan.cgroups }, { args: ['/no/such/program'] }, { spec: c.spec, host }).catch((e: Error) => e);
    assert.ok(missing instanceof Error && /execve `\/no\/such\/program`: ENOENT/.test(missing.message), String(missing));
  });

  test('-t: a pseudo-terminal of the container\'s own devpts', async () => {
    const c = await start('tty', box());
    running.push(c);
    const r = await sh(c, 'test -t 0 && test -t 1 && echo isatty; tty; ls /dev/pts | grep -v ptmx', { tty: true });
    assert.equal(r.status, 0, r.stdout);
    const lines = r.stdout!.split('\r\n');
    assert.equal(lines[0], 'isatty', 'a terminal (its line discipline turns \\n into \\r\\n)');
    assert.match(lines[1], /^\/dev\/pts\/\d+$/, 'named inside the container');
    assert.equal(lines[2], lines[1].slice('/dev/pts/'.length), 'listed in the container\'s /dev/pts');
    const plain = await sh(c, 'test -t 1 && echo tty || echo notty');
    assert.equal(plain.stdout, 'notty\n');
  });

  test('user namespace container: the command is root inside, mapped outside', async () => {
    const c = await start('userns', `namespaces: [user, mount, uts, ipc, pid, net]\nuid_map: [{container_id: 0, host_id: 200000, size: 65536}]\ngid_map: [{container_id: 0, host_id: 200000, size: 65536}]\nprocess:\n  args: [/bin/sh, -c, 'touch /marker; exec sleep 1000']\n`);
    running.push(c);
    await until(c, 'test -f /marker');
    const r = await sh(c, 'id -u; cat /proc/self/uid_map; grep -E "^CapEff" /proc/self/status; grep -E "^CapEff" /proc/1/status | sed s/^/init-/');
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout!.trim().split('\n');
    assert.equal(lines[0], '0');
    assert.equal(lines[1].trim().split(/\s+/).join(' '), '0 200000 65536');
    assert.equal(field(r.stdout!, 'CapEff'), field(r.stdout!, 'init-CapEff'));
    const r2 = await sh(c, 'sleep 0.2 & echo $!; wait');
    const inner = Number(r2.stdout!.trim());
    assert.ok(inner > 1);
    // -t here too: the terminal is one of the container's own /dev/pts (its devpts belongs to the user namespace)
    const t = await sh(c, 'tty; stat -c %u "$(tty)"', { tty: true });
    assert.equal(t.status, 0, t.stdout);
    const [name, owner] = t.stdout!.split('\r\n');
    assert.match(name, /^\/dev\/pts\/\d+$/);
    assert.equal(owner, '0', 'owned by root of the container');
  });

  test('chroot container: the command gets the container\'s root through /proc/PID/root', async () => {
    const c = await start('chrooted', `root: chroot\nnamespaces: [mount, uts, pid]\nprocess:\n  args: [/bin/sh, -c, 'echo chrooted > /marker; exec sleep 1000']\n`);
    running.push(c);
    await until(c, 'test -f /marker');
    const r = await sh(c, 'cat /marker; ls /');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout!, /^chrooted$/m);
    assert.doesNotMatch(r.stdout!, /^(boot|work)$/m, 'not the host root');
  });

  test('latency: median of 50 execs of /bin/true', async () => {
    const c = await start('latency', box());
    running.push(c);
    const times: number[] = [];
    for (let i = 0; i < 50; i++) {
      const t0 = performance.now();
      const r = await execInContainer({ pid: c.pid, cgroups: c.plan.cgroups }, { args: ['/bin/true'] }, { spec: c.spec, host });
      times.push(performance.now() - t0);
      assert.equal(r.status, 0);
    }
    times.sort((a, b) => a - b);
    const median = (times[24] + times[25]) / 2;
    console.log(`# exec latency over 50 runs: median ${median.toFixed(1)} ms, min ${times[0].toFixed(1)} ms, max ${times[49].toFixed(1)} ms (NODE_EXTRA_CA_CERTS ${process.env.NODE_EXTRA_CA_CERTS ? 'set' : 'unset'})`);
    assert.ok(median < 500, `median ${median} ms`);
  });

  test('CLI: niwa exec NAME -- CMD finds the container through its state files', async () => {
    const c = await start('cli', box());
    running.push(c);
    const cdir = join(state, project, 'cli');
    mkdirSync(cdir, { recursive: true });
    writeFileSync(join(cdir, 'state.json'), JSON.stringify({ version: 1, name: 'cli', project, status: 'running', pid: c.pid, cgroups: c.plan.cgroups, specFile: c.spec.file }));
    writeFileSync(join(cdir, 'plan.json'), JSON.stringify(c.plan));
    const cli = (args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', join(repoRoot, 'test', 'cli-src.ts'), ...args], {
      encoding: 'utf8', cwd: repoRoot, timeout: 30_000, env: { ...process.env, NIWA_STATE_ROOT: state },
    });
    const r = cli(['exec', '--project', project, '-e', 'X=42', '-w', '/tmp', 'cli', '--', '/bin/sh', '-c', 'hostname; echo $X; pwd; exit 3']);
    assert.equal(r.status, 3, r.stderr);
    assert.deepEqual(r.stdout.trim().split('\n'), ['exec-box', '42', '/tmp']);
    const u = cli(['exec', '--project', project, '-u', 'nobody', 'cli', '--', 'id', '-un']);
    assert.equal(u.stdout.trim(), 'nobody', u.stderr);
    const none = cli(['exec', '--project', project, 'no-such', '--', 'true']);
    assert.equal(none.status, 125, 'exec\'s own failure is Docker\'s 125');
    assert.match(none.stderr, /no container 'no-such'/);
  });
});
