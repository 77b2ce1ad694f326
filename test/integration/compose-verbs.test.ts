// The daily compose verbs end to end with the real CLI and kernel, on test/fixtures/compose-verbs
// (web, worker, job): ls lists the project with its status; `-p NAME ps` from a directory with no
// compose file; pause freezes the container's cgroup (and unpause thaws it); port prints the address
// a real connection reaches; cp copies both ways (read back from inside the container); wait prints
// the real exit code; events show a start and a die; logs --since/--until; run -v/-w/-u; rm leaves
// no state or cgroup; `-p NAME down` from an empty directory leaves nothing of the project.
// Own state and data roots, a unique project name; `after` removes every trace.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fixture, niwa, niwaBin, needsRoot, needsStage, type CliResult } from '../helpers.js';
import { cgroupsLeft } from './running.js';
import { httpGet, until } from './poll.js';
import { dockerSaveArchive, shellImageEntries } from '../image-fixtures.js';
import { tryRequest } from '../../src/runtime/supervisor/client.js';
import { removeProjectNetworks } from '../../src/runtime/net/attach.js';

const skip = needsRoot() || needsStage();
const P = `cv-${process.pid.toString(36)}${Date.now().toString(36).slice(-4)}`;
const PI = `${P}-img`;
const FILE = fixture('compose-verbs', 'compose.yaml');
let dir = '';
let state = '';
let data = '';
let empty = '';
let port = 0;

