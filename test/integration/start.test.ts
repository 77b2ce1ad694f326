// `niwa start [-a] NAME`: a stopped container runs again from its spec (a new pid, the same name);
// `-a` attaches and passes the new run's exit status through, as `docker start -a` does; niwa's
// own failure (no such container) is 125 under -a.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { niwa, needsRoot, needsStage, until } from '../helpers.js';
import { tryRequest } from '../../src/runtime/supervisor/client.js';

const skip = needsRoot() || needsStage();
const dir = skip ? '' : mkdtempSync(join(tmpdir(), 'niwa-start-'));
if (dir) chmodSync(dir, 0o755);
const state = join(dir, 'state');
const env = { ...process.env, NIWA_STATE_ROOT: state };
const p = `st${process.pid}`;
after(async () => {
  if (!dir) return;
  for (const n of existsSync(join(state, p)) ? readdirSync(join(state, p)).filter((x) => !x.startsWith('_')) : []) niwa(['rm', '-f', '--project', p, n], { env });
  await tryRequest({ root: state, project: p }, { op: 'shutdown' }).catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
});

test('start runs a stopped container again; start -a passes its exit status through', { skip, timeout: 90_000 }, async () => {
  // The container counts its runs in a bind-mounted host file: each start is a new run of the same spec.
  const data = join(dir, 'data');
  mkdirSync(data);
  const script = 'echo run >> /data/runs; echo "pid $$ out"; echo "to err" >&2; exit $(wc -l < /data/runs)';
  const r = niwa(['run', '-d', '--project', p, '--name', 'job', '--ns', 'pid,uts,mount,ipc', '-v', `${data}:/data`, '--', '/bin/sh', '-c', script], { env });
  assert.equal(r.status, 0, r.stderr);
  const status = () => niwa(['ps', '-a', '--project', p], { env }).stdout;
  await until('the first run to exit', () => /exited\(1\)/.test(status()));
  assert.match(status(), /job\s+\S+\s+exited\(1\)/, 'the first run exited 1');

  const a = niwa(['start', '-a', '--project', p, 'job'], { env });
  assert.equal(a.status, 2, `start -a returns the second run's status\n${a.stderr}`);
  assert.match(a.stdout, /^pid 1 out$/m, 'the attached output is the new run\'s (pid 1 of its pid namespace)');
  assert.match(a.stderr, /^to err$/m);
  assert.match(status(), /exited\(2\)/);

  const s = niwa(['start', '--project', p, 'job'], { env });
  assert.equal(s.status, 0, s.stderr);
  await until('the third run to exit', () => /exited\(3\)/.test(status()));
  assert.match(status(), /exited\(3\)/, 'plain start runs it once more');

  const missing = niwa(['start', '-a', '--project', p, 'nope'], { env });
  assert.equal(missing.status, 125, 'niwa\'s own failure under start -a is 125');
  assert.match(missing.stderr, /no container 'nope'/);
  assert.equal(niwa(['rm', '--project', p, 'job'], { env }).status, 0);
});

test('run -d --rm: the supervisor removes the container once it has ended (state, cgroup and all)', { skip, timeout: 60_000 }, async () => {
  const r = niwa(['run', '-d', '--rm', '--project', p, '--name', 'gone', '--ns', 'pid,uts,mount,ipc', '--', '/bin/sh', '-c', 'echo bye; sleep 0.5; exit 3'], { env });
  assert.equal(r.status, 0, r.stderr);
  const id = r.stdout.trim();
  assert.match(niwa(['ps', '-a', '--project', p], { env }).stdout, /gone\s+gone-/, 'listed while it runs');
  const cgroups = () => readdirSync('/sys/fs/cgroup').filter((c) => existsSync(join('/sys/fs/cgroup', c, 'niwa', p, id)));
  await until('the supervisor to remove it', () => !existsSync(join(state, p, 'gone')));
  assert.equal(existsSync(join(state, p, 'gone')), false, 'its state directory is gone');
  assert.doesNotMatch(niwa(['ps', '-a', '--project', p], { env }).stdout, /gone/, 'ps -a no longer lists it');
  assert.deepEqual(cgroups(), [], 'no cgroup of it is left');
});
