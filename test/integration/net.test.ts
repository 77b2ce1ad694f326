// Project networking on the real kernel, through the real niwa path: a bridge for a project
// network, containers attached (network namespace file, veth, address, routes, /etc/hosts) and
// started by compile + runPlan joining that namespace by path. One container serves HTTP, the
// other reaches it BY NAME; the host reaches it through a published port on 127.0.0.1; a second
// publish of that port is refused; /etc/hosts follows containers coming and going; after removal
// no bridge, veth, namespace file, mount or listener of this test remains.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { needsRoot, needsStage } from '../helpers.js';
import { loadSpecObject } from '../../src/spec/load/index.js';
import type { ContainerSpec } from '../../src/spec/types.js';
import { compile } from '../../src/plan/compile.js';
import { probeHost } from '../../src/validate/host.js';
import { runPlan, type RunResult } from '../../src/runtime/launch/run.js';
import type { StageHandle } from '../../src/runtime/launch/stage.js';
import { realSys } from '../../src/runtime/sys/real.js';
import { attachContainer, createNetwork, detachContainer, readNetworks, removeNetwork, removeProjectNetworks, type NetContext } from '../../src/runtime/net/attach.js';
import { hostsMount } from '../../src/runtime/net/hosts.js';
import { parsePort, publishPorts, PortInUseError, type PortProxy } from '../../src/runtime/net/ports.js';
import { bridgeName, vethName } from '../../src/runtime/net/names.js';

const tools = ['ip', 'nsenter', 'unshare'].filter((t) => spawnSync('sh', ['-c', `command -v ${t}`]).status !== 0);
const skip = needsRoot() || needsStage() || (tools.length ? `needs ${tools.join(', ')}` : false) || (existsSync('/usr/bin/python3') ? false : 'needs /usr/bin/python3');

// Unique per run: other engineers' tests run at the same time on this host.
const project = `nt${process.pid.toString(36)}${Date.now().toString(36).slice(-4)}`;
// A private pool for this run only: addresses exist on our own bridge and nowhere else.
const pool = `10.${200 + (process.pid % 50)}.0.0/16`;
let dir = '';
let ctx: NetContext;
const running: StageHandle[] = [];
const proxies: PortProxy[] = [];

before(() => {
  if (skip) return;
  dir = mkdtempSync(join(tmpdir(), 'niwa-net-test-'));
  chmodSync(dir, 0o755);
  ctx = { stateRoot: join(dir, 'state') };
});

after(async () => {
  if (!dir) return;
  for (const p of proxies) await p.close().catch(() => {});
  for (const h of running) h.kill('SIGKILL');
  await removeProjectNetworks(ctx, project).catch(() => {});
  rmSync(dir, { recursive: true, force: true });
});

/** Interfaces of the host whose name is one of ours. */
const ourLinks = (names: string[]) => {
  const out = spawnSync('ip', ['-o', 'link'], { encoding: 'utf8' }).stdout;
  return names.filter((n) => new RegExp(`^\\d+: ${n}[@:]`, 'm').test(out));
};

/** Starts a container (compile + runPlan) that joins the prepared network namespace by path. */
async function start(name: string, netns: string, hostsFile: string, args: string[], extraMounts: ContainerSpec['mounts'] = []): Promise<{ handle: StageHandle; done: Promise<RunResult>; out: string }> {
  const out = join(dir, `${name}.out`);
  const fd = openSync(out, 'w');
  const spec = await loadSpecObject({
    name,
    hostname: name,
    namespaces: { mount: {}, uts: {}, ipc: {}, pid: {}, net: { path: netns } },
    process: { args },
    mounts: [hostsMount(hostsFile), ...(extraMounts ?? [])],
  } satisfies ContainerSpec, join(dir, `${name}.container.yaml`));
  const plan = compile(spec, probeHost({ stateRoot: ctx.stateRoot }), { id: `${name}-${process.pid}`, project });
  let resolveHandle!: (h: StageHandle) => void;
  const handleP = new Promise<StageHandle>((r) => { resolveHandle = r; });
  const done = runPlan(plan, { sys: realSys, spec, stdio: ['ignore', fd, fd], onStarted: (h) => { running.push(h); resolveHandle(h); } });
  done.catch(() => {}).finally(() => closeSync(fd));
  const handle = await Promise.race([handleP, done.then(() => { throw new Error(`${name} exited before it started: ${readFileSync(out, 'utf8')}`); })]);
  return { handle, done, out };
}

