// What a compose project keeps so that verbs work without its file, end to end with the real CLI and
// kernel: `compose create` makes the containers (status created, nothing runs in their cgroups) and
// `compose start` starts them; after `stop`, `compose start -p NAME` and `compose restart -p NAME`
// from a directory with no compose file start the services again from the steps stored when their
// plan was applied (networks restored: they reach each other by name); `down` without -v keeps the
// steps that remove volumes, so `down -v -p NAME` with no file removes the named volume.
// Own state and data roots; `after` removes every trace.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { niwa, needsRoot, needsStage, type CliResult } from '../helpers.js';
import { cgroupsLeft } from './running.js';
import { tryRequest } from '../../src/runtime/supervisor/client.js';
import { removeProjectNetworks } from '../../src/runtime/net/attach.js';

const skip = needsRoot() || needsStage();
const dir = skip ? '' : mkdtempSync(join(tmpdir(), 'niwa-stored-'));
const state = join(dir, 'state');
const data = join(dir, 'data');
const empty = join(dir, 'empty');
const env = () => ({ ...process.env, NIWA_STATE_ROOT: state, NIWA_DATA_ROOT: data, NIWA_SUPERVISOR_IDLE_MS: '300' });
const projects: string[] = [];
const file = (p: string) => join(dir, p, 'compose.yaml');
const compose = (p: string, args: string[]): CliResult => niwa(['compose', '-f', file(p), '-p', p, ...args], { env: env(), timeout: 120_000 });
/** From a directory with no compose file: only -p names the project. */
const bare = (p: string, args: string[]): CliResult => niwa(['compose', '-p', p, ...args], { env: env(), timeout: 120_000, cwd: empty });
const ok = (r: CliResult) => { assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`); return r; };
const loop = (name: string) => `  ${name}:\n    command: ["/bin/sh", "-c", "trap 'exit 0' TERM; while :; do sleep 0.2; done"]\n    stop_grace_period: 1s\n`;

function write(p: string, text: string): void {
  mkdirSync(join(dir, p), { recursive: true });
  writeFileSync(file(p), text);
  projects.push(p);
}

const ps = (p: string, all = true) => JSON.parse(ok(bare(p, ['ps', ...(all ? ['-a'] : []), '--json'])).stdout) as { name: string; state: string; status: string }[];
const stateOf = (p: string, name: string) => JSON.parse(readFileSync(join(state, p, name, 'state.json'), 'utf8')) as { status: string; cgroups: string[] };
/** Processes in a container's cgroups (none when they do not exist). */
const cgroupProcs = (p: string, name: string) => stateOf(p, name).cgroups.flatMap((cg) => { try { return readFileSync(join(cg, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean); } catch { return []; } });

/** Nothing of project `p` is left: state, cgroups, leases, netns and hosts files. */
function nothingLeft(p: string): void {
  assert.ok(!existsSync(join(state, p)), `no state directory: ${existsSync(join(state, p)) ? readdirSync(join(state, p)).join(', ') : ''}`);
  assert.deepEqual(cgroupsLeft(p), [], 'no cgroup');
  const leases = existsSync(join(state, 'net', 'leases.json')) ? Object.keys((JSON.parse(readFileSync(join(state, 'net', 'leases.json'), 'utf8')) as { networks: object }).networks).filter((k) => k.startsWith(`${p}/`)) : [];
  assert.deepEqual(leases, [], 'no lease');
  for (const d of ['ns', 'hosts']) {
    const x = join(state, 'net', d, p);
    assert.ok(!existsSync(x) || readdirSync(x).length === 0, `no ${d} files`);
  }
}

after(async () => {
  if (!dir) return;
  for (const p of projects) {
    compose(p, ['down', '-v', '-t', '0']);
    await tryRequest({ root: state, project: p }, { op: 'shutdown' }).catch(() => undefined);
    await removeProjectNetworks({ stateRoot: state }, p).catch(() => undefined);
    for (const cg of cgroupsLeft(p)) spawnSync('find', [cg, '-depth', '-type', 'd', '-exec', 'rmdir', '{}', ';']);
  }
  rmSync(dir, { recursive: true, force: true });
});

const twoServices = ['services:', '  a:\n    command: ["python3", "-m", "http.server", "8000"]\n    hostname: alpha\n    stop_grace_period: 1s', loop('b') + '    depends_on: [a]', ''].join('\n');

test('compose create makes the containers (created, nothing runs); compose start starts them', { skip, timeout: 180_000 }, async () => {
  chmodSync(dir, 0o755);
  mkdirSync(empty, { recursive: true });
  const p = `cr${process.pid}`;
  write(p, twoServices);
  ok(compose(p, ['create']));
  const made = ps(p);
  assert.deepEqual(made.map((c) => [c.name, c.state]).sort(), [['a-1', 'created'], ['b-1', 'created']]);
  assert.deepEqual(ps(p, false).filter((c) => c.state === 'running'), [], 'nothing runs');
  for (const n of ['a-1', 'b-1']) assert.deepEqual(cgroupProcs(p, n), [], `no process in ${n}'s cgroup`);
  // a new supervisor (the first one went idle) neither rolls them back nor adopts them
  await new Promise((r) => setTimeout(r, 800));
  assert.deepEqual(ps(p).map((c) => c.state).sort(), ['created', 'created']);
  ok(compose(p, ['start']));
  assert.deepEqual(ps(p).map((c) => [c.name, c.state]).sort(), [['a-1', 'running'], ['b-1', 'running']]);
  const inside = ok(compose(p, ['exec', 'a', '/bin/sh', '-c', 'hostname; cat /proc/1/cmdline | tr "\\0" " "'])).stdout;
  assert.match(inside, /^alpha$/m);
  assert.match(inside, /http\.server 8000/, 'pid 1 is the service command');
  ok(compose(p, ['down', '-t', '1']));
  nothingLeft(p);
});

