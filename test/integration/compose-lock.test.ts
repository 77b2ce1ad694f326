// Two `compose up -d` of one project at once (a second terminal, a CI retry): one operation at a
// time per project — the second waits, saying for whom, then finds everything running; both end
// well, each service runs once, every /etc/hosts lists every service, and `down` leaves nothing.
// Also: a service on an `internal: true` network reaches its peer but not the host's gateway.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { niwa, niwaBin, needsRoot, needsStage, repoRoot } from '../helpers.js';
import { bridgeName } from '../../src/runtime/net/names.js';
import { cgroupsLeft } from './running.js';

const skip = needsRoot() || needsStage();
const dir = skip ? '' : mkdtempSync(join(tmpdir(), 'niwa-lock-'));
const project = `lk${process.pid}`;
const inner = `in${process.pid}`;
const env = () => ({ ...process.env, NIWA_STATE_ROOT: join(dir, 'state'), NIWA_DATA_ROOT: join(dir, 'data') });
const file = (p: string) => join(dir, `${p}.yaml`);
const compose = (p: string, args: string[]) => niwa(['compose', '-f', file(p), '-p', p, ...args], { env: env(), timeout: 120_000 });
const SERVICES = ['a', 'b', 'c', 'd'];

function composeAsync(p: string, args: string[]): Promise<{ status: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, [niwaBin, 'compose', '-f', file(p), '-p', p, ...args], { env: env(), cwd: repoRoot, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    c.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    c.on('exit', (status) => resolve({ status, stderr }));
  });
}

const linksOf = (p: string) => execFileSync('ip', ['-o', 'link'], { encoding: 'utf8' }).split('\n').filter((l) => l.includes(bridgeName(p, 'default')) || l.includes(bridgeName(p, 'back')));

after(() => {
  if (!dir) return;
  for (const p of [project, inner]) if (existsSync(file(p))) compose(p, ['down', '-v', '-t', '1']);
  rmSync(dir, { recursive: true, force: true });
});

test('two compose up -d of one project at once: one waits for the other, both end well, down leaves nothing', { skip, timeout: 180_000 }, async () => {
  chmodSync(dir, 0o755);
  writeFileSync(file(project), `services:\n${SERVICES.map((s) => `  ${s}:\n    command: ["/bin/sh", "-c", "trap 'exit 0' TERM; while :; do sleep 0.2; done"]\n    stop_grace_period: 1s\n`).join('')}`);
  const [one, two] = await Promise.all([composeAsync(project, ['up', '-d']), composeAsync(project, ['up', '-d'])]);
  assert.equal(one.status, 0, one.stderr);
  assert.equal(two.status, 0, two.stderr);
  assert.match(one.stderr + two.stderr, new RegExp(`waiting for project '${project}' \\(pid \\d+, \`compose up\``), 'the second said whom it waited for');
  const rows = JSON.parse(compose(project, ['ps', '--json']).stdout) as { name: string; state: string }[];
  assert.deepEqual(rows.map((r) => [r.name, r.state]).sort(), SERVICES.map((s) => [`${s}-1`, 'running']));
  for (const s of SERVICES) {
    const hosts = compose(project, ['exec', s, 'cat', '/etc/hosts']).stdout;
    for (const t of SERVICES) assert.match(hosts, new RegExp(`^10\\.[\\d.]+\\t.*\\b${t}-1\\b`, 'm'), `${s}'s /etc/hosts lists ${t}:\n${hosts}`);
  }
  // the lock is not left behind
  assert.ok(!existsSync(join(dir, 'state', '_locks', `${project}.lock`)));
  const d = compose(project, ['down', '-t', '1']);
  assert.equal(d.status, 0, d.stderr);
  assert.deepEqual(linksOf(project), []);
  assert.deepEqual(cgroupsLeft(project), []);
  assert.ok(!existsSync(join(dir, 'state', project)), 'no state directory');
  const ns = join(dir, 'state', 'net', 'ns', project);
  assert.ok(!existsSync(ns) || readdirSync(ns).length === 0, 'no netns files');
  const leases = JSON.parse(readFileSync(join(dir, 'state', 'net', 'leases.json'), 'utf8')) as { networks: Record<string, unknown> };
  assert.ok(!Object.keys(leases.networks).some((k) => k.startsWith(`${project}/`)), 'no lease');
});

