// `niwa compose` end to end with the real CLI and kernel, on test/fixtures/compose-up (seed →
// server → client): up -d --wait, start order from state timestamps and logs, name resolution
// inside containers, the published port from the host, a second project refused on the same port
// with nothing started, /etc/hosts kept current as a service goes and comes back, logs (-f) with
// prefixes, exec, and `down -v` leaving nothing of the project behind.
// Own state and data roots, unique project names; `after` removes every trace.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fixture, niwa, niwaBin, needsRoot, needsStage, repoRoot, type CliResult } from '../helpers.js';
import { cgroupsLeft } from './running.js';
import { httpGet, until } from './poll.js';
import { tryRequest } from '../../src/runtime/supervisor/client.js';
import { bridgeName, vethName } from '../../src/runtime/net/names.js';
import { removeProjectNetworks } from '../../src/runtime/net/attach.js';

const skip = needsRoot() || needsStage();
const uniq = `${process.pid.toString(36)}${Date.now().toString(36).slice(-4)}`;
const P1 = `cu-${uniq}`;
const P2 = `cu2-${uniq}`;
const FILE = fixture('compose-up', 'compose.yaml');
let dir = '';
let state = '';
let data = '';
let port = 0;

const freePort = () => new Promise<number>((resolve, reject) => {
  const s = createServer();
  s.once('error', reject);
  s.listen(0, '127.0.0.1', () => { const p = (s.address() as AddressInfo).port; s.close(() => resolve(p)); });
});
const env = () => ({ ...process.env, NIWA_STATE_ROOT: state, NIWA_DATA_ROOT: data, PORT: String(port), API_TOKEN: 's3cret-token', NIWA_SUPERVISOR_IDLE_MS: '300' });
const compose = (p: string, args: string[], timeout = 90_000): CliResult => niwa(['compose', '-f', FILE, '-p', p, ...args], { env: env(), timeout });
const supervisorPid = (p: string): number | undefined => { try { return JSON.parse(readFileSync(join(state, p, '_supervisor.json'), 'utf8')).pid; } catch { return undefined; } };
const alive = (pid: number | undefined) => { if (!pid) return false; try { return !/^\S+ \(.*\) [ZX] /.test(readFileSync(`/proc/${pid}/stat`, 'utf8')); } catch { return false; } };
const links = () => spawnSync('ip', ['-o', 'link'], { encoding: 'utf8' }).stdout;
const projectLinks = (p: string) => {
  const names = [bridgeName(p, 'default'), ...['seed-1', 'server-1', 'client-1'].map((c) => vethName(p, 'default', c))];
  return names.filter((n) => new RegExp(`^\\d+: ${n}[@:]`, 'm').test(links()));
};
type Row = { name: string; service: string | null; status: string; state: string; health: string; pid: number | null; ports: string[] };
function ps(p: string): Record<string, Row> {
  const r = compose(p, ['ps', '--json']);
  assert.equal(r.status, 0, r.stderr);
  return Object.fromEntries((JSON.parse(r.stdout) as Row[]).map((c) => [c.name, c]));
}
const stateOf = (p: string, name: string) => JSON.parse(readFileSync(join(state, p, name, 'state.json'), 'utf8')) as { startedAt: string; finishedAt?: string; exitCode?: number };
const logLines = (p: string, name: string) => readFileSync(join(state, p, name, 'container.log'), 'utf8').split('\n').filter(Boolean);

before(async () => {
  if (skip) return;
  dir = mkdtempSync(join(tmpdir(), 'niwa-compose-test-'));
  chmodSync(dir, 0o755);
  state = join(dir, 'state');
  data = join(dir, 'data');
  mkdirSync(state, { mode: 0o755 });
  mkdirSync(data, { mode: 0o755 });
  port = await freePort();
});

after(async () => {
  if (!dir) return;
  for (const p of [P1, P2]) {
    compose(p, ['down', '-v', '-t', '0']);
    await tryRequest({ root: state, project: p }, { op: 'shutdown' }).catch(() => undefined);
    const pid = supervisorPid(p);
    if (pid) try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
    await removeProjectNetworks({ stateRoot: state }, p).catch(() => undefined);
    for (const cg of cgroupsLeft(p)) spawnSync('find', [cg, '-depth', '-type', 'd', '-exec', 'rmdir', '{}', ';']);
  }
  rmSync(dir, { recursive: true, force: true });
});

