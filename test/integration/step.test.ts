// `niwa run --step` with a scripted stdin: the launch really waits at each pause (checked from
// the host with the PID it prints: the hostname is not set yet after clone, capabilities are
// dropped but no_new_privs is not yet set before execve), goes on at Enter, and cleans up.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { needsRoot, needsStage, niwaBin, repoRoot } from '../helpers.js';

const skip = needsRoot() || needsStage();
const project = `step-test-${process.pid}`;
let dir = '';

before(() => {
  if (skip) return;
  dir = mkdtempSync(join(tmpdir(), 'niwa-step-test-'));
  chmodSync(dir, 0o755);
});
after(() => { if (dir) rmSync(dir, { recursive: true, force: true }); });

const status = (pid: number, key: string) => readFileSync(`/proc/${pid}/status`, 'utf8').match(new RegExp(`^${key}:\\s*(\\S+)`, 'm'))?.[1];
const utsHostname = (pid: number) => spawnSync('nsenter', ['-t', String(pid), '-u', 'hostname'], { encoding: 'utf8' }).stdout.trim();

test('--step pauses at each phase, shows the real PID and what to look at, and goes on at Enter', { skip, timeout: 60_000 }, async () => {
  const file = join(dir, 'step.container.yaml');
  writeFileSync(file, 'name: step\nnamespaces: [mount, uts, ipc, pid, net]\nhostname: step-box\ncapabilities: {drop: [CAP_NET_RAW]}\ncgroup: {pids: 16}\nprocess: {args: [/bin/sh, -c, "echo ran-$(hostname)"]}\n');
  const child = spawn(process.execPath, [niwaBin, 'run', '--step', '--project', project, file], {
    cwd: repoRoot, env: { ...process.env, NIWA_STATE_ROOT: join(dir, 'state') }, stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  let stdout = '';
  const seen: string[] = [];
  const checks: Record<string, () => void> = {
    before_fork: () => {
      assert.doesNotMatch(stderr.split('before_fork').pop()!, /container PID/, 'no process yet');
    },
    after_fork: () => {
      const pid = Number(/container PID on the host: (\d+)/.exec(stderr)![1]);
      assert.notEqual(readlinkSync(`/proc/${pid}/ns/uts`), readlinkSync('/proc/self/ns/uts'), 'already in its own uts namespace');
      assert.equal(utsHostname(pid), hostname(), 'sethostname has not run yet: the child really waits');
      assert.match(readFileSync(`/proc/${pid}/cgroup`, 'utf8'), new RegExp(`pids:/niwa/${project}/step-`), 'placed in its cgroup');
      assert.match(stderr, new RegExp(`ls -l /proc/${pid}/ns`), 'tells how to look, with the real PID');
    },
    before_start: () => {
      const pid = Number(/container PID on the host: (\d+)/.exec(stderr)![1]);
      assert.equal(utsHostname(pid), 'step-box');
      assert.equal(BigInt('0x' + status(pid, 'CapBnd')) & (1n << 13n), 0n, 'CAP_NET_RAW is out of the bounding set');
      assert.equal(status(pid, 'NoNewPrivs'), '0', 'no_new_privs comes after this pause');
      assert.match(stderr, /\[\d+\] prctl\(PR_SET_NO_NEW_PRIVS, 1\)/, 'next steps listed');
    },
    teardown: () => {
      // The program has exited: no command on its pid is suggested any more.
      const pid = Number(/container PID on the host: (\d+)/.exec(stderr)![1]);
      const last = stderr.split('niwa --step: teardown').pop()!;
      assert.doesNotMatch(last, new RegExp(`/proc/${pid}\\b`), 'no /proc/PID command for an exited pid');
      assert.doesNotMatch(last, /container PID on the host/);
      assert.match(last, new RegExp(`PID ${pid}\\) has exited`));
    },
  };
  const errors: unknown[] = [];
  child.stdout.on('data', (d) => { stdout += d; });
  child.stderr.on('data', (d) => {
    stderr += d;
    const m = [...stderr.matchAll(/niwa --step: (\w+)[^\n]*\n(?:.*\n)*?press Enter to (?:continue|finish)\n/g)];
    while (seen.length < m.length) {
      const point = m[seen.length][1];
      seen.push(point);
      try { checks[point]?.(); } catch (e) { errors.push(e); }
      child.stdin.write('\n');
    }
  });
  const code = await new Promise<number | null>((res) => child.on('exit', (c) => res(c)));
  if (errors.length) throw errors[0];
  assert.equal(code, 0, stderr);
  assert.deepEqual(seen, ['before_fork', 'after_fork', 'before_chroot', 'after_chroot', 'before_start', 'teardown']);
  assert.equal(stdout.trim(), 'ran-step-box');
  for (const h of readdirSync('/sys/fs/cgroup')) assert.equal(existsSync(join('/sys/fs/cgroup', h, 'niwa', project)), false, `no cgroup left in ${h}`);
});

test('--step without input goes on (EOF) and still runs the container', { skip, timeout: 60_000 }, () => {
  const file = join(dir, 'eof.container.yaml');
  writeFileSync(file, 'name: eof\nprocess: {args: [/bin/echo, done]}\n');
  const r = spawnSync(process.execPath, [niwaBin, 'run', '--step', '--project', project, file], {
    cwd: repoRoot, env: { ...process.env, NIWA_STATE_ROOT: join(dir, 'state') }, input: '', encoding: 'utf8', timeout: 30_000,
  });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'done');
  assert.match(r.stderr, /no more input: continuing without pauses/);
});