test('internal: true — no default route, the peer is reachable, the host\'s gateway is not', { skip, timeout: 120_000 }, () => {
  writeFileSync(file(inner), [
    'services:',
    '  srv:',
    '    command: ["python3", "-m", "http.server", "8000", "--bind", "0.0.0.0"]',
    '    networks: [back]',
    '    ports: ["18099:8000"]',
    '  cli:',
    '    command: ["sleep", "60"]',
    '    networks: [back]',
    'networks:',
    '  back: { internal: true }',
    '',
  ].join('\n'));
  const up = compose(inner, ['up', '-d']);
  assert.equal(up.status, 0, up.stderr);
  assert.match(up.stderr, /srv: ports are not published: every network of the service is internal/);
  const route = compose(inner, ['exec', 'cli', 'cat', '/proc/net/route']);
  assert.equal(route.status, 0, route.stderr);
  assert.ok(!route.stdout.split('\n').slice(1).some((l) => l.split(/\s+/)[1] === '00000000'), `no default route:\n${route.stdout}`);
  const probe = (target: string) => compose(inner, ['exec', 'cli', 'python3', '-c', `import socket,sys\ns=socket.socket(); s.settimeout(2)\ntry:\n  s.connect(('${target}', 8000)); print('reached')\nexcept OSError as e:\n  print('refused' if e.errno == 111 else 'unreachable', e)`]).stdout.trim();
  assert.match(probe('srv'), /^reached/, 'the peer on the internal network');
  // the host's own address outside the project's subnet: no route to it
  const hostAddr = execFileSync('ip', ['-4', '-o', 'route', 'get', '1.1.1.1'], { encoding: 'utf8' }).match(/src (\S+)/)?.[1];
  if (hostAddr) assert.match(probe(hostAddr), /^unreachable/, `the host's address ${hostAddr} is out of reach`);
  assert.match(probe('1.1.1.1'), /^unreachable/, 'the outside is out of reach');
  const d = compose(inner, ['down', '-t', '1']);
  assert.equal(d.status, 0, d.stderr);
  assert.deepEqual(linksOf(inner), []);
});

test('a service that fails to start: the error names the compose key, the others run, nothing of it is left', { skip, timeout: 120_000 }, () => {
  const p = `fs${process.pid}`;
  writeFileSync(file(p), [
    'services:',
    '  ok:',
    '    command: ["/bin/sh", "-c", "trap \'exit 0\' TERM; while :; do sleep 0.2; done"]',
    '    stop_grace_period: 1s',
    '  broken:',
    '    command: ["/bin/true"]',
    '    working_dir: /nowhere',
    '',
  ].join('\n'));
  try {
    const r = compose(p, ['up', '-d']);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /services\.broken\.working_dir \(spec field process\.cwd\)/);
    assert.match(r.stderr, /running: ok-1; failed or not started: broken-1/);
    const rows = JSON.parse(compose(p, ['ps', '--json', '-a']).stdout) as { name: string; state: string }[];
    assert.deepEqual(rows.map((x) => [x.name, x.state]), [['ok-1', 'running']], 'the failed container was removed');
    const ns = join(dir, 'state', 'net', 'ns', p);
    assert.deepEqual(existsSync(ns) ? readdirSync(ns) : [], ['ok-1'], 'its network namespace went with it');
    const leases = JSON.parse(readFileSync(join(dir, 'state', 'net', 'leases.json'), 'utf8')) as { networks: Record<string, { leases: Record<string, unknown> }> };
    assert.deepEqual(Object.keys(leases.networks[`${p}/default`].leases), ['ok-1'], 'and its lease');
  } finally {
    const d = compose(p, ['down', '-t', '1']);
    assert.equal(d.status, 0, d.stderr);
  }
  assert.deepEqual(linksOf(p), []);
  assert.deepEqual(cgroupsLeft(p), []);
});
