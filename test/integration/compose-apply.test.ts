// The project engine runs inside the project's supervisor: a CLI killed (SIGKILL) in the middle of
// `compose up -d` does not leave the project half-made — the supervisor finishes the operation (all
// three services run, in dependency order) and lets the project's lock go; `down` then leaves
// nothing. `compose down -p NAME` with no compose file removes everything of a project (networks,
// a secret file) from the teardown the applied plans stored. A removed container leaves its
// networks through its plan's teardown steps (its veth and lease are gone, the others' /etc/hosts
// forget it). Stats come as events of the supervisor's stream.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { niwa, niwaBin, needsRoot, needsStage, repoRoot } from '../helpers.js';
import { bridgeName } from '../../src/runtime/net/names.js';
import { cgroupsLeft } from './running.js';

const skip = needsRoot() || needsStage();
const dir = skip ? '' : mkdtempSync(join(tmpdir(), 'niwa-apply-'));
const state = join(dir, 'state');
const env = () => ({ ...process.env, NIWA_STATE_ROOT: state, NIWA_DATA_ROOT: join(dir, 'data'), S1: 'sekrit' });
const file = (p: string) => join(dir, p, 'compose.yaml');
const compose = (p: string, args: string[], cwd?: string) => niwa(['compose', ...(cwd ? [] : ['-f', file(p)]), '-p', p, ...args], { env: env(), timeout: 120_000, ...(cwd ? { cwd } : {}) });
const loop = (name: string) => `  ${name}:\n    command: ["/bin/sh", "-c", "trap 'exit 0' TERM; while :; do sleep 0.2; done"]\n    stop_grace_period: 1s\n`;
const projects: string[] = [];

interface Leases { networks: Record<string, { leases: Record<string, { veth: string }> }> }
const leases = (): Leases => (existsSync(join(state, 'net', 'leases.json')) ? JSON.parse(readFileSync(join(state, 'net', 'leases.json'), 'utf8')) as Leases : { networks: {} });
const projectLeases = (p: string) => Object.keys(leases().networks).filter((k) => k.startsWith(`${p}/`));
const links = () => execFileSync('ip', ['-o', 'link'], { encoding: 'utf8' });
const until = async (what: string, f: () => boolean, ms = 60_000) => {
  const end = Date.now() + ms;
  while (!f()) { assert.ok(Date.now() < end, what); await new Promise((r) => setTimeout(r, 200)); }
};
const running = (p: string) => {
  const r = compose(p, ['ps', '--json']);
  return r.status === 0 ? (JSON.parse(r.stdout) as { name: string; state: string }[]).filter((x) => x.state === 'running').map((x) => x.name).sort() : [];
};

function write(p: string, text: string): void {
  mkdirSync(join(dir, p), { recursive: true });
  writeFileSync(file(p), text);
  projects.push(p);
}

/** Nothing of project `p` is left on the host: links of its bridges, leases, netns and hosts files, cgroups, state. */
function nothingLeft(p: string, networks: string[]): void {
  for (const n of networks) assert.ok(!links().includes(bridgeName(p, n)), `bridge of ${n} removed`);
  assert.deepEqual(projectLeases(p), [], 'no lease');
  for (const d of ['ns', 'hosts']) {
    const x = join(state, 'net', d, p);
    assert.ok(!existsSync(x) || readdirSync(x).length === 0, `no ${d} files: ${existsSync(x) ? readdirSync(x).join(', ') : ''}`);
  }
  assert.deepEqual(cgroupsLeft(p), [], 'no cgroup');
  assert.ok(!existsSync(join(state, p)), 'no state directory');
  assert.ok(!existsSync(join(state, '_locks', `${p}.lock`)), 'no lock');
}

after(() => {
  if (!dir) return;
  for (const p of projects) compose(p, ['down', '-v', '-t', '1'], dir);
  rmSync(dir, { recursive: true, force: true });
});