const freePort = () => new Promise<number>((resolve, reject) => {
  const s = createServer();
  s.once('error', reject);
  s.listen(0, '127.0.0.1', () => { const p = (s.address() as AddressInfo).port; s.close(() => resolve(p)); });
});
const env = (extra: Record<string, string> = {}) => ({ ...process.env, NIWA_STATE_ROOT: state, NIWA_DATA_ROOT: data, PORT: String(port), NIWA_SUPERVISOR_IDLE_MS: '300', ...extra });
const compose = (args: string[], timeout = 90_000): CliResult => niwa(['compose', '-f', FILE, '-p', P, ...args], { env: env(), timeout });
/** From a directory without any compose file: only -p names the project. */
const bare = (args: string[], timeout = 90_000): CliResult => niwa(['compose', '-p', P, ...args], { env: env(), timeout, cwd: empty });
const ok = (r: CliResult) => { assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`); return r; };
const stateOf = (name: string) => JSON.parse(readFileSync(join(state, P, name, 'state.json'), 'utf8')) as { status: string; pid?: number; cgroups: string[] };
/** Whether the kernel says the container's processes are frozen: v2 cgroup.events `frozen 1` or v1 freezer.state FROZEN. */
function frozen(name: string): boolean {
  return stateOf(name).cgroups.some((cg) => {
    const read = (f: string) => { try { return readFileSync(join(cg, f), 'utf8'); } catch { return ''; } };
    return /^frozen 1$/m.test(read('cgroup.events')) || read('freezer.state').trim() === 'FROZEN';
  });
}

before(async () => {
  if (skip) return;
  dir = mkdtempSync(join(tmpdir(), 'niwa-compose-verbs-'));
  chmodSync(dir, 0o755);
  state = join(dir, 'state');
  data = join(dir, 'data');
  empty = join(dir, 'empty');
  for (const d of [state, data, empty]) mkdirSync(d, { mode: 0o755 });
  port = await freePort();
});

after(async () => {
  if (!dir) return;
  compose(['down', '-v', '-t', '0']);
  if (existsSync(join(dir, 'img', 'compose.yaml'))) niwa(['compose', '-f', join(dir, 'img', 'compose.yaml'), '-p', PI, 'down', '-t', '0'], { env: env(), timeout: 60_000 });
  for (const p of [P, PI]) {
    await tryRequest({ root: state, project: p }, { op: 'shutdown' }).catch(() => undefined);
    try { const pid = JSON.parse(readFileSync(join(state, p, '_supervisor.json'), 'utf8')).pid; process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
    await removeProjectNetworks({ stateRoot: state }, p).catch(() => undefined);
    for (const cg of cgroupsLeft(p)) spawnSync('find', [cg, '-depth', '-type', 'd', '-exec', 'rmdir', '{}', ';']);
  }
  rmSync(dir, { recursive: true, force: true });
});

test('up -d, then ls lists the project with its status and files (table, json, -q)', { skip, timeout: 120_000 }, async () => {
  ok(compose(['up', '-d', 'web', 'worker']));
  const table = ok(niwa(['compose', 'ls'], { env: env(), cwd: empty })).stdout;
  assert.match(table, /^NAME\s+STATUS\s+CONFIG FILES$/m);
  assert.match(table, new RegExp(`^${P}\\s+running\\(2\\)\\s+${FILE.replace(/[.]/g, '\\.')}$`, 'm'));
  const json = JSON.parse(ok(niwa(['compose', 'ls', '--format', 'json'], { env: env() })).stdout) as { Name: string; Status: string; ConfigFiles: string }[];
  assert.deepEqual(json.find((p) => p.Name === P), { Name: P, Status: 'running(2)', ConfigFiles: FILE });
  assert.deepEqual(ok(niwa(['compose', 'ls', '-q'], { env: env() })).stdout.split('\n').filter(Boolean), [P]);
});

test('-p NAME ps works from a directory with no compose file (the recorded containers)', { skip, timeout: 60_000 }, () => {
  const r = ok(bare(['ps', '--json']));
  const rows = JSON.parse(r.stdout) as { name: string; service: string; state: string }[];
  assert.deepEqual(rows.map((x) => [x.name, x.service, x.state]).sort(), [['web-1', 'web', 'running'], ['worker-1', 'worker', 'running']]);
  // exec, top and logs reach the recorded containers too
  assert.equal(ok(bare(['exec', 'worker', 'echo', 'from exec'])).stdout, 'from exec\n');
  assert.match(ok(bare(['top', 'worker'])).stdout, /sleep 600/);
  // a verb that creates containers still needs the file
  const up = bare(['up', '-d']);
  assert.equal(up.status, 2);
  assert.match(up.stderr, /no compose file found[\s\S]*this command creates containers from the compose file/);
});

test('pause freezes the container\'s cgroup and unpause thaws it (-p only)', { skip, timeout: 60_000 }, () => {
  ok(bare(['pause', 'worker']));
  assert.equal(frozen('worker-1'), true, 'the freezer says frozen');
  const ps = JSON.parse(ok(bare(['ps', '--json'])).stdout) as { name: string; state: string }[];
  assert.equal(ps.find((x) => x.name === 'worker-1')?.state, 'paused');
  // a frozen process does not run: its /proc state is not R/S while frozen is what the cgroup says; it answers once thawed
  ok(bare(['unpause', 'worker']));
  assert.equal(frozen('worker-1'), false);
  assert.equal(ok(compose(['exec', 'worker', 'echo', 'alive'])).stdout.trim(), 'alive');
});

test('port prints the host address, and a real connection to it reaches the service', { skip, timeout: 60_000 }, async () => {
  const addr = ok(bare(['port', 'web', '8000'])).stdout.trim();
  assert.equal(addr, `127.0.0.1:${port}`);
  let text = '';
  for (const end = Date.now() + 15_000; !text && Date.now() < end;) {
    text = await httpGet(`http://${addr}/`).catch(() => '');
    if (!text) await new Promise((r) => setTimeout(r, 100));
  }
  assert.match(text, /hello from the verbs fixture/);
  const none = bare(['port', 'web', '9']);
  assert.equal(none.status, 2);
  assert.match(none.stderr, /publishes no port 9\/tcp/);
});

test('cp: a host file into the container and a container file out, both read back', { skip, timeout: 60_000 }, () => {
  const src = join(dir, 'in.txt');
  writeFileSync(src, 'copied in by niwa\n');
  ok(bare(['cp', src, 'worker:/tmp/']));
  assert.equal(ok(compose(['exec', 'worker', 'cat', '/tmp/in.txt'])).stdout, 'copied in by niwa\n');
  // a directory tree, with a symlink kept as a symlink
  const tree = join(dir, 'tree');
  mkdirSync(join(tree, 'sub'), { recursive: true });
  writeFileSync(join(tree, 'sub', 'a'), 'A');
  spawnSync('ln', ['-s', 'sub/a', join(tree, 'link')]);
  ok(bare(['cp', tree, 'worker:/tmp/tree']));
  assert.equal(ok(compose(['exec', 'worker', '/bin/sh', '-c', 'cat /tmp/tree/sub/a; echo; readlink /tmp/tree/link'])).stdout, 'A\nsub/a\n');
  // out: what the container wrote, read on the host
  ok(compose(['exec', 'worker', '/bin/sh', '-c', 'echo made inside > /tmp/out.txt']));
  const dest = join(dir, 'out.txt');
  ok(bare(['cp', 'worker:/tmp/out.txt', dest]));
  assert.equal(readFileSync(dest, 'utf8'), 'made inside\n');
  ok(bare(['cp', 'worker:/tmp/tree', join(dir, 'back')]));
  assert.equal(readFileSync(join(dir, 'back', 'sub', 'a'), 'utf8'), 'A');
  const missing = bare(['cp', 'worker:/no/such/file', dest]);
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /ENOENT/);
});

