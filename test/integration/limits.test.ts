// Resource limits through `niwa run`, checked from inside the container: the OOM killer is
// reported, a fork loop stops at the pids limit, a CPU quota holds, cpuset pins the process.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { niwa, needsRoot, needsStage, type CliResult } from '../helpers.js';

const skip = needsRoot() || needsStage();
let dir = '';
before(() => {
  if (skip) return;
  dir = mkdtempSync(join(tmpdir(), 'niwa-limits-'));
  chmodSync(dir, 0o755);
});
after(() => { if (dir) rmSync(dir, { recursive: true, force: true }); });

const leftovers = () => readdirSync('/sys/fs/cgroup').filter((c) => existsSync(join('/sys/fs/cgroup', c, 'niwa', 'limits')));

function run(name: string, yaml: string): CliResult {
  const file = join(dir, `${name}.container.yaml`);
  writeFileSync(file, `name: ${name}\n${yaml}`);
  const r = niwa(['run', '--project', 'limits', file], { env: { ...process.env, NIWA_STATE_ROOT: join(dir, 'state') } });
  assert.deepEqual(leftovers(), [], 'no niwa cgroup left behind');
  return r;
}
const perl = (code: string) => `process:\n  args: [/usr/bin/perl, -e, ${JSON.stringify(code)}]\n`;

test('memory: allocating past the limit is OOM-killed and niwa says so', { skip }, () => {
  const r = run('oom', `cgroup: {memory: 32M}\n${perl('my $x = "a" x (256 * 1024 * 1024); print "survived\\n";')}`);
  assert.equal(r.status, 137, r.stderr);
  assert.doesNotMatch(r.stdout, /survived/);
  assert.match(r.stderr, /killed by the OOM killer/);
});

test('pids: a fork loop stops at the limit', { skip }, () => {
  const r = run('pids', `cgroup: {pids: 20}\n${perl('my $n = 0; for (1..200) { my $p = fork(); last unless defined $p; if (!$p) { sleep 5; exit 0 } $n++ } print "forked=$n\\n";')}`);
  assert.equal(r.status, 0, r.stderr);
  const n = Number(r.stdout.match(/forked=(\d+)/)?.[1]);
  assert.ok(n >= 15 && n < 20, `forks stopped at the limit (got ${n})`);
});

test('cpus: a quota of 0.2 holds a busy loop near 20 %', { skip }, () => {
  const r = run('cpu', `cgroup: {cpus: 0.2}\n${perl('my $e = time + 2; 1 while time < $e; my @t = times; printf "cpu=%.2f\\n", $t[0] + $t[1];')}`);
  assert.equal(r.status, 0, r.stderr);
  const cpu = Number(r.stdout.match(/cpu=([\d.]+)/)?.[1]);
  // Over ~2 s of wall time (up to 3 with the integer clock), 20 % is 0.4-0.6 s of CPU; unlimited would be ~2-3 s.
  assert.ok(cpu > 0.2 && cpu < 0.9, `cpu seconds ${cpu}`);
});

test('cpuset: the process is pinned to the chosen CPU', { skip }, () => {
  const r = run('cpuset', `cgroup: {cpuset_cpus: "1"}\nprocess:\n  args: [/bin/sh, -c, 'grep Cpus_allowed_list /proc/self/status']\n`);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /Cpus_allowed_list:\s+1$/m);
});
