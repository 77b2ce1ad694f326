// Containers from images, end to end through the CLI: images built here (test/image-fixtures.ts),
// pushed to a real registry on 127.0.0.1 (Debian's docker-registry), pulled on demand by `niwa run`
// and `niwa compose up`, and checked from inside the container: files of the layers, whiteouts and
// an opaque directory, the image config's Entrypoint/Cmd/Env/User/WorkingDir/Healthcheck/Volumes,
// a read-only root, the copy snapshotter, schema 2 and zstd images; a compose project with two image
// services and a published port answering on the host. Own state and data roots; after each run no
// overlay mount, upper dir or container directory is left, and `image prune` keeps only what is named.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fixture, niwa, needsRoot, needsStage, type CliResult } from '../helpers.js';
import { dockerSaveArchive, hostFiles, writeOciLayout, shellImageEntries, type FixtureEntry } from '../image-fixtures.js';
import { hostPlatform } from '../../src/image/platform.js';
import { startRegistry, hasRegistryTools, hasHtpasswd, freePort, type TestRegistry } from '../registry.js';
import { cgroupsLeft } from './running.js';

const skip = needsRoot() || needsStage() || hasRegistryTools() || (spawnSync('sh', ['-c', 'command -v cc']).status !== 0 ? 'no C compiler' : false);
const uniq = `${process.pid.toString(36)}${Date.now().toString(36).slice(-4)}`;
const PROJECT = `img-${uniq}`;
let work = '';
let state = '';
let data = '';
let reg: TestRegistry | undefined;
let port = 0;

const env = (extra: Record<string, string> = {}) => ({ ...process.env, NIWA_STATE_ROOT: state, NIWA_DATA_ROOT: data, NIWA_SUPERVISOR_IDLE_MS: '300', ...extra });
const run = (args: string[], extra: Record<string, string> = {}, timeout = 60_000): CliResult => niwa(args, { env: env(extra), timeout });
const overlaysOf = (root: string) => readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes(root));
const containersLeft = () => (existsSync(join(data, 'containers')) ? readdirSync(join(data, 'containers'), { recursive: true }) : []);

function spec(name: string, body: string): string {
  const f = join(work, `${name}.container.yaml`);
  writeFileSync(f, `name: ${name}\n${body.includes('namespaces:') ? '' : 'namespaces: [mount, pid, uts, ipc, net]\n'}${body}`);
  return f;
}

const LOWER: FixtureEntry[] = [
  { name: 'etc/motd', content: 'from the lower layer\n' },
  { name: 'opt/', type: 'dir' },
  { name: 'opt/keep/', type: 'dir' },
  { name: 'opt/keep/a', content: 'a\n' },
  { name: 'opt/opq/', type: 'dir' },
  { name: 'opt/opq/old', content: 'old\n' },
  { name: 'usr/local/bin/', type: 'dir' },
  { name: 'usr/local/bin/suid-marker', content: '#!/bin/sh\n', mode: 0o4755 },
];
const UPPER: FixtureEntry[] = [
  { name: 'etc/.wh.motd', content: '' },
  { name: 'opt/opq/', type: 'dir' },
  { name: 'opt/opq/.wh..wh..opq', content: '' },
  { name: 'opt/opq/new', content: 'new\n' },
  { name: 'srv/', type: 'dir', uid: 65534, gid: 65534 },
  { name: 'srv/greeting', content: 'hello from the top layer\n' },
];
const CONFIG = {
  Entrypoint: ['/bin/sh', '-c'],
  Cmd: ['echo "default cmd as $(id -u):$(id -g) in $(pwd) with $FROM_IMAGE"'],
  Env: ['FROM_IMAGE=image-env', 'PATH=/usr/local/bin:/usr/bin:/bin', 'OVERRIDDEN=image'],
  WorkingDir: '/srv',
  User: 'nobody',
  Volumes: { '/data': {} },
  StopSignal: 'SIGQUIT',
  Labels: { 'org.example.team': 'niwa' },
  Healthcheck: { Test: ['CMD-SHELL', 'test -f /tmp/ready'], Interval: 300_000_000, Timeout: 1_000_000_000, Retries: 2 },
};

