// Haconiwa's barn: several containers in one TypeScript file outside the repository (builders and
// plain specs, imported from 'niwa'), brought up in dependency order by `niwa up FILE` on the
// compose engine and removed by `niwa down FILE`.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { niwa, needsRoot, needsStage } from '../helpers.js';

const skip = needsRoot() || needsStage();
const project = `barn-${process.pid}`;
const dir = mkdtempSync(join(tmpdir(), 'niwa-barn-'));
chmodSync(dir, 0o755);
const env = { ...process.env, NIWA_STATE_ROOT: join(dir, 'state'), NIWA_DATA_ROOT: join(dir, 'data') };
const cgroupsLeft = () => readdirSync('/sys/fs/cgroup').filter((c) => existsSync(join('/sys/fs/cgroup', c, 'niwa', project)));

after(() => {
  niwa(['down', join(dir, 'barn.ts')], { env });
  rmSync(dir, { recursive: true, force: true });
});

test('niwa up FILE runs a TS barn (a builder and a plain spec, depends_on) and niwa down FILE removes it', { skip, timeout: 90_000 }, () => {
  writeFileSync(join(dir, 'barn.ts'), `import { container, defineCompose } from 'niwa';

export default defineCompose({
  name: '${project}',
  services: {
    db: container('db').unshare('mount', 'uts', 'pid').hostname('db-box').annotate('niwa.intended', 'host-net')
      .command('/bin/sh', '-c', 'echo "db ready on $(hostname)"'),
    web: {
      namespaces: ['mount', 'uts', 'pid'],
      hostname: 'web-box',
      annotations: { 'niwa.intended': 'host-net' },
      process: { args: ['/bin/sh', '-c', 'echo "web on $(hostname), pid $$"'] },
      depends_on: { db: { condition: 'service_completed_successfully' } },
    },
  },
});
`);
  const up = niwa(['up', join(dir, 'barn.ts'), '--progress', 'plain'], { env });
  assert.equal(up.status, 0, up.stdout + up.stderr);
  const out = up.stdout + up.stderr;
  const db = out.indexOf('db-1  | db ready on db-box');
  const web = out.indexOf('web-1 | web on web-box, pid 1');
  assert.ok(db >= 0 && web >= 0, out);
  assert.ok(db < web, 'web starts after db completed');
  const down = niwa(['down', join(dir, 'barn.ts')], { env });
  assert.equal(down.status, 0, down.stderr);
  assert.match(down.stdout + down.stderr, /web-1: removed/);
  assert.deepEqual(cgroupsLeft(), []);
  assert.equal(niwa(['up'], { env }).status, 2, 'no FILE: a usage error');
});
