// `compose up --scale web=3` on the real kernel: three containers, each with its own hostname and
// address (read inside each), and another service finds all three under the service name in its
// /etc/hosts; a port published without a host port gets one per replica that `compose port` prints
// and that answers, also after the supervisor was killed and a new one adopted the container;
// `--scale web=1` leaves only web-1 (the others' state, netns, hosts file and veth gone); `down`
// leaves nothing. Own state and data roots, a unique project; `after` removes every trace.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { niwa, needsRoot, needsStage, type CliResult } from '../helpers.js';
import { cgroupsLeft } from './running.js';
import { httpGet } from './poll.js';
import { tryRequest } from '../../src/runtime/supervisor/client.js';
import { removeProjectNetworks } from '../../src/runtime/net/attach.js';
import { vethName } from '../../src/runtime/net/names.js';

const skip = needsRoot() || needsStage();
const dir = skip ? '' : mkdtempSync(join(tmpdir(), 'niwa-scale-'));
const P = `sc${process.pid.toString(36)}`;
const state = join(dir, 'state');
const env = () => ({ ...process.env, NIWA_STATE_ROOT: state, NIWA_DATA_ROOT: join(dir, 'data'), NIWA_SUPERVISOR_IDLE_MS: '300' });
const compose = (args: string[]): CliResult => niwa(['compose', '-f', join(dir, 'compose.yaml'), '-p', P, ...args], { env: env(), timeout: 90_000 });
const ok = (r: CliResult) => { assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`); return r; };
const ps = () => (JSON.parse(ok(compose(['ps', '--json'])).stdout) as { name: string; service: string; state: string; ports: string[] }[]).map((c) => [c.name, c.service, c.state]).sort();
const get = async (addr: string) => {
  let text = '';
  for (const end = Date.now() + 15_000; !text && Date.now() < end;) {
    text = await httpGet(`http://${addr.replace('0.0.0.0', '127.0.0.1')}/`).catch(() => '');
    if (!text) await new Promise((r) => setTimeout(r, 100));
  }
  assert.ok(text, `${addr} answers`);
  return text;
};

after(async () => {
  if (!dir) return;
  compose(['down', '-t', '0']);
  await tryRequest({ root: state, project: P }, { op: 'shutdown' }).catch(() => undefined);
  try { process.kill(JSON.parse(readFileSync(join(state, P, '_supervisor.json'), 'utf8')).pid, 'SIGKILL'); } catch { /* gone */ }
  await removeProjectNetworks({ stateRoot: state }, P).catch(() => undefined);
  for (const cg of cgroupsLeft(P)) spawnSync('find', [cg, '-depth', '-type', 'd', '-exec', 'rmdir', '{}', ';']);
  rmSync(dir, { recursive: true, force: true });
});