before(async () => {
  if (skip) return;
  work = mkdtempSync(join(tmpdir(), 'niwa-imgrun-'));
  chmodSync(work, 0o711); // as /var/lib is: a user namespace's root (an unprivileged host uid) passes through to the data root
  state = join(work, 'state');
  data = join(work, 'data');
  mkdirSync(state);
  reg = await startRegistry();
  const tools = hostFiles(['/bin/head', '/bin/tr', '/bin/grep', '/bin/cut', '/bin/touch', '/bin/sed', '/bin/sleep'].filter((p) => existsSync(p)));
  const base = await writeOciLayout(join(work, 'base'), { layers: [[...shellImageEntries(), ...tools], LOWER, UPPER], config: CONFIG, tag: '1' });
  reg.push(base.dir, '1', 'test/base:1');
  reg.push(base.dir, '1', 'test/base-v2s2:1', { format: 'v2s2' });
  const z = await writeOciLayout(join(work, 'zstd'), { layers: [shellImageEntries(), UPPER], compression: 'zstd', config: { Cmd: ['/bin/cat', '/srv/greeting'] }, tag: '1' });
  reg.push(z.dir, '1', 'test/zstd:1');
  // the web image: a static HTTP server; GREETING from the image's Env, the command from Entrypoint + Cmd
  const bin = join(work, 'nwhttp');
  const cc = spawnSync('cc', ['-static', '-O2', '-o', bin, fixture('images', 'nwhttp.c')], { encoding: 'utf8' });
  assert.equal(cc.status, 0, cc.stderr);
  const web = await writeOciLayout(join(work, 'web'), {
    layers: [[{ name: 'bin/', type: 'dir' }, { name: 'bin/nwhttp', content: readFileSync(bin), mode: 0o755 }, { name: 'etc/', type: 'dir' }, { name: 'etc/passwd', content: 'root:x:0:0::/:/bin/nwhttp\nweb:x:4242:4242::/www:/bin/nwhttp\n' }, { name: 'www/', type: 'dir' }]],
    config: { Entrypoint: ['/bin/nwhttp'], Cmd: ['serve', '8080'], Env: ['GREETING=the web image'], User: 'web', WorkingDir: '/www', ExposedPorts: { '8080/tcp': {} } },
    tag: '1',
  });
  reg.push(web.dir, '1', 'test/web:1');
  port = await freePort();
});

after(async () => {
  if (skip) return;
  run(['compose', '-f', join(work, 'compose.yaml'), '-p', PROJECT, 'down', '-v']);
  for (const n of ['detached']) run(['rm', '-f', '--project', PROJECT, n]);
  await reg?.stop();
  rmSync(work, { recursive: true, force: true });
});

