// `compose up` again: a service whose configuration is unchanged keeps running (same pid); one
// whose configuration changed (here through an interpolated variable) is recreated.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { niwa, needsRoot, needsStage } from '../helpers.js';

const skip = needsRoot() || needsStage();
const dir = skip ? '' : mkdtempSync(join(tmpdir(), 'niwa-recreate-'));
const project = `rc${process.pid}`;
const env = (msg: string) => ({ ...process.env, NIWA_STATE_ROOT: join(dir, 'state'), NIWA_DATA_ROOT: join(dir, 'data'), MSG: msg });
const compose = (msg: string, args: string[]) => niwa(['compose', '-f', join(dir, 'compose.yaml'), '-p', project, ...args], { env: env(msg) });
const pidOf = (msg: string) => (JSON.parse(compose(msg, ['ps', '--json']).stdout) as { name: string; pid: number }[]).find((c) => c.name === 'app-1')?.pid;

after(() => {
  if (!dir) return;
  compose('x', ['down', '-v', '-t', '1']);
  rmSync(dir, { recursive: true, force: true });
});

test('up again: unchanged services keep running, changed ones are recreated', { skip, timeout: 90_000 }, () => {
  chmodSync(dir, 0o755);
  writeFileSync(join(dir, 'compose.yaml'), 'services:\n  app:\n    command: ["/bin/sh", "-c", "echo msg=$$MSG; trap \\"exit 0\\" TERM; while :; do sleep 0.2; done"]\n    environment:\n      MSG: ${MSG}\n    stop_grace_period: 1s\n');
  let r = compose('one', ['up', '-d']);
  assert.equal(r.status, 0, r.stderr);
  const first = pidOf('one');
  assert.ok(first);
  r = compose('one', ['up', '-d']);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(pidOf('one'), first, 'unchanged: the same process');
  r = compose('two', ['up', '-d']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout + r.stderr, /configuration changed: recreating/);
  const second = pidOf('two');
  assert.ok(second && second !== first, 'changed: a new process');
  assert.match(compose('two', ['logs', 'app']).stdout, /msg=two/);
  assert.equal(compose('two', ['down', '-t', '1']).status, 0);
  const left = readdirSync('/sys/fs/cgroup').filter((c) => existsSync(join('/sys/fs/cgroup', c, 'niwa', project)) && readdirSync(join('/sys/fs/cgroup', c, 'niwa', project)).length > 0);
  assert.deepEqual(left, []);
});
