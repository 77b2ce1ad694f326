// `niwa run -p` and `--network bridge|NAME` on the real kernel: the host reaches a published port of a
// foreground and of a detached container; inside, eth0 has its address and the default route via the
// bridge; two containers on niwa's bridge reach each other by address and by name; a container on a
// compose project's network reaches a service by name and is reached by its --name; a busy host port
// fails the start (125) with nothing made. After each: no veth, bridge, lease, namespace file or state.
// Own state and data roots (so niwa's bridge is this test's own, not niwa0), unique names.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { niwa, niwaBin, needsRoot, needsStage, repoRoot, type CliResult } from '../helpers.js';
import { cgroupsLeft } from './running.js';
import { httpGet, until } from './poll.js';


/** Polls an async condition until it holds. */
async function poll<T>(what: string, f: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
import { tryRequest } from '../../src/runtime/supervisor/client.js';
import { defaultBridge } from '../../src/plan/steps/net.js';
import { bridgeName } from '../../src/runtime/net/names.js';
import { removeProjectNetworks } from '../../src/runtime/net/attach.js';

const hasPython = existsSync('/usr/bin/python3') ? false : 'no /usr/bin/python3 on the host (the containers serve HTTP with it)';
const skip = needsRoot() || needsStage() || hasPython;
const uniq = `${process.pid.toString(36)}${Date.now().toString(36).slice(-4)}`;
const PROJECT = `rn-${uniq}`;
const DEMO = `rnd-${uniq}`;
let dir = '';
let state = '';
let site = '';

const freePort = () => new Promise<number>((resolve, reject) => {
  const s = createServer();
  s.once('error', reject);
  s.listen(0, '127.0.0.1', () => { const p = (s.address() as AddressInfo).port; s.close(() => resolve(p)); });
});
/** Nothing listens on the port any more (it can be bound again). */
const portFree = (port: number) => new Promise<boolean>((resolve) => {
  const s = createServer();
  s.once('error', () => resolve(false));
  s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
});
const PAGE = 'hello from the container\n';
/** The page through the published port (something else may answer on a port nobody listens on yet). */
const page = (port: number) => poll(`the page on port ${port}`, () => httpGet(`http://127.0.0.1:${port}/index.html`).then((b) => (b === PAGE ? b : undefined), () => undefined), 30_000);
const env = () => ({ ...process.env, NIWA_STATE_ROOT: state, NIWA_DATA_ROOT: join(dir, 'data'), NIWA_SUPERVISOR_IDLE_MS: '300' });
const run = (args: string[], timeout = 60_000): CliResult => niwa(['run', '--project', PROJECT, ...args], { env: env(), timeout, cwd: repoRoot });
const links = () => spawnSync('ip', ['-o', 'link'], { encoding: 'utf8' }).stdout;
const hasLink = (n: string) => new RegExp(`^\\d+: ${n}[@:]`, 'm').test(links());
const leases = () => { try { return JSON.parse(readFileSync(join(state, 'net', 'leases.json'), 'utf8')) as { networks: Record<string, { leases: Record<string, { veth: string }> }> }; } catch { return { networks: {} }; } };
const files = (d: string): string[] => (existsSync(d) ? readdirSync(d, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(join(d, e.name)) : [join(d, e.name)])) : []);
const SERVE = (port: number, from: string) => ['python3', '-m', 'http.server', String(port), '--directory', from];

/** Nothing of the network is left: no bridge, veth, lease, namespace or hosts file, container state or cgroup. */
function assertClean(what: string, veths: string[] = []): void {
  assert.ok(!hasLink(defaultBridge(state)), `${what}: niwa's bridge is gone`);
  for (const v of veths) assert.ok(!hasLink(v), `${what}: veth ${v} is gone`);
  const left = Object.entries(leases().networks).filter(([k]) => !k.startsWith(`${DEMO}/`));
  assert.deepEqual(left, [], `${what}: no lease left`);
  assert.deepEqual(files(join(state, 'net')).filter((f) => !f.endsWith('leases.json') && !f.includes(`/${DEMO}/`)), [], `${what}: no namespace or hosts file left`);
  assert.deepEqual(existsSync(join(state, PROJECT)) ? readdirSync(join(state, PROJECT)).filter((f) => !f.startsWith('_')) : [], [], `${what}: no container state left`);
  assert.deepEqual(cgroupsLeft(PROJECT).flatMap((c) => readdirSync(c).filter((f) => !f.includes('.'))), [], `${what}: no cgroup left`);
}