test('niwa run pulls on demand and runs the image: layers, whiteouts, opaque dirs, config defaults', { skip }, () => {
  const f = spec('probe', `rootfs: {image: ${reg!.host}/test/base:1}\nprocess:\n  env: {OVERRIDDEN: spec}\n  args:\n    - |\n      cat /srv/greeting; echo "motd:$(cat /etc/motd 2>&1 | head -c 40)"; echo "opq:$(ls /opt/opq | tr '\\n' ' ')"; echo "keep:$(cat /opt/keep/a)"
      echo "id:$(id -u):$(id -g) cwd:$(pwd) env:$FROM_IMAGE/$OVERRIDDEN path:$PATH"
      echo "root:$(grep ' / / ' /proc/self/mountinfo | grep -o 'overlay' | head -1)"
      echo "suid:$(ls -l /usr/local/bin/suid-marker | cut -c1-10)"
      touch /tmp/written-by-container && echo wrote
      grep -c ' /data ' /proc/self/mountinfo | sed 's/^/data-mounts:/'
`);
  const r = run(['run', f]);
  assert.equal(r.status, 0, r.stderr + r.stdout);
  const out = r.stdout;
  assert.match(out, /^hello from the top layer$/m, 'a file of the top layer');
  assert.match(out, /^motd:cat: \/etc\/motd: No such file/m, 'the whiteout hides the lower layer\'s file');
  assert.match(out, /^opq:new $/m, 'the opaque dir hides what was below it');
  assert.match(out, /^keep:a$/m);
  // the spec's args replace Cmd; Entrypoint /bin/sh -c stays. User nobody from the image's passwd.
  assert.match(out, /^id:65534:65534 cwd:\/srv env:image-env\/spec path:\/usr\/local\/bin:\/usr\/bin:\/bin$/m);
  assert.match(out, /^root:overlay$/m, 'the root is an overlay mount');
  assert.match(out, /^suid:-rwsr-xr-x$/m, 'the setuid bit survived the unpack');
  assert.match(out, /^wrote$/m);
  assert.match(out, /^data-mounts:1$/m, 'the image\'s VOLUME /data is a mount of its own');
  assert.match(r.stderr, /test\/base:1/, 'the pull said what it pulled');
  // nothing written reached a shared layer; the container's own directory is gone; no mount left
  const layers = join(data, 'images', 'layers', 'sha256');
  for (const l of readdirSync(layers)) assert.ok(!existsSync(join(layers, l, 'tmp', 'written-by-container')), l);
  assert.deepEqual(containersLeft(), []);
  assert.deepEqual(overlaysOf(data), []);
});

test('with no args the image\'s Entrypoint + Cmd run, as its user, in its WorkingDir; a second run pulls nothing', { skip }, async () => {
  const f = spec('defaults', `rootfs: {image: ${reg!.host}/test/base:1}\n`);
  const gets = await reg!.blobGets();
  const r = run(['run', f]);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'default cmd as 65534:65534 in /srv with image-env');
  assert.equal(await reg!.blobGets(), gets, 'no blob was downloaded again');
});

