// `niwa run IMAGE` (issue 15): a positional that is not a spec file is an image reference; the
// image's config gives the command, Docker's options apply over it (-e over Env, --entrypoint over
// Entrypoint, -- over Cmd, -u, -w, --read-only). The image is imported from an OCI layout built here,
// so no registry is needed. Own state and data roots; nothing is left behind.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { niwa, needsRoot, needsStage } from '../helpers.js';
import { shellImageEntries, writeOciLayout } from '../image-fixtures.js';

const skip = needsRoot() || needsStage();
let work = '';
const project = `di${process.pid}`;
const env = () => ({ ...process.env, NIWA_STATE_ROOT: join(work, 'state'), NIWA_DATA_ROOT: join(work, 'data') });
const IMAGE = 'test/docker-habits:1';

before(async () => {
  if (skip) return;
  work = mkdtempSync(join(tmpdir(), 'niwa-docker-img-'));
  chmodSync(work, 0o711);
  mkdirSync(join(work, 'state'));
  const layout = await writeOciLayout(join(work, 'layout'), {
    layers: [[...shellImageEntries(), { name: 'srv/', type: 'dir' }, { name: 'srv/greeting', content: 'hello from the image\n' }]],
    config: { Entrypoint: ['/bin/sh', '-c'], Cmd: ['echo "cmd of the image: $FROM_IMAGE in $(pwd)"'], Env: ['FROM_IMAGE=image-env', 'PATH=/usr/bin:/bin'], WorkingDir: '/srv' },
    tag: '1',
  });
  const r = niwa(['image', 'import', layout.dir, IMAGE], { env: env() });
  assert.equal(r.status, 0, r.stderr);
});
after(() => { if (work) rmSync(work, { recursive: true, force: true }); });

const run = (...args: string[]) => niwa(['run', '--project', project, '--pull', 'never', ...args], { env: env(), timeout: 60_000 });
const ok = (r: { status: number; stdout: string; stderr: string }) => { assert.equal(r.status, 0, r.stderr); return r.stdout; };

test('niwa run IMAGE runs the image\'s command; options apply over its config', { skip, timeout: 120_000 }, () => {
  assert.equal(ok(run(IMAGE)).trim(), 'cmd of the image: image-env in /srv');
  assert.equal(ok(run('-e', 'FROM_IMAGE=flag', '-w', '/', IMAGE)).trim(), 'cmd of the image: flag in /', '-e over Env, -w over WorkingDir');
  assert.equal(ok(run(IMAGE, '--', 'cat /srv/greeting')).trim(), 'hello from the image', '-- replaces Cmd, keeps the Entrypoint');
  assert.equal(ok(run('--entrypoint', '/bin/cat', IMAGE, '--', '/srv/greeting')).trim(), 'hello from the image', '--entrypoint replaces the Entrypoint');
  const ro = run('--read-only', '-u', '65534:65534', IMAGE, '--', 'id -u; (echo x > /srv/x) 2>/dev/null || echo refused');
  assert.deepEqual(ok(ro).trim().split('\n'), ['65534', 'refused']);
  // plan shows the image and the options together
  const plan = ok(niwa(['plan', '--pull', 'never', '--memory', '32m', IMAGE], { env: env() }));
  assert.match(plan, /\[cgroup\.memory ← --memory\]/);
  assert.match(plan, /test\/docker-habits:1/);
  // not in the store, --pull never: a clear niwa error, 125
  const missing = run('test/not-there:1');
  assert.equal(missing.status, 125);
  assert.match(missing.stderr, /test\/not-there:1 is not in the local store/);
  assert.doesNotMatch(missing.stderr, /internal error/);
  assert.deepEqual(existsSync(join(work, 'data', 'containers')) ? readdirSync(join(work, 'data', 'containers')) : [], [], 'no container directory left');
  assert.doesNotMatch(readFileSync('/proc/self/mountinfo', 'utf8'), new RegExp(work.replace(/[.*+?^${}()|[\]\\]/g, '\\$&') + '/data/containers'));
});