test('up -d --scale web=3: three replicas, each its own hostname and address; web resolves to all three; scale down to 1; down leaves nothing', { skip, timeout: 180_000 }, async () => {
  chmodSync(dir, 0o755);
  writeFileSync(join(dir, 'compose.yaml'), [
    'services:',
    '  web:',
    '    command: ["/bin/sh", "-c", "mkdir -p /tmp/site && hostname > /tmp/site/index.html && exec python3 -m http.server 8000 --directory /tmp/site"]',
    '    ports: ["8000"]',
    '    stop_grace_period: 1s',
    '  client:',
    '    command: ["sleep", "600"]',
    '    stop_grace_period: 1s',
    '',
  ].join('\n'));
  ok(compose(['up', '-d', '--scale', 'web=3']));
  assert.deepEqual(ps(), [['client-1', 'client', 'running'], ['web-1', 'web', 'running'], ['web-2', 'web', 'running'], ['web-3', 'web', 'running']]);
  // inside each replica: its own hostname and its own address on eth0
  const addresses: string[] = [];
  for (const i of [1, 2, 3]) {
    const out = ok(compose(['exec', '--index', String(i), 'web', '/bin/sh', '-c', 'hostname; cat /proc/net/fib_trie'])).stdout;
    assert.equal(out.split('\n')[0], `web-${i}`);
    const mine = [...new Set([...out.matchAll(/\|-- (10\.\d+\.\d+\.\d+)\n\s+\/32 host LOCAL/g)].map((m) => m[1]))]; // (listed in the main and local tables)
    assert.equal(mine.length, 1, out);
    addresses.push(mine[0]);
  }
  assert.equal(new Set(addresses).size, 3, 'three different addresses');
  // the client's /etc/hosts lists the service name once per replica, at each replica's address
  const hosts = ok(compose(['exec', 'client', 'cat', '/etc/hosts'])).stdout;
  const web = hosts.split('\n').filter((l) => /\sweb(\s|$)/.test(l)).map((l) => l.split('\t')[0]).sort();
  assert.deepEqual(web, [...addresses].sort(), hosts);
  // and the client reaches each replica at that address (its page says its hostname)
  for (const [i, a] of addresses.entries()) {
    assert.equal(ok(compose(['exec', 'client', 'python3', '-c', `import urllib.request;print(urllib.request.urlopen("http://${a}:8000/").read().decode().strip())`])).stdout.trim(), `web-${i + 1}`);
  }
  // a port without a host port: each replica its own, printed by compose port, and it answers
  const ports = [1, 2, 3].map((i) => ok(compose(['port', '--index', String(i), 'web', '8000'])).stdout.trim());
  assert.equal(new Set(ports).size, 3, ports.join(' '));
  for (const [i, p] of ports.entries()) {
    assert.match(p, /^0\.0\.0\.0:\d+$/);
    assert.notEqual(p, '0.0.0.0:0');
    assert.equal((await get(p)).trim(), `web-${i + 1}`);
  }
  // a new supervisor (the old one killed) adopts the containers and publishes the same ports again
  process.kill(JSON.parse(readFileSync(join(state, P, '_supervisor.json'), 'utf8')).pid, 'SIGKILL');
  ok(compose(['up', '-d', '--scale', 'web=3']));
  assert.equal(ok(compose(['port', 'web', '8000'])).stdout.trim(), ports[0]);
  assert.equal((await get(ports[0])).trim(), 'web-1');
  // niwa inspect shows the chosen port too; cp --index reaches one replica
  assert.equal(ok(niwa(['inspect', '--project', P, 'web-2', '-f', 'network.ports'], { env: env() })).stdout.trim(), JSON.stringify([`${ports[1]}->8000/tcp`]));
  ok(compose(['cp', '--index', '3', 'web:/tmp/site/index.html', join(dir, 'from-3.html')]));
  assert.equal(readFileSync(join(dir, 'from-3.html'), 'utf8').trim(), 'web-3');

  // scale down: only web-1 stays (the same process), the others and their network state are gone
  ok(compose(['up', '-d', '--scale', 'web=1']));
  assert.deepEqual(ps(), [['client-1', 'client', 'running'], ['web-1', 'web', 'running']]);
  assert.deepEqual(readdirSync(join(state, P)).filter((n) => !n.startsWith('_')).sort(), ['client-1', 'web-1']);
  assert.deepEqual(readdirSync(join(state, 'net', 'ns', P)).sort(), ['client-1', 'web-1']);
  for (const n of ['web-2', 'web-3']) {
    assert.equal(spawnSync('ip', ['link', 'show', vethName(P, 'default', n)]).status, 1, `${n}'s veth is gone`);
  }
  const after1 = ok(compose(['exec', 'client', 'cat', '/etc/hosts'])).stdout;
  assert.deepEqual(after1.split('\n').filter((l) => /\sweb(\s|$)/.test(l)).map((l) => l.split('\t')[0]), [addresses[0]]);

  ok(compose(['down', '-t', '0']));
  assert.equal(existsSync(join(state, P)), false, 'no project state');
  assert.deepEqual(readdirSync(join(state, 'net', 'ns')).filter((n) => n === P), []);
  assert.equal(spawnSync('ip', ['link', 'show', vethName(P, 'default', 'web-1')]).status, 1);
  assert.deepEqual(cgroupsLeft(P).filter((cg) => readdirSync(cg, { withFileTypes: true }).some((f) => f.isDirectory())), [], 'no container cgroup left');
});