test('niwa plan shows the overlay mount and where each process field came from', { skip }, () => {
  const f = spec('planned', `rootfs: {image: ${reg!.host}/test/base:1}\n`);
  const r = run(['plan', f]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^image: .*test\/base:1@sha256:[0-9a-f]{64}$/m);
  assert.match(r.stdout, /from the image config: .*process\.args ← Entrypoint \+ Cmd.*process\.user ← User/m);
  assert.match(r.stdout, /mount\(overlay, .*rootfs-mnt, overlay, 0, "?lowerdir=/);
  assert.match(r.stdout, /rm -r .*containers\/default\/planned/);
  const j = JSON.parse(run(['plan', '--json', f]).stdout);
  assert.equal(j.image.ref, `${reg!.host}/test/base:1`);
  const ov = j.steps.find((s: { fstype?: string }) => s.fstype === 'overlay');
  assert.equal(ov.data.split(',')[0].split('=')[1].split(':').length, 3, 'three layers, top first');
});

test('a read-only image root refuses writes; the copy snapshotter gives the same view without overlayfs', { skip }, () => {
  const ro = spec('ro', `rootfs: {image: ${reg!.host}/test/base:1, readonly: true}\nprocess:\n  user: 0\n  args: ['touch /x 2>&1; cat /srv/greeting']\n`);
  const r = run(['run', ro]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /Read-only file system/);
  assert.match(r.stdout, /hello from the top layer/);
  const cp = spec('copied', `rootfs: {image: ${reg!.host}/test/base:1}\nprocess:\n  args: ['echo "motd:$(cat /etc/motd 2>/dev/null)"; ls /opt/opq; cat /srv/greeting; grep " / / " /proc/self/mountinfo | grep -c overlay || true']\n`);
  const plan = run(['plan', cp], { NIWA_SNAPSHOTTER: 'copy' });
  assert.match(plan.stdout, /copy 3 layers → .*\/rootfs/);
  const c = run(['run', cp], { NIWA_SNAPSHOTTER: 'copy' });
  assert.equal(c.status, 0, c.stderr);
  assert.deepEqual(c.stdout.trim().split('\n'), ['motd:', 'new', 'hello from the top layer', '0']);
  assert.deepEqual(containersLeft(), [], 'the copied root is removed with the container');
});

test('an image with more layers than one overlay option page holds: the lower dirs are named relative to their directory', { skip }, async () => {
  const layers: FixtureEntry[][] = [[...shellImageEntries(), ...hostFiles(['/bin/grep'].filter((p) => existsSync(p))), { name: 'layers/', type: 'dir' }]];
  for (let i = 1; i <= 44; i++) layers.push([{ name: 'layers/', type: 'dir' }, { name: `layers/${i}`, content: `${i}\n` }]);
  const many = await writeOciLayout(join(work, 'many'), { layers, config: { Cmd: ['/bin/sh', '-c', 'ls /layers | grep -c .; cat /layers/44'] }, tag: '1' });
  reg!.push(many.dir, '1', 'test/many:1');
  const f = spec('many', `rootfs: {image: ${reg!.host}/test/many:1}\n`);
  const j = JSON.parse(run(['plan', '--json', f]).stdout) as { steps: { op: string; fstype?: string; data?: string; path?: string }[] };
  const i = j.steps.findIndex((s) => s.fstype === 'overlay');
  assert.ok(i > 0, 'an overlay mount');
  assert.equal(j.steps[i - 1].op, 'chdir');
  assert.equal(j.steps[i - 1].path, join(data, 'images', 'layers', 'sha256'));
  assert.ok(!j.steps[i].data!.startsWith('lowerdir=/'), 'relative lower dirs');
  const r = run(['run', f]);
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(r.stdout.trim().split('\n'), ['44', '44']);
});

test('a user namespace mapping root to 100000: the image\'s files are the namespace\'s, writes work, the layers stay host-owned', { skip }, () => {
  const f = spec('userns', `namespaces: [user, mount, pid, uts, ipc, net]\nuid_map: [{container_id: 0, host_id: 100000, size: 65536}]\ngid_map: [{container_id: 0, host_id: 100000, size: 65536}]\nrootfs: {image: ${reg!.host}/test/base:1}\nprocess:\n  user: 0\n  args: ['cat /proc/self/uid_map | tr -s " "; ls -lnd /srv | tr -s " " | cut -d" " -f3,4; echo hi > /tmp/w && cat /tmp/w; ls -ln /srv/greeting | tr -s " " | cut -d" " -f3,4']\n`);
  const r = run(['run', f]);
  assert.equal(r.status, 0, r.stderr + r.stdout);
  assert.deepEqual(r.stdout.trim().split('\n').map((l) => l.trim()), ['0 100000 65536', '65534 65534', 'hi', '0 0'], 'srv is nobody-owned in the image; files of root are the namespace root\'s');
  const layers = join(data, 'images', 'layers', 'sha256');
  for (const l of readdirSync(layers)) assert.ok(!existsSync(join(layers, l, 'tmp', 'w')));
  assert.deepEqual(containersLeft(), []);
});

test('run from an index of several platforms, by digest, from a registry with basic auth, and from a docker save archive', { skip: skip || hasHtpasswd() }, async () => {
  const layers: FixtureEntry[][] = [[...shellImageEntries()], [{ name: 'srv/', type: 'dir' }, { name: 'srv/greeting', content: 'from the index\n' }]];
  const host = hostPlatform();
  const other = host.architecture === 'arm64' ? { os: 'linux', architecture: 'amd64' } : { os: 'linux', architecture: 'arm64' };
  const idx = await writeOciLayout(join(work, 'index'), { layers, platforms: [other, host], config: { Cmd: ['/bin/cat', '/srv/greeting'] }, tag: '1' });
  reg!.push(idx.dir, '1', 'test/multi:1', { all: true });
  const r1 = run(['run', spec('multi', `rootfs: {image: ${reg!.host}/test/multi:1}\n`)]);
  assert.equal(r1.status, 0, r1.stderr);
  assert.equal(r1.stdout, 'from the index\n');
  const inspect = JSON.parse(run(['image', 'inspect', `${reg!.host}/test/multi:1`]).stdout)[0];
  assert.equal(inspect.config.architecture, host.architecture, 'the host\'s platform was chosen');
  // by digest: the manifest digest of the base image
  const base = JSON.parse(run(['image', 'inspect', `${reg!.host}/test/base:1`]).stdout)[0];
  const byDigest = run(['run', spec('bydigest', `rootfs: {image: "${reg!.host}/test/base@${base.digest}"}\nprocess: {args: ['cat /srv/greeting']}\n`)]);
  assert.equal(byDigest.status, 0, byDigest.stderr);
  assert.equal(byDigest.stdout, 'hello from the top layer\n');
  // a registry with basic auth: refused without credentials, runs after niwa login
  const priv = await startRegistry({ htpasswd: { user: 'alice', password: 'secret pw' } });
  try {
    priv.push(idx.dir, '1', 'private/app:1', { all: true });
    const home = join(work, 'home');
    mkdirSync(home, { recursive: true });
    const authEnv = { DOCKER_CONFIG: join(home, 'docker'), REGISTRY_AUTH_FILE: '', XDG_RUNTIME_DIR: home };
    const f = spec('private', `rootfs: {image: ${priv.host}/private/app:1}\n`);
    const no = run(['run', f], authEnv);
    assert.equal(no.status, 125, no.stderr);
    assert.match(no.stderr, /niwa login/);
    const login = niwa(['login', '-u', 'alice', '--password-stdin', priv.host], { env: env(authEnv), input: 'secret pw\n' });
    assert.equal(login.status, 0, login.stderr);
    const yes = run(['run', f], authEnv);
    assert.equal(yes.status, 0, yes.stderr);
    assert.equal(yes.stdout, 'from the index\n');
  } finally { await priv.stop(); }
  // a docker save archive, loaded, then run by its short name
  await dockerSaveArchive(join(work, 'saved.tar'), { layers, config: { Cmd: ['/bin/sh', '-c', 'echo saved; cat /srv/greeting'] }, repoTags: ['saved/app:2'] });
  const load = run(['image', 'load', join(work, 'saved.tar')]);
  assert.equal(load.status, 0, load.stderr);
  const saved = run(['run', '--pull', 'never', spec('saved', 'rootfs: {image: saved/app:2}\n')]);
  assert.equal(saved.status, 0, saved.stderr);
  assert.equal(saved.stdout, 'saved\nfrom the index\n');
});

test('Docker schema 2 and zstd images run', { skip }, () => {
  const v2 = spec('v2', `rootfs: {image: ${reg!.host}/test/base-v2s2:1}\nprocess: {args: ['cat /srv/greeting']}\n`);
  const r = run(['run', v2]);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'hello from the top layer');
  const z = spec('z', `rootfs: {image: ${reg!.host}/test/zstd:1}\n`);
  const rz = run(['run', z]);
  assert.equal(rz.status, 0, rz.stderr);
  assert.equal(rz.stdout.trim(), 'hello from the top layer');
});

test('detached: the image\'s healthcheck runs; image rm refuses an image in use; rm -f leaves nothing', { skip }, async () => {
  const f = spec('detached', `rootfs: {image: ${reg!.host}/test/base:1}\nprocess: {args: ['touch /tmp/ready; exec sleep 60']}\n`);
  const r = run(['run', '-d', '--project', PROJECT, f]);
  assert.equal(r.status, 0, r.stderr);
  let health = '';
  for (let i = 0; i < 60 && health !== 'healthy'; i++) {
    await new Promise((res) => setTimeout(res, 200));
    const ps = JSON.parse(run(['ps', '--project', PROJECT, '--json']).stdout) as { name: string; health: string }[];
    health = ps.find((c) => c.name === 'detached')?.health ?? '';
  }
  assert.equal(health, 'healthy', 'the Healthcheck of the image config ran');
  const rm = run(['image', 'rm', `${reg!.host}/test/base:1`]);
  assert.notEqual(rm.status, 0, 'in use');
  assert.match(rm.stderr, /detached|in use/);
  assert.equal(run(['rm', '-f', '--project', PROJECT, 'detached']).status, 0);
  assert.deepEqual(containersLeft(), []);
  assert.deepEqual(overlaysOf(data), []);
  assert.deepEqual(cgroupsLeft(PROJECT), []);
});

test('compose: two image services, a published port answers on the host, names resolve between them', { skip, timeout: 120_000 }, async () => {
  writeFileSync(join(work, 'compose.yaml'), [
    'services:',
    '  web:',
    `    image: ${reg!.host}/test/web:1`,
    `    ports: ["127.0.0.1:${port}:8080"]`,
    '  client:',
    `    image: ${reg!.host}/test/web:1`,
    '    entrypoint: [/bin/nwhttp, get]',
    '    command: [web, "8080"]',
    '    user: "0"',
    '    depends_on: [web]',
    '    restart: on-failure:20',
    '',
  ].join('\n'));
  const cf = ['compose', '-f', join(work, 'compose.yaml'), '-p', PROJECT];
  const before = JSON.parse(run([...cf, 'images', '--json']).stdout) as { services: string[]; image: string; digest: string | null }[];
  assert.deepEqual(before.map((r) => [r.services, r.image, r.digest]), [[['web', 'client'], `${reg!.host}/test/web:1`, null]], 'one image for two services, not pulled yet');
  const pulled = run([...cf, 'pull']);
  assert.equal(pulled.status, 0, pulled.stderr);
  const after = JSON.parse(run([...cf, 'images', '--json']).stdout) as { digest: string | null; size: number | null }[];
  assert.match(after[0].digest ?? '', /^sha256:[0-9a-f]{64}$/);
  assert.ok((after[0].size ?? 0) > 0);
  const up = run([...cf, 'up', '-d'], {}, 120_000);
  assert.equal(up.status, 0, up.stderr);
  const body = await new Promise<string>((resolve, reject) => {
    const tryGet = (n: number) => get(`http://127.0.0.1:${port}/`, (res) => { let b = ''; res.on('data', (d) => (b += d)); res.on('end', () => resolve(b)); })
      .on('error', (e) => (n > 0 ? setTimeout(() => tryGet(n - 1), 200) : reject(e)));
    tryGet(50);
  });
  assert.equal(body, 'hello from the web image (uid 4242, cwd /www)\n', 'Entrypoint + Cmd, Env, User and WorkingDir of the image');
  let logs = '';
  for (let i = 0; i < 50 && !/hello from/.test(logs); i++) {
    await new Promise((res) => setTimeout(res, 200));
    logs = run(['compose', '-f', join(work, 'compose.yaml'), '-p', PROJECT, 'logs', 'client']).stdout;
  }
  assert.match(logs, /hello from the web image \(uid 4242, cwd \/www\)/, 'client reached web by name (entrypoint and command replaced)');
  const down = run(['compose', '-f', join(work, 'compose.yaml'), '-p', PROJECT, 'down', '-v']);
  assert.equal(down.status, 0, down.stderr);
  assert.deepEqual(containersLeft(), []);
  assert.deepEqual(overlaysOf(data), []);
});

test('image prune after every container is gone keeps only what named images reference', { skip }, () => {
  const before = run(['image', 'ls', '--json']);
  assert.equal(before.status, 0, before.stderr);
  const named = JSON.parse(before.stdout) as unknown[];
  assert.ok(named.length >= 4);
  assert.equal(run(['image', 'rm', `${reg!.host}/test/zstd:1`]).status, 0);
  const p = run(['image', 'prune']);
  assert.equal(p.status, 0, p.stderr);
  assert.match(p.stdout + p.stderr, /freed/i);
  // every blob left is one a named image still needs
  const inspect = (JSON.parse(run(['image', 'ls', '--json']).stdout) as { digest: string }[]).map((i) => JSON.parse(run(['image', 'inspect', i.digest]).stdout)[0]);
  const needed = new Set<string>(inspect.flatMap((i) => [i.digest, i.configDigest, ...i.layers.map((l: { digest: string }) => l.digest)]));
  const blobs = readdirSync(join(data, 'images', 'blobs', 'sha256')).map((h) => `sha256:${h}`);
  for (const b of blobs) assert.ok(needed.has(b), `unreferenced blob ${b} left`);
});