before(() => {
  if (skip) return;
  dir = mkdtempSync(join(tmpdir(), 'niwa-run-net-'));
  chmodSync(dir, 0o755);
  state = join(dir, 'state');
  site = join(dir, 'site');
  mkdirSync(state, { mode: 0o755 });
  mkdirSync(site, { mode: 0o755 });
  writeFileSync(join(site, 'index.html'), 'hello from the container\n');
});

after(async () => {
  if (!dir) return;
  for (const n of ['srv', 'probe', 'auto', 'autofg']) niwa(['rm', '-f', n, '--project', PROJECT], { env: env() });
  niwa(['compose', '-f', join(dir, 'compose.yaml'), '-p', DEMO, 'down', '-t', '0'], { env: env(), timeout: 60_000 });
  for (const p of [PROJECT, DEMO]) await tryRequest({ root: state, project: p }, { op: 'shutdown' }).catch(() => undefined);
  await removeProjectNetworks({ stateRoot: state }, DEMO).catch(() => undefined);
  if (hasLink(defaultBridge(state))) spawnSync('ip', ['link', 'del', defaultBridge(state)]);
  for (const p of [PROJECT, DEMO]) for (const cg of cgroupsLeft(p)) spawnSync('find', [cg, '-depth', '-type', 'd', '-exec', 'rmdir', '{}', ';']);
  // a failed test may leave namespace files mounted: only those under this test's own directory
  const mine = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4]).filter((m) => m?.startsWith(dir + '/'));
  for (const m of mine) spawnSync('umount', ['-l', m]);
  rmSync(dir, { recursive: true, force: true });
});