test('up -d --wait: seed completes, then server starts; client starts once server is healthy', { skip, timeout: 120_000 }, async (t) => {
  const t0 = performance.now();
  const r = compose(P1, ['up', '-d', '--wait']);
  const ms = performance.now() - t0;
  assert.equal(r.status, 0, r.stderr);
  t.diagnostic(`compose up -d --wait of the three-service fixture: ${ms.toFixed(0)} ms (NODE_EXTRA_CA_CERTS ${process.env.NODE_EXTRA_CA_CERTS ? 'set' : 'unset'})`);
  const rows = ps(P1);
  assert.equal(rows['seed-1'].status, 'exited(0)');
  assert.equal(rows['server-1'].state, 'running');
  assert.equal(rows['server-1'].health, 'healthy');
  assert.equal(rows['client-1'].state, 'running');
  assert.deepEqual(rows['server-1'].ports, [`127.0.0.1:${port}->8000/tcp`]);

  const seed = stateOf(P1, 'seed-1');
  const server = stateOf(P1, 'server-1');
  const client = stateOf(P1, 'client-1');
  assert.equal(seed.exitCode, 0);
  assert.ok(seed.finishedAt! <= server.startedAt, `seed finished ${seed.finishedAt}, server started ${server.startedAt}`);
  // The first successful health check is the first request from 127.0.0.1 in the server's log:
  // the client must have started after it (and only the health check talks to 127.0.0.1).
  const firstCheck = logLines(P1, 'server-1').find((l) => /127\.0\.0\.1 - - .*"GET \/ HTTP\/1\.1" 200/.test(l));
  assert.ok(firstCheck, 'a successful health check is in the server log');
  assert.ok(firstCheck!.slice(0, 24) <= client.startedAt, `health check at ${firstCheck!.slice(0, 24)}, client started ${client.startedAt}`);
});

test('names resolve inside the containers: the client fetched the page from "server"', { skip, timeout: 60_000 }, async () => {
  await until('the client fetched the page', () => logLines(P1, 'client-1').some((l) => l.endsWith('stdout fetched: hello from niwa')));
  const hosts = compose(P1, ['exec', 'client', 'cat', '/etc/hosts']);
  assert.equal(hosts.status, 0, hosts.stderr);
  const m = /^(\d+\.\d+\.\d+\.\d+)\tserver-1 server\b/m.exec(hosts.stdout);
  assert.ok(m, hosts.stdout);
  const g = compose(P1, ['exec', 'client', 'getent', 'ahostsv4', 'server']);
  assert.equal(g.status, 0, g.stderr);
  assert.match(g.stdout, new RegExp(`^${m![1].replace(/\./g, '\\.')}\\s+STREAM server`, 'm'));
  // The plain lookup (IPv6 too) must not wait for the host's unreachable name servers.
  const t0 = Date.now();
  const plain = compose(P1, ['exec', 'client', 'getent', 'hosts', 'server']);
  assert.equal(plain.status, 0, plain.stderr);
  assert.ok(Date.now() - t0 < 3000, `getent hosts took ${Date.now() - t0} ms`);
  assert.match(compose(P1, ['exec', 'server', 'cat', '/etc/resolv.conf']).stdout, /written by niwa: this project network has no route out/);
  assert.match(compose(P1, ['exec', 'client', 'cat', '/etc/resolv.conf']).stdout, /^search corp\.example$/m, 'dns_search');
  // secrets (from the environment) and configs (from a file): read-only files at their targets
  const sec = compose(P1, ['exec', 'client', '/bin/sh', '-c', 'cat /run/secrets/api_token; echo; cat /etc/greeting.txt; (echo x > /run/secrets/api_token) 2>&1; df -k /dev/shm | tail -1']);
  assert.match(sec.stdout, /^s3cret-token$/m);
  assert.match(sec.stdout, /^hello from a config file$/m);
  assert.match(sec.stdout, /Read-only file system/);
  assert.match(sec.stdout, /\s16384\s/, 'shm_size: a 16 MiB /dev/shm');
  // extra_hosts: the client's own addition, and only the client's
  assert.match(hosts.stdout, /^192\.0\.2\.10\tregistry\.example$/m);
  assert.doesNotMatch(compose(P1, ['exec', 'server', 'cat', '/etc/hosts']).stdout, /registry\.example/);
  // links: server:web — the alias is the client's own, at the server's address
  assert.match(hosts.stdout, new RegExp(`^${m![1].replace(/\./g, '\\.')}\tweb$`, 'm'));
  assert.doesNotMatch(compose(P1, ['exec', 'server', 'cat', '/etc/hosts']).stdout, /\tweb$/m);
  // the server answers the client's address (its log names the peer)
  const addr = /^(\S+)\tclient-1\b/m.exec(compose(P1, ['exec', 'server', 'cat', '/etc/hosts']).stdout)?.[1];
  assert.ok(addr && logLines(P1, 'server-1').some((l) => l.includes(`${addr} - - `)), 'the server saw the client\'s request');
});

test('the published port answers from the host', { skip, timeout: 30_000 }, async () => {
  assert.equal((await httpGet(`http://127.0.0.1:${port}/`)).trim(), 'hello from niwa');
});

test('a second project publishing the same port is refused and starts nothing', { skip, timeout: 60_000 }, async () => {
  const r = compose(P2, ['up', '-d']);
  assert.equal(r.status, 1, r.stdout + r.stderr);
  assert.match(r.stderr, new RegExp(`service server: port ${port}/tcp is already in use on 127\\.0\\.0\\.1`));
  assert.match(r.stderr, new RegExp(`nothing of project '${P2}' was started`));
  const left = existsSync(join(state, P2)) ? readdirSync(join(state, P2)).filter((n) => !n.startsWith('_')) : [];
  assert.deepEqual(left, [], 'no container state');
  assert.deepEqual(cgroupsLeft(P2), []);
  assert.deepEqual(projectLinks(P2), []);
  assert.ok(!existsSync(join(data, 'volumes', `${P2}_site`)), 'no volume created');
  // and the first project still serves
  assert.equal((await httpGet(`http://127.0.0.1:${port}/`)).trim(), 'hello from niwa');
});