test('events show a start and a die (with the exit code); wait prints the real exit code', { skip, timeout: 90_000 }, async () => {
  const ev = spawn(process.execPath, [niwaBin, 'compose', '-p', P, 'events', '--json'], { env: env(), cwd: empty, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  ev.stdout.setEncoding('utf8').on('data', (c: string) => { out += c; });
  try {
    // subscribed once a pause of the worker shows (pause and unpause again until it does)
    for (const end = Date.now() + 20_000; !/"action":"pause","id":"worker-1"/.test(out);) {
      if (Date.now() > end) assert.fail(`events never showed a pause:\n${out}`);
      ok(bare(['pause', 'worker']));
      ok(bare(['unpause', 'worker']));
      await new Promise((r) => setTimeout(r, 200));
    }
    const r = niwa(['compose', '-f', FILE, '-p', P, 'up', '-d', 'job'], { env: env({ JOB_SECS: '2' }), timeout: 60_000 });
    assert.equal(r.status, 0, r.stderr);
    const w = bare(['wait', 'job']);
    assert.equal(w.stdout, '3\n', w.stderr);
    assert.equal(w.status, 3, 'wait exits with the (first) container\'s code');
    const events = await until('a die event for job', () => {
      const list = out.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { action: string; id: string; service?: string; attributes: Record<string, string> });
      return list.some((e) => e.id === 'job-1' && e.action === 'die') && list;
    }, 15_000);
    const job = events.filter((e) => e.id === 'job-1');
    assert.deepEqual(job.map((e) => e.action).filter((a) => a === 'start' || a === 'die'), ['start', 'die']);
    assert.equal(job.find((e) => e.action === 'die')!.attributes.exitCode, '3');
    assert.equal(job[0].service, 'job');
  } finally { ev.kill('SIGTERM'); }
  // wait on a container that has ended already answers at once
  assert.equal(bare(['wait', 'job']).stdout, '3\n');
});

test('logs --since / --until select by time', { skip, timeout: 60_000 }, () => {
  assert.match(ok(bare(['logs', '--since', '10m', 'job'])).stdout, /^job-1 \| job ran$/m);
  assert.equal(ok(bare(['logs', '--since', '2099-01-01T00:00:00Z', 'job'])).stdout, '');
  assert.equal(ok(bare(['logs', '--until', '1h', 'job'])).stdout, '');
  const bad = bare(['logs', '--since', 'yesterday-ish']);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--since expects a time or a duration/);
});

test('run -v SRC:DST:ro -w DIR -u USER:GROUP: the one-off sees the bind, the directory and the ids', { skip, timeout: 60_000 }, () => {
  const share = join(dir, 'share');
  mkdirSync(share);
  chmodSync(share, 0o755);
  writeFileSync(join(share, 'f'), 'shared\n');
  chmodSync(join(share, 'f'), 0o644);
  const r = compose(['run', '--rm', '-T', '--no-deps', '-v', `${share}:/mnt/share:ro`, '-w', '/mnt/share', '-u', '65534:65534', 'worker', '/bin/sh', '-c', 'pwd; cat f; id -u; id -g; touch x 2>&1 || true']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^\/mnt\/share\nshared\n65534\n65534\n.*Read-only file system/m);
  const bad = compose(['run', '--rm', '-T', '-v', 'nocolon', 'worker', 'true']);
  assert.equal(bad.status, 125, 'compose run passes the status through: its own usage error is 125, as Docker\'s');
  assert.match(bad.stderr, /-v expects SRC:DST/);
});