test('SIGKILL of the CLI during compose up -d: the supervisor finishes the operation; down leaves nothing', { skip, timeout: 180_000 }, async () => {
  chmodSync(dir, 0o755);
  const p = `ka${process.pid}`;
  // a is healthy only after a few seconds: the CLI is killed while the supervisor waits for it
  write(p, [
    'services:',
    loop('a') + '    healthcheck: { test: ["CMD-SHELL", "test -e /tmp/ready"], interval: 500ms, retries: 60 }\n    entrypoint: ["/bin/sh", "-c", "sleep 2; touch /tmp/ready; trap \'exit 0\' TERM; while :; do sleep 0.2; done"]',
    loop('b') + '    depends_on: { a: { condition: service_healthy } }',
    loop('c') + '    depends_on: [b]\n    networks: [default, back]',
    'networks:',
    '  back: {}',
    '',
  ].join('\n'));
  const cli = spawn(process.execPath, [niwaBin, 'compose', '-f', file(p), '-p', p, 'up', '-d'], { env: env(), cwd: repoRoot, stdio: 'ignore' });
  const exited = new Promise((r) => cli.on('exit', r));
  // the supervisor has the plan once it stored its teardown; a is started, b and c wait for it
  await until('the supervisor got the plan', () => existsSync(join(state, p, '_teardown.json')) && existsSync(join(state, p, 'a-1')));
  cli.kill('SIGKILL');
  await exited;
  assert.ok(!existsSync(join(state, p, 'c-1')), 'killed before c started');
  await until('every service runs', () => running(p).length === 3);
  assert.deepEqual(running(p), ['a-1', 'b-1', 'c-1']);
  // c reaches a by name on the default network, and has its second network
  const ping = compose(p, ['exec', 'c', '/bin/sh', '-c', 'grep -c -- "-a-1" /etc/hosts; ls /sys/class/net']);
  assert.equal(ping.status, 0, ping.stderr);
  assert.match(ping.stdout, /^1$/m);
  assert.match(ping.stdout, /eth1/);
  // stats are events of the supervisor's stream, for a subscriber that asks for them
  const { openStream } = await import('../../src/runtime/supervisor/client.js');
  const got = new Set<string>();
  const events = await openStream({ root: state, project: p }, { op: 'events', statsMs: 200 }, (l) => {
    if ('event' in l && l.event.type === 'stats' && l.event.stats.pids.current !== undefined) got.add(l.event.container);
  });
  try { await until('stats of every container arrive', () => got.size === 3, 10_000); } finally { events.close(); }
  // the lock went with the operation: another operation runs at once
  await until('the lock is let go', () => !existsSync(join(state, '_locks', `${p}.lock`)), 10_000);
  const d = compose(p, ['down', '-t', '1']);
  assert.equal(d.status, 0, d.stderr);
  nothingLeft(p, ['default', 'back']);
});

test('compose down -p NAME with no compose file removes networks and the secret file; a removed container leaves its networks', { skip, timeout: 180_000 }, async () => {
  const p = `kd${process.pid}`;
  write(p, [
    'services:',
    loop('web') + '    networks: [front, back]\n    secrets: [s1]',
    loop('db') + '    networks: [back]',
    'networks:',
    '  front: {}',
    '  back: {}',
    'secrets:',
    '  s1: { environment: S1 }',
    '',
  ].join('\n'));
  const u = compose(p, ['up', '-d']);
  assert.equal(u.status, 0, u.stderr);
  const secret = compose(p, ['exec', 'web', 'cat', '/run/secrets/s1']);
  assert.equal(secret.stdout, 'sekrit');
  const secretFile = join(dir, 'data', 'secrets', p, 's1');
  assert.ok(existsSync(secretFile), 'the secret is a file on the host');

  // rm of db: its veth and lease go by its plan's teardown; web's /etc/hosts forgets it
  const dbVeth = leases().networks[`${p}/back`].leases['db-1'].veth;
  assert.ok(links().includes(dbVeth));
  assert.match(compose(p, ['exec', 'web', 'cat', '/etc/hosts']).stdout, /\bdb-1\b/);
  const rm = compose(p, ['rm', '-s', '-f', 'db']);
  assert.equal(rm.status, 0, rm.stderr);
  assert.ok(!links().includes(dbVeth), 'db\'s veth is gone');
  assert.deepEqual(Object.keys(leases().networks[`${p}/back`].leases), ['web-1'], 'db\'s lease is gone');
  assert.doesNotMatch(compose(p, ['exec', 'web', 'cat', '/etc/hosts']).stdout, /\bdb-1\b/);
  assert.ok(!existsSync(join(state, 'net', 'hosts', p, 'db-1')), 'db\'s hosts file is gone');

  // down from a directory with no compose file
  const empty = mkdtempSync(join(dir, 'empty-'));
  const d = compose(p, ['down', '-t', '1'], empty);
  assert.equal(d.status, 0, d.stderr);
  assert.match(d.stderr, /web-1: removed/);
  assert.ok(!existsSync(secretFile), 'the secret file is removed');
  assert.ok(!existsSync(join(dir, 'data', 'secrets', p)), 'and its directory');
  nothingLeft(p, ['front', 'back']);
});
