// Top-level volume driver_opts of the local driver: `type: none, o: bind, device: PATH` makes the
// volume that host directory; `type: tmpfs, o: size=…` a tmpfs. `down -v` unmounts them and never
// reaches into the bound directory.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { niwa, needsRoot, needsStage } from '../helpers.js';

const skip = needsRoot() || needsStage();
const dir = skip ? '' : mkdtempSync(join(tmpdir(), 'niwa-vols-'));
const project = `vo${process.pid}`;
const env = () => ({ ...process.env, NIWA_STATE_ROOT: join(dir, 'state'), NIWA_DATA_ROOT: join(dir, 'data') });
const compose = (args: string[]) => niwa(['compose', '-f', join(dir, 'compose.yaml'), '-p', project, ...args], { env: env(), timeout: 90_000 });
const mounts = () => readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes(dir));

after(() => {
  if (!dir) return;
  compose(['down', '-v', '-t', '1']);
  rmSync(dir, { recursive: true, force: true });
});

test('volume driver_opts: a bound host directory and a sized tmpfs; down -v unmounts and keeps the host data', { skip, timeout: 120_000 }, () => {
  chmodSync(dir, 0o755);
  const host = join(dir, 'hostdata');
  mkdirSync(host);
  writeFileSync(join(host, 'keep.txt'), 'from the host\n');
  writeFileSync(join(dir, 'compose.yaml'), [
    'services:',
    '  app:',
    '    command: ["sleep", "60"]',
    '    volumes: ["bound:/bound", "scratch:/scratch"]',
    'volumes:',
    `  bound: { driver_opts: { type: none, o: bind, device: ${host} } }`,
    '  scratch: { driver_opts: { type: tmpfs, device: tmpfs, o: "size=8m" } }',
    '',
  ].join('\n'));
  const up = compose(['up', '-d']);
  assert.equal(up.status, 0, up.stderr);
  const r = compose(['exec', 'app', '/bin/sh', '-c', 'cat /bound/keep.txt; echo new > /bound/made.txt; df -k /scratch | tail -1']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^from the host$/m);
  assert.match(r.stdout, /\s8192\s/, 'an 8 MiB tmpfs');
  assert.equal(readFileSync(join(host, 'made.txt'), 'utf8'), 'new\n', 'written through to the host directory');
  const d = compose(['down', '-v', '-t', '1']);
  assert.equal(d.status, 0, d.stderr);
  assert.deepEqual(mounts(), [], 'nothing left mounted');
  assert.ok(existsSync(join(host, 'keep.txt')) && existsSync(join(host, 'made.txt')), 'the host data is kept');
});
