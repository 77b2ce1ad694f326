// Attack: a local unprivileged user (uid 65534, no groups) reads niwa's state. spec.json and
// plan.json hold the container's environment (secrets), the logs hold what it prints, compose writes
// secrets given by value to files, and the supervisor socket controls every container of a project.
// None of it may be readable or reachable; only the state root stays traversable, for the default
// root's mount point.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { niwa, needsRoot, needsStage } from '../helpers.js';
import { tryRequest } from '../../src/runtime/supervisor/client.js';

const hasSetpriv = spawnSync('setpriv', ['--version']).status === 0;
const skip = needsRoot() || needsStage() || (!hasSetpriv && 'no setpriv(1) (util-linux) to act as an unprivileged user');
const P = `sec-state-${process.pid.toString(36)}`;
const SECRET = `hunter2-${process.pid}`;
let dir = '';
let state = '';
let data = '';

const env = () => ({ ...process.env, NIWA_STATE_ROOT: state, NIWA_DATA_ROOT: data, TOKEN_VALUE: SECRET, NIWA_SUPERVISOR_IDLE_MS: '300' });

before(() => {
  if (skip) return;
  dir = mkdtempSync(join(tmpdir(), 'niwa-sec-state-'));
  chmodSync(dir, 0o755); // like /run: anyone may pass through to niwa's state root
  state = join(dir, 'state');
  data = join(dir, 'data');
  mkdirSync(data, { mode: 0o755 });
});
after(async () => {
  if (!dir) return;
  niwa(['rm', '--project', P, '-f', 'vault'], { env: env() });
  niwa(['compose', '-f', join(dir, 'compose.yaml'), '-p', `${P}-c`, 'down', '-v', '-t', '0'], { env: env() });
  for (const p of [P, `${P}-c`]) await tryRequest({ root: state, project: p }, { op: 'shutdown' }).catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
});

/** Runs argv as uid/gid 65534 with no supplementary groups. */
function asNobody(argv: string[]) {
  const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '--', ...argv], { encoding: 'utf8', timeout: 10_000 });
  return { status: r.status, out: r.stdout + r.stderr };
}

/** Every path under `root` (inclusive) with its permission bits. */
function walk(root: string): [string, number, boolean][] {
  const st = statSync(root);
  const me: [string, number, boolean] = [root, st.mode & 0o7777, st.isDirectory()];
  if (!st.isDirectory()) return [me];
  return [me, ...readdirSync(root).flatMap((n) => walk(join(root, n)))];
}

test('a running container\'s spec, plan, state, logs and supervisor are closed to other users', { skip }, () => {
  const file = join(dir, 'vault.container.yaml');
  writeFileSync(file, `name: vault\nprocess:\n  env: {API_TOKEN: ${SECRET}}\n  args: [/bin/sh, -c, 'echo "log says $API_TOKEN"; exec sleep 60']\n`);
  const r = niwa(['run', '--project', P, '-d', file], { env: env() });
  assert.equal(r.status, 0, r.stderr);
  const proj = join(state, P);
  const cdir = join(proj, 'vault');
  for (let i = 0; i < 100 && !(existsSync(join(cdir, 'container.log')) && readFileSync(join(cdir, 'container.log'), 'utf8').includes(SECRET)); i++) spawnSync('sleep', ['0.05']);
  assert.match(readFileSync(join(cdir, 'spec.json'), 'utf8'), new RegExp(SECRET), 'the secret is in spec.json (so it must be protected)');

  // Modes: the root traversable only, everything below 0700 / 0600.
  assert.equal(statSync(state).mode & 0o777, 0o711);
  for (const [p, mode, isDir] of walk(proj)) {
    if (p.endsWith('.sock')) { assert.equal(mode & 0o077, 0, `${p} ${mode.toString(8)}`); continue; }
    assert.equal(mode & 0o077, 0, `${p} is ${mode.toString(8)}: no access for group or others`);
    if (isDir) assert.equal(mode, 0o700, p);
  }

  // The attack, as uid 65534.
  for (const f of ['spec.json', 'plan.json', 'state.json', 'container.log', 'exit.status'].map((n) => join(cdir, n)).concat(join(proj, '_supervisor.log'), join(proj, '_supervisor.json'))) {
    const a = asNobody(['cat', f]);
    assert.notEqual(a.status, 0, `nobody read ${f}`);
    assert.doesNotMatch(a.out, new RegExp(SECRET));
  }
  for (const d of [state, proj, cdir]) assert.notEqual(asNobody(['ls', d]).status, 0, `nobody listed ${d}`);
  const sock = asNobody(['python3', '-c', `import socket,sys\ns=socket.socket(socket.AF_UNIX)\ntry:\n  s.connect(${JSON.stringify(join(proj, '_supervisor.sock'))}); print('connected')\nexcept OSError as e:\n  print(e.strerror); sys.exit(1)`]);
  assert.notEqual(sock.status, 0, `nobody reached the supervisor socket: ${sock.out}`);
  assert.match(sock.out, /Permission denied|No such file/);
  // `niwa logs` and `niwa ps` as nobody get nothing either.
  const logs = asNobody([process.execPath, join(process.cwd(), 'bin', 'niwa.js'), 'logs', '--project', P, 'vault']);
  assert.doesNotMatch(logs.out, new RegExp(SECRET));

  assert.equal(niwa(['rm', '--project', P, '-f', 'vault'], { env: env() }).status, 0);
});

test('compose secrets given by value are root-only files in root-only directories', { skip }, () => {
  writeFileSync(join(dir, 'compose.yaml'), [
    'services:',
    '  app:',
    '    command: [/bin/sh, -c, "cat /run/secrets/token; sleep 60"]',
    '    secrets: [token]',
    'secrets:',
    '  token: {environment: TOKEN_VALUE}',
  ].join('\n') + '\n');
  const r = niwa(['compose', '-f', join(dir, 'compose.yaml'), '-p', `${P}-c`, 'up', '-d'], { env: env(), timeout: 90_000 });
  assert.equal(r.status, 0, r.stderr);
  const file = join(data, 'secrets', `${P}-c`, 'token');
  assert.equal(readFileSync(file, 'utf8'), SECRET);
  assert.equal(statSync(file).mode & 0o777, 0o600);
  assert.equal(statSync(join(data, 'secrets', `${P}-c`)).mode & 0o777, 0o700);
  const a = asNobody(['cat', file]);
  assert.notEqual(a.status, 0);
  assert.doesNotMatch(a.out, new RegExp(SECRET));
  assert.equal(niwa(['compose', '-f', join(dir, 'compose.yaml'), '-p', `${P}-c`, 'down', '-v', '-t', '0'], { env: env(), timeout: 90_000 }).status, 0);
});