test('a compose container\'s /sys shows its own network devices only (a fresh sysfs in its joined netns)', { skip, timeout: 60_000 }, () => {
  const r = compose(['run', '--rm', '-T', '--no-deps', 'worker', '/bin/sh', '-c', 'ls /sys/class/net; grep " /sys " /proc/mounts']);
  assert.equal(r.status, 0, r.stderr);
  const [devs, mount] = [r.stdout.split('\n').filter((l) => l && !l.startsWith('sysfs')), r.stdout.split('\n').find((l) => l.startsWith('sysfs'))];
  assert.deepEqual(devs.sort(), ['eth0', 'lo'], 'not the host\'s interfaces');
  assert.match(mount ?? '', /^sysfs \/sys sysfs ro,/, 'a read-only sysfs of its own');
});

test('compose run exits with the command\'s status, and 125/126/127 for niwa\'s own failures', { skip, timeout: 90_000 }, () => {
  assert.equal(compose(['run', '--rm', '-T', '--no-deps', 'worker', '/bin/sh', '-c', 'exit 4']).status, 4);
  const missing = compose(['run', '--rm', '-T', '--no-deps', 'worker', '/nonexistent']);
  assert.equal(missing.status, 127, missing.stderr);
  assert.match(missing.stderr, /ENOENT/);
  const notExec = compose(['run', '--rm', '-T', '--no-deps', 'worker', '/etc/passwd']);
  assert.equal(notExec.status, 126, notExec.stderr);
  const noService = compose(['run', '--rm', '-T', 'nosuch']);
  assert.equal(noService.status, 125, noService.stderr);
  assert.match(noService.stderr, /no such service: nosuch/);
});

test('rm removes stopped containers only (state and cgroup gone); rm -s stops first', { skip, timeout: 60_000 }, () => {
  const jobCgroups = stateOf('job-1').cgroups;
  const kept = ok(bare(['rm', 'worker']));
  assert.match(kept.stderr, /worker-1: still running, not removed/);
  assert.ok(existsSync(join(state, P, 'worker-1')));
  ok(bare(['rm', 'job']));
  assert.equal(existsSync(join(state, P, 'job-1')), false, 'state of job-1 gone');
  for (const cg of jobCgroups) assert.equal(existsSync(cg), false, `cgroup ${cg} gone`);
  ok(bare(['rm', '-s', '-f', 'worker']));
  assert.equal(existsSync(join(state, P, 'worker-1')), false);
  assert.equal(readdirSync(join(state, P)).filter((n) => !n.startsWith('_')).join(','), 'web-1');
});

test('-p NAME down from an empty directory leaves nothing of the project', { skip, timeout: 60_000 }, async () => {
  ok(bare(['down', '-t', '0']));
  await until('the project directory is gone', () => !existsSync(join(state, P)));
  assert.deepEqual(cgroupsLeft(P), []);
  assert.equal(ok(niwa(['compose', 'ls', '-a', '-q'], { env: env() })).stdout, '');
});

test('down --rmi local keeps an image a service names; down --rmi all removes it from the store', { skip, timeout: 120_000 }, async () => {
  const archive = join(dir, 'app.tar');
  await dockerSaveArchive(archive, { layers: [shellImageEntries()], repoTags: ['verbs/app:1'] });
  ok(niwa(['image', 'load', archive], { env: env() }));
  mkdirSync(join(dir, 'img'));
  const file = join(dir, 'img', 'compose.yaml');
  writeFileSync(file, 'services:\n  app:\n    image: verbs/app:1\n    pull_policy: never\n    command: ["/bin/cat", "/etc/passwd"]\n    restart: "no"\n');
  const c = (args: string[]) => niwa(['compose', '-f', file, '-p', PI, ...args], { env: env(), timeout: 60_000 });
  const listed = () => ok(niwa(['images'], { env: env() })).stdout;
  ok(c(['up', '-d']));
  assert.match(ok(c(['logs', 'app'])).stdout, /^app-1 \| root:x:0:0:/m, 'the service ran on its image');
  ok(c(['down', '--rmi', 'local']));
  assert.match(listed(), /^verbs\/app:1\s/m, 'local: an image named by image: stays');
  ok(c(['up', '-d']));
  const down = ok(c(['down', '--rmi', 'all']));
  assert.match(down.stdout, /Untagged: .*verbs\/app:1/);
  assert.doesNotMatch(listed(), /verbs\/app/);
  assert.match(ok(c(['images'])).stdout, /not pulled/);
  const bad = c(['down', '--rmi', 'some']);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--rmi expects all or local/);
});