test('logs: every service prefixed; logs -f follows until the containers end', { skip, timeout: 60_000 }, async () => {
  const r = compose(P1, ['logs']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^seed-1 +\| seeded$/m);
  assert.match(r.stdout, /^client-1 +\| fetched: hello from niwa$/m);
  assert.match(r.stdout, /^server-1 +\| Serving HTTP on 0\.0\.0\.0 port 8000/m);
  assert.ok(r.stdout.indexOf('seeded') < r.stdout.indexOf('fetched:'), 'merged in time order');

  const child = spawn(process.execPath, [niwaBin, 'compose', '-f', FILE, '-p', P1, 'logs', '-f', 'seed', 'client'], { env: env(), cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => { out += c; });
  const exited = new Promise<number | null>((res) => child.on('exit', (code) => res(code)));
  try {
    await until('logs -f printed the client line', () => /^client-1 \| fetched: hello from niwa$/m.test(out), 15_000);
    assert.match(out, /^seed-1   \| seeded$/m);
    // still following: it ends only once client ends
    assert.equal(child.exitCode, null);
    const s = compose(P1, ['stop', 'client']);
    assert.equal(s.status, 0, s.stderr);
    assert.equal(await Promise.race([exited, new Promise((r) => setTimeout(() => r('timeout'), 15_000))]), 0);
  } finally { child.kill('SIGKILL'); }
});

test('/etc/hosts is kept current: a stopped service stops resolving, and resolves again once started', { skip, timeout: 60_000 }, async () => {
  const hostsOfServer = () => compose(P1, ['exec', 'server', 'cat', '/etc/hosts']).stdout;
  await until('client left the server\'s /etc/hosts', () => !/\tclient-1\b/.test(hostsOfServer()));
  assert.match(hostsOfServer(), /^\S+\t.*\bserver-1\b/m, "its own entry stays");
  const r = compose(P1, ['start', 'client']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(hostsOfServer(), /\tclient-1 client\b/);
  assert.equal(ps(P1)['client-1'].state, 'running');
});

test('run: a one-off on the project network, with stdin, exit status, and nothing left of it', { skip, timeout: 60_000 }, async () => {
  const r = niwa(['compose', '-f', FILE, '-p', P1, 'run', '--rm', 'client', '/bin/sh', '-c', 'read line; echo "got $line"; getent ahostsv4 server | head -1; hostname; exit 3'], { env: env(), input: 'hello-stdin\n', timeout: 60_000 });
  assert.equal(r.status, 3, r.stderr);
  assert.match(r.stdout, /^got hello-stdin$/m, 'stdin reached the container');
  assert.match(r.stdout, /^\d+\.\d+\.\d+\.\d+\s+STREAM server(-1)?$/m, "the service name resolves on the project network");
  const names = (JSON.parse(compose(P1, ['ps', '--json']).stdout) as { name: string }[]).map((c) => c.name);
  assert.ok(!names.some((n) => n.startsWith('client-run-')), `the one-off is gone: ${names.join(' ')}`);
});

test('down -v leaves nothing: containers, supervisor, cgroups, links, netns, listener, state, volume', { skip, timeout: 90_000 }, async () => {
  const sup = supervisorPid(P1);
  assert.ok(alive(sup), 'a supervisor ran');
  assert.ok(existsSync(join(data, 'volumes', `${P1}_site`)));
  assert.ok(projectLinks(P1).length >= 3, links());
  const r = compose(P1, ['down', '-v']);
  assert.equal(r.status, 0, r.stderr);
  await until('the supervisor exited', () => !alive(sup), 5000);
  assert.ok(!existsSync(join(state, P1)), 'no state directory');
  assert.deepEqual(cgroupsLeft(P1), []);
  assert.deepEqual(projectLinks(P1), []);
  assert.ok(!existsSync(join(state, 'net', 'ns', P1)) || readdirSync(join(state, 'net', 'ns', P1)).length === 0, 'no netns files');
  assert.ok(!existsSync(join(state, 'net', 'hosts', P1)) || readdirSync(join(state, 'net', 'hosts', P1)).length === 0, 'no hosts files');
  const leases = JSON.parse(readFileSync(join(state, 'net', 'leases.json'), 'utf8')) as { networks: Record<string, unknown> };
  assert.ok(!Object.keys(leases.networks).some((k) => k.startsWith(`${P1}/`)), 'no network lease');
  assert.ok(!existsSync(join(data, 'volumes', `${P1}_site`)), 'volume removed');
  assert.ok(!existsSync(join(data, 'secrets', P1)), 'secret files removed');
  // nothing listens on the port any more
  await new Promise<void>((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(port, '127.0.0.1', () => s.close(() => resolve()));
  });
});