test('foreground run -p: the host reaches the container\'s port while it runs; inside, eth0 has the address and the default route via the bridge', { skip, timeout: 90_000 }, async () => {
  const port = await freePort();
  // prints what it sees, then serves until `niwa stop` (with --init, python is not PID 1 and dies of SIGTERM)
  const script = 'ip -brief addr show eth0; cat /proc/net/route; cat /etc/hosts; exec python3 -m http.server 8000 --directory /site';
  const p = spawn(process.execPath, [niwaBin, 'run', '--project', PROJECT, '--name', 'fg', '--init', '-p', `127.0.0.1:${port}:8000`, '-v', `${site}:/site:ro`, '--', '/bin/sh', '-c', script], { env: env(), stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  p.stdout.on('data', (d: Buffer) => { out += d; });
  p.stderr.on('data', (d: Buffer) => { err += d; });
  const ended = new Promise<number | null>((r) => p.on('exit', (code) => r(code)));
  try {
    assert.equal(await page(port), PAGE, err);
    assert.equal(niwa(['stop', 'fg', '--project', PROJECT], { env: env() }).status, 0);
  } finally { setTimeout(() => p.kill('SIGKILL'), 20_000).unref(); }
  assert.equal(await ended, 143, err);
  const lease = /^eth0@\S+\s+UP\s+(10\.\d+\.\d+\.\d+)\/24/m.exec(out);
  assert.ok(lease, `eth0 with an address:\n${out}`);
  const gw = lease![1].replace(/\.\d+$/, '.1').split('.').map(Number);
  const hex = gw.reverse().map((b) => b.toString(16).padStart(2, '0')).join('').toUpperCase();
  assert.match(out, new RegExp(`^eth0\\s+00000000\\s+${hex}\\s+0003`, 'm'), 'the default route via the gateway on the bridge');
  assert.match(out, new RegExp(`^${lease![1].replace(/\./g, '\\.')}\\tfg$`, 'm'), 'its own name in /etc/hosts');
  assert.ok(await portFree(port), 'the port is closed with the container');
  assertClean('after a foreground run');
});

test('-p CONTAINER_PORT (no host port): inspect shows the host port the kernel chose, and the host reaches the container through it (-d and foreground)', { skip, timeout: 120_000 }, async () => {
  const chosen = (name: string): number | undefined => {
    const r = niwa(['inspect', name, '--project', PROJECT, '-f', 'network.ports'], { env: env() });
    if (r.status !== 0) return undefined;
    const m = /^\["0\.0\.0\.0:(\d+)->8000\/tcp"\]$/.exec(r.stdout.trim());
    return m && Number(m[1]) > 0 ? Number(m[1]) : undefined;
  };
  const d = run(['-d', '--name', 'auto', '-p', '8000', '-v', `${site}:/site:ro`, '--', ...SERVE(8000, '/site')]);
  assert.equal(d.status, 0, d.stderr);
  const port = chosen('auto');
  assert.ok(port, `inspect names the chosen port: ${niwa(['inspect', 'auto', '--project', PROJECT, '-f', 'network.ports'], { env: env() }).stdout}`);
  assert.equal(await page(port!), PAGE);
  const ps = niwa(['ps', '--project', PROJECT], { env: env() });
  assert.match(ps.stdout, /^NAME\s+ID\s+STATUS\s+PID\s+UPTIME\s+RESTARTS\s+HEALTH\s+PORTS$/m, ps.stdout);
  assert.match(ps.stdout, new RegExp(`^auto\\s.*\\s0\\.0\\.0\\.0:${port}->8000/tcp$`, 'm'), 'ps shows the chosen port too');
  const rows = JSON.parse(niwa(['ps', '--json', '--project', PROJECT], { env: env() }).stdout) as { name: string; ports: string[] }[];
  assert.deepEqual(rows.find((r) => r.name === 'auto')?.ports, [`0.0.0.0:${port}->8000/tcp`]);
  assert.equal(niwa(['rm', '-f', 'auto', '--project', PROJECT], { env: env() }).status, 0);
  assert.ok(await portFree(port!), 'the supervisor closed the chosen port');

  const p = spawn(process.execPath, [niwaBin, 'run', '--project', PROJECT, '--name', 'autofg', '--init', '-p', '8000', '-v', `${site}:/site:ro`, '--', ...SERVE(8000, '/site')], { env: env(), stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  p.stderr.on('data', (b: Buffer) => { err += b; });
  const ended = new Promise<number | null>((r) => p.on('exit', (code) => r(code)));
  try {
    const fg = await poll('the chosen port in inspect', async () => chosen('autofg'), 30_000);
    assert.notEqual(fg, 0);
    assert.equal(await page(fg), PAGE, err);
    assert.equal(niwa(['stop', 'autofg', '--project', PROJECT], { env: env() }).status, 0);
    assert.equal(await ended, 143, err);
    assert.ok(await portFree(fg), 'the foreground run closed the chosen port');
  } finally { p.kill('SIGKILL'); }
  assertClean('after -p without a host port');
});

test('run -d -p and --network bridge: the host reaches srv; a second container reaches it by address and by name; rm -f removes it all', { skip, timeout: 120_000 }, async () => {
  const port = await freePort();
  const d = run(['-d', '--name', 'srv', '-p', `127.0.0.1:${port}:8000`, '-v', `${site}:/site:ro`, '--', ...SERVE(8000, '/site')]);
  assert.equal(d.status, 0, d.stderr);
  assert.equal(await page(port), PAGE);
  const net = Object.values(leases().networks)[0] as unknown as { bridge: string; leases: Record<string, { address: string; veth: string }> };
  assert.equal(net.bridge, defaultBridge(state));
  const srv = net.leases.srv;
  assert.ok(srv, 'srv has a lease');
  const fetch = (url: string) => `import urllib.request as u; print(u.urlopen("${url}", timeout=5).read().decode().strip())`;
  const c = run(['--network', 'bridge', '--name', 'probe', '--', 'python3', '-c', `${fetch(`http://${srv.address}:8000/index.html`)}; ${fetch('http://srv:8000/index.html')}`]);
  assert.equal(c.status, 0, c.stderr);
  assert.equal(c.stdout, 'hello from the container\nhello from the container\n', 'by address, then by name');
  assert.ok(hasLink(srv.veth) && hasLink(net.bridge), 'srv keeps its veth and the bridge while it runs');
  const ins = niwa(['inspect', 'srv', '--project', PROJECT, '-f', 'network'], { env: env() });
  assert.deepEqual(JSON.parse(ins.stdout), { mode: 'bridge', network: 'bridge', address: srv.address, subnet: (net as unknown as { subnet: string }).subnet, gateway: (net as unknown as { gateway: string }).gateway, bridge: net.bridge, path: join(state, 'net', 'ns', PROJECT, 'srv'), ports: [`127.0.0.1:${port}->8000/tcp`] });
  assert.equal(niwa(['rm', '-f', 'srv', '--project', PROJECT], { env: env() }).status, 0);
  assert.ok(await portFree(port), 'the supervisor closed the port');
  assertClean('after rm -f', [srv.veth]);
});

test('a busy host port: 125 naming the port, before anything is made (foreground and -d)', { skip, timeout: 60_000 }, async () => {
  const busy: Server = createServer();
  await new Promise<void>((r) => busy.listen(0, '127.0.0.1', () => r()));
  const port = (busy.address() as AddressInfo).port;
  try {
    for (const args of [[], ['-d']]) {
      const r = run([...args, '--name', 'busy', '-p', `127.0.0.1:${port}:80`, '--', '/bin/true']);
      assert.equal(r.status, 125, r.stderr);
      assert.match(r.stderr, new RegExp(`port ${port}/tcp is already in use on 127\\.0\\.0\\.1 \\(by pid ${process.pid}`));
      assert.doesNotMatch(r.stderr, /internal error/);
      assertClean(`busy port ${args.join(' ') || 'foreground'}`);
    }
  } finally { busy.close(); }
});

test('--network PROJECT_NETWORK: a container on a compose project\'s network reaches a service by name, and the service reaches it by its --name', { skip, timeout: 150_000 }, async () => {
  writeFileSync(join(dir, 'compose.yaml'), ['services:', '  web:', `    command: ${JSON.stringify(SERVE(8000, '/site'))}`, `    volumes: ["${site}:/site:ro"]`, '    stop_grace_period: 1s', ''].join('\n'));
  const compose = (args: string[]) => niwa(['compose', '-f', join(dir, 'compose.yaml'), '-p', DEMO, ...args], { env: env(), timeout: 90_000 });
  const up = compose(['up', '-d']);
  assert.equal(up.status, 0, up.stderr);
  const probe = run(['-d', '--name', 'probe', '--network', `${DEMO}_default`, '-v', `${site}:/site:ro`, '--', ...SERVE(9000, '/site')]);
  assert.equal(probe.status, 0, probe.stderr);
  const fetch = (url: string) => ['python3', '-c', `import urllib.request as u; print(u.urlopen("${url}", timeout=5).read().decode().strip())`];
  // the service by name, from a one-off on the project's network
  const one = run(['--network', `${DEMO}_default`, '--', ...fetch('http://web:8000/index.html')]);
  assert.equal(one.status, 0, one.stderr);
  assert.equal(one.stdout, 'hello from the container\n');
  // the service reaches the detached container by its --name
  const back = await until('web reaches probe by name', () => {
    const r = compose(['exec', 'web', ...fetch('http://probe:9000/index.html')]);
    return r.status === 0 ? r : undefined;
  }, 20_000);
  assert.equal(back.stdout, 'hello from the container\n');
  const probeVeth = leases().networks[`${DEMO}/default`].leases.probe.veth;
  assert.equal(niwa(['rm', '-f', 'probe', '--project', PROJECT], { env: env() }).status, 0);
  assert.ok(!leases().networks[`${DEMO}/default`].leases.probe, 'its lease is gone, the project keeps its network');
  assert.ok(hasLink(bridgeName(DEMO, 'default')), 'the project\'s bridge stays');
  assert.ok(!readFileSync(join(state, 'net', 'hosts', DEMO, 'web-1'), 'utf8').includes('probe'), 'web forgets it');
  assertClean('after rm -f probe', [probeVeth]);
  assert.equal(compose(['down', '-t', '0']).status, 0);
});

test('a start that fails at any step after the network is made is rolled back: no veth, bridge, lease, port or state left', { skip, timeout: 120_000 }, async () => {
  const port = await freePort();
  const args = ['--name', 'failing', '-p', `127.0.0.1:${port}:8000`, '--', '/bin/true'];
  const p = niwa(['plan', '--json', '--project', PROJECT, ...args], { env: env() });
  assert.equal(p.status, 0, p.stderr);
  const steps = (JSON.parse(p.stdout) as { steps: { index: number; op: string; phase: string; field: string }[] }).steps;
  const at = [
    steps.find((s) => s.op === 'hosts')!,                          // the last network step of prepare
    steps.find((s) => s.phase === 'prepare' && s.field.startsWith('cgroup'))!, // after the whole network
    steps.find((s) => s.op === 'execve')!,                         // in the container, at the very end
  ];
  for (const s of at) {
    for (const mode of [[], ['-d']]) {
      const r = niwa(['run', '--project', PROJECT, ...mode, ...args], { env: { ...env(), NIWA_TEST_FAIL_STEP: String(s.index) }, timeout: 60_000 });
      assert.equal(r.status, 125, `fail at step ${s.index} (${s.op}) ${mode.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, /EIO|injected/);
      assert.ok(await portFree(port), `step ${s.index} ${mode.join(' ')}: the port is closed again`);
      assertClean(`failed at step ${s.index} (${s.op}) ${mode.join(' ') || 'foreground'}`);
    }
  }
});
