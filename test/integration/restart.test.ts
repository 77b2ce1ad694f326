// `niwa restart` and one-shot `niwa stats` on a detached container: a new run (new pid, new
// cgroup id, same name) from the stored spec, limits read back from the cgroup, nothing left after rm.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { niwa, needsRoot, needsStage } from '../helpers.js';

const skip = needsRoot() || needsStage();
const dir = skip ? '' : mkdtempSync(join(tmpdir(), 'niwa-restart-'));
const project = `rst${process.pid}`;
const env = { ...process.env, NIWA_STATE_ROOT: join(dir, 'state') };
const cli = (args: string[]) => niwa([...args, '--project', project], { env });
const cgroupsLeft = () => readdirSync('/sys/fs/cgroup').filter((c) => existsSync(join('/sys/fs/cgroup', c, 'niwa', project)) && readdirSync(join('/sys/fs/cgroup', c, 'niwa', project)).length > 0);

after(() => {
  if (!dir) return;
  cli(['rm', '-f', 'w']);
  rmSync(dir, { recursive: true, force: true });
});

test('restart runs the container again from its spec; stats reads its cgroup', { skip, timeout: 60_000 }, () => {
  chmodSync(dir, 0o755);
  const spec = join(dir, 'w.container.yaml');
  writeFileSync(spec, 'name: w\nhostname: w-box\nstop_grace_period: 1s\ncgroup: {memory: 48M, pids: 32}\nprocess: {args: [/bin/sh, -c, "echo run on $(hostname); trap \\"exit 0\\" TERM; while :; do sleep 0.2; done"]}\n');
  const r = niwa(['run', '-d', '--project', project, spec], { env });
  assert.equal(r.status, 0, r.stderr);
  const before = JSON.parse(cli(['ps', '--json']).stdout)[0];
  const stats = JSON.parse(cli(['stats', '--json', '--no-stream']).stdout)[0];
  assert.equal(stats.name, 'w');
  assert.equal(stats.memory.limit, 48 * 1024 * 1024);
  assert.equal(stats.pids.limit, 32);
  const rs = cli(['restart', 'w']);
  assert.equal(rs.status, 0, rs.stderr);
  const now = JSON.parse(cli(['ps', '--json']).stdout)[0];
  assert.equal(now.name, 'w');
  assert.equal(now.status, 'running');
  assert.notEqual(now.pid, before.pid);
  assert.notEqual(now.id, before.id);
  const logs = cli(['logs', 'w']);
  assert.match(logs.stdout, /run on w-box/);
  assert.equal(cli(['rm', '-f', 'w']).status, 0);
  assert.deepEqual(cgroupsLeft(), []);
});

test('ps -a lists the containers of every project, with their project', { skip, timeout: 60_000 }, () => {
  const spec = join(dir, 'a.container.yaml');
  writeFileSync(spec, 'name: a\nstop_grace_period: 1s\nprocess: {args: [/bin/sh, -c, "trap \\"exit 0\\" TERM; while :; do sleep 0.2; done"]}\n');
  const other = `${project}b`;
  try {
    assert.equal(niwa(['run', '-d', '--project', project, spec], { env }).status, 0);
    assert.equal(niwa(['run', '-d', '--project', other, spec], { env }).status, 0);
    const rows = JSON.parse(niwa(['ps', '-a', '--json'], { env }).stdout) as { project: string; name: string; status: string }[];
    assert.deepEqual(rows.map((r) => `${r.project}/${r.name}:${r.status}`).sort(), [`${project}/a:running`, `${other}/a:running`].sort());
    assert.match(niwa(['ps', '--all'], { env }).stdout, /^PROJECT\s+NAME/);
  } finally {
    niwa(['rm', '-f', 'a', '--project', project], { env });
    niwa(['rm', '-f', 'a', '--project', other], { env });
  }
});