const httpGet = (host: string, port: number, path: string) => new Promise<{ status: number; body: string }>((resolve, reject) => {
  const req = http.get({ host, port, path, timeout: 5000 }, (res) => {
    let body = '';
    res.on('data', (d) => { body += d; });
    res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
  });
  req.on('timeout', () => req.destroy(new Error('timeout')));
  req.on('error', reject);
});

async function retry<T>(f: () => Promise<T>, tries = 50, ms = 100): Promise<T> {
  for (let i = 1; ; i++) {
    try { return await f(); } catch (e) { if (i >= tries) throw e; await new Promise((r) => setTimeout(r, ms)); }
  }
}

const freePort = () => new Promise<number>((resolve) => {
  const s = net.createServer();
  s.listen(0, '127.0.0.1', () => {
    const p = (s.address() as net.AddressInfo).port;
    s.close(() => resolve(p));
  });
});

/** /etc/hosts as a running container sees it (its own mount namespace). */
const hostsInside = (pid: number) => spawnSync('nsenter', [`--mount=/proc/${pid}/ns/mnt`, '--', 'cat', '/etc/hosts'], { encoding: 'utf8' }).stdout;

test('two containers on a project network talk by name; a published port reaches the server; down removes everything', { skip, timeout: 120_000 }, async (t) => {
  const www = join(dir, 'www');
  mkdirSync(www);
  writeFileSync(join(www, 'hello.txt'), 'hello from web\n');

  const tNet = performance.now();
  const network = await createNetwork(ctx, project, 'front', { pool });
  const netMs = performance.now() - tNet;
  assert.equal(network.bridge, bridgeName(project, 'front'));
  assert.equal(network.subnet.startsWith(pool.split('.').slice(0, 2).join('.') + '.'), true, network.subnet);
  assert.deepEqual(ourLinks([network.bridge]), [network.bridge]);
  assert.deepEqual((await createNetwork(ctx, project, 'front', { pool })).steps, [], 'idempotent: a second create does nothing');

  const t0 = performance.now();
  const web = await attachContainer(ctx, { project, network: 'front', container: `${project}-web-1`, aliases: ['web', 'www'] });
  const attachMs = performance.now() - t0;
  const t1 = performance.now();
  const client = await attachContainer(ctx, { project, network: 'front', container: `${project}-client-1`, aliases: ['client'] });
  const attach2Ms = performance.now() - t1;
  assert.notEqual(web.address, client.address);
  assert.equal(web.gateway, network.gateway);
  assert.equal((await attachContainer(ctx, { project, network: 'front', container: `${project}-web-1`, aliases: ['web', 'www'] })).steps.length, 0, 'idempotent attach');
  const vethW = vethName(project, 'front', `${project}-web-1`);
  const vethC = vethName(project, 'front', `${project}-client-1`);
  assert.deepEqual(ourLinks([vethW, vethC]), [vethW, vethC]);

  // The namespace as configured: loopback up, eth0 with the leased address, default route via the gateway.
  const inNs = (cmd: string[]) => spawnSync('nsenter', [`--net=${web.netnsPath}`, '--', ...cmd], { encoding: 'utf8' }).stdout;
  assert.match(inNs(['ip', '-o', '-4', 'addr']), new RegExp(`eth0\\s+inet ${web.address.replace(/\./g, '\\.')}/24`));
  assert.match(inNs(['ip', '-o', 'link', 'show', 'lo']), /[<,]UP[,>]/);
  assert.match(inNs(['ip', 'route']), new RegExp(`^default via ${network.gateway.replace(/\./g, '\\.')} dev eth0`, 'm'));

  // The server: python's http.server in a container that joined web's namespace by path.
  const server = await start('web', web.netnsPath, web.hostsFile, ['/usr/bin/python3', '-m', 'http.server', '8000', '--bind', '0.0.0.0', '--directory', '/srv'], [{ type: 'bind', source: www, target: '/srv', readonly: true }]);
  const serverPid = await server.handle.pid;
  assert.equal(spawnSync('stat', ['-L', '-c', '%i', `/proc/${serverPid}/ns/net`], { encoding: 'utf8' }).stdout, spawnSync('stat', ['-L', '-c', '%i', web.netnsPath], { encoding: 'utf8' }).stdout, 'the container is in the prepared namespace');

  // Host → container over the bridge.
  const direct = await retry(() => httpGet(web.address, 8000, '/hello.txt'));
  assert.equal(direct.body, 'hello from web\n');

  // Container → container by name, through the generated /etc/hosts.
  const probe = [
    'import socket, urllib.request',
    'print("resolved", socket.gethostbyname("web"), socket.gethostbyname("www"))',
    'print("body", urllib.request.urlopen("http://web:8000/hello.txt", timeout=5).read().decode().strip())',
  ].join('\n');
  const c = await start('client', client.netnsPath, client.hostsFile, ['/usr/bin/python3', '-c', probe]);
  const cr = await c.done;
  const cout = readFileSync(c.out, 'utf8');
  assert.equal(cr.status, 0, cout);
  assert.match(cout, new RegExp(`^resolved ${web.address} ${web.address}$`, 'm'));
  assert.match(cout, /^body hello from web$/m);

  // /etc/hosts is kept current in the running server: a late container appears, then goes.
  const lateName = `${project}-late-1`;
  assert.doesNotMatch(hostsInside(serverPid), new RegExp(lateName));
  const late = await attachContainer(ctx, { project, network: 'front', container: lateName, aliases: ['late'] });
  assert.match(hostsInside(serverPid), new RegExp(`^${late.address.replace(/\./g, '\\.')}\\t${lateName} late$`, 'm'));
  await late.cleanup();
  assert.doesNotMatch(hostsInside(serverPid), new RegExp(lateName));
  assert.equal(existsSync(late.netnsPath), false);
  assert.deepEqual(ourLinks([late.veth]), []);

  // A published port: 127.0.0.1:P → web:8000 through the userspace proxy.
  const hostPort = await freePort();
  const proxy = await publishPorts(parsePort(`127.0.0.1:${hostPort}:8000`), web.address);
  proxies.push(proxy);
  const viaProxy = await retry(() => httpGet('127.0.0.1', hostPort, '/hello.txt'), 20);
  assert.equal(viaProxy.status, 200);
  assert.equal(viaProxy.body, 'hello from web\n');
  const err = await publishPorts(parsePort(`127.0.0.1:${hostPort}:8000`), client.address).then(() => null, (e: unknown) => e);
  assert.ok(err instanceof PortInUseError, String(err));
  assert.match(err.message, new RegExp(`^port ${hostPort}/tcp is already in use on 127\\.0\\.0\\.1 \\(by pid ${process.pid}\\b`));

  // Down: stop, unpublish, detach, remove the network.
  server.handle.kill('SIGKILL');
  await server.done;
  await proxy.close();
  await detachContainer(ctx, project, 'front', `${project}-web-1`);
  await detachContainer(ctx, project, 'front', `${project}-client-1`);
  await removeNetwork(ctx, project, 'front');

  assert.deepEqual(ourLinks([network.bridge, vethW, vethC]), [], 'no bridge or veth left');
  for (const p of [web.netnsPath, client.netnsPath, web.hostsFile, client.hostsFile]) assert.equal(existsSync(p), false, `${p} removed`);
  assert.equal(readFileSync('/proc/self/mountinfo', 'utf8').includes(ctx.stateRoot), false, 'no namespace mount left');
  assert.deepEqual((await readNetworks(ctx)).networks, {}, 'no lease left');
  await assert.rejects(httpGet('127.0.0.1', hostPort, '/'), /ECONNREFUSED/, 'no listener left');
  assert.ok(!spawnSync('ip', ['-o', 'route'], { encoding: 'utf8' }).stdout.includes(network.subnet), 'no route left');
  t.diagnostic(`createNetwork ${netMs.toFixed(1)} ms; attachContainer ${attachMs.toFixed(1)} ms, ${attach2Ms.toFixed(1)} ms (namespace + veth + address + routes + /etc/hosts)`);
});

test('a failure part-way through attach rolls back: no veth, no namespace, no lease', { skip, timeout: 30_000 }, async () => {
  await createNetwork(ctx, project, 'rb', { pool });
  const name = `${project}-rb-1`;
  // A fixed address outside the subnet is refused before anything is created …
  await assert.rejects(attachContainer(ctx, { project, network: 'rb', container: name, address: '192.0.2.77' }), /not a usable host address/);
  // … and a failing ip command (a bridge that vanished) undoes the namespace and the veth.
  spawnSync('ip', ['link', 'del', bridgeName(project, 'rb')]);
  await assert.rejects(attachContainer(ctx, { project, network: 'rb', container: name }), /ip link set nw[0-9a-f]{12} master nw-[0-9a-f]{10}: .*(Cannot find device|No such device|Device does not exist)/);
  assert.deepEqual(ourLinks([vethName(project, 'rb', name)]), []);
  assert.equal(readFileSync('/proc/self/mountinfo', 'utf8').includes(ctx.stateRoot), false);
  assert.deepEqual((await readNetworks(ctx)).networks[`${project}/rb`].leases, {});
  await removeNetwork(ctx, project, 'rb');
  assert.deepEqual((await readNetworks(ctx)).networks, {});
});