test('created containers: stop has nothing to stop, rm removes one without -s, down removes the rest', { skip, timeout: 120_000 }, () => {
  const p = `cd${process.pid}`;
  write(p, twoServices);
  ok(compose(p, ['create']));
  assert.equal(ps(p).length, 2);
  ok(bare(p, ['stop']));
  assert.deepEqual(ps(p).map((c) => c.state), ['created', 'created']);
  ok(bare(p, ['rm', 'b']));
  assert.deepEqual(ps(p).map((c) => c.name), ['a-1']);
  ok(bare(p, ['down', '-t', '1']));
  nothingLeft(p);
});

test('up -d, stop, then start -p NAME and restart -p NAME with no compose file: services run again and reach each other by name', { skip, timeout: 240_000 }, async () => {
  const p = `st${process.pid}`;
  write(p, twoServices);
  ok(compose(p, ['up', '-d']));
  ok(compose(p, ['stop', '-t', '1']));
  assert.deepEqual(ps(p).filter((c) => c.state === 'running'), []);
  ok(bare(p, ['start']));
  assert.deepEqual(ps(p).map((c) => [c.name, c.state]).sort(), [['a-1', 'running'], ['b-1', 'running']]);
  const reach = () => ok(bare(p, ['exec', 'b', 'python3', '-c', `import socket\nfor i in range(50):\n  try:\n    socket.create_connection(('a', 8000), 2); print('reached'); break\n  except OSError: __import__('time').sleep(0.1)\nprint(socket.gethostname())`])).stdout;
  const first = reach();
  assert.match(first, /^reached$/m);
  assert.match(first, /^b$/m);
  const pidBefore = ps(p).length && stateOf(p, 'a-1');
  ok(bare(p, ['restart', '-t', '1']));
  assert.deepEqual(ps(p).map((c) => [c.name, c.state]).sort(), [['a-1', 'running'], ['b-1', 'running']]);
  assert.notEqual(JSON.stringify(stateOf(p, 'a-1')), JSON.stringify(pidBefore), 'a new run');
  assert.match(reach(), /^reached$/m);
  // a service the project does not have is a clear error
  const bad = bare(p, ['start', 'nope']);
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /no such service: nope/);
  ok(bare(p, ['down', '-t', '1']));
  nothingLeft(p);
});

test('down without -v keeps the volume; down -v -p NAME with no compose file removes it', { skip, timeout: 180_000 }, () => {
  const p = `vo${process.pid}`;
  write(p, ['services:', loop('a') + '    volumes: [keep:/data]', 'volumes:', '  keep: {}', ''].join('\n'));
  ok(compose(p, ['up', '-d']));
  ok(compose(p, ['exec', 'a', '/bin/sh', '-c', 'echo hi > /data/f']));
  const vol = join(data, 'volumes', `${p}_keep`);
  assert.equal(readFileSync(join(vol, 'f'), 'utf8'), 'hi\n');
  ok(compose(p, ['down', '-t', '1']));
  assert.ok(existsSync(join(vol, 'f')), 'down without -v keeps the volume');
  ok(bare(p, ['down', '-v']));
  assert.ok(!existsSync(vol), 'the volume is gone');
  nothingLeft(p);
});
