// Images and builds are steps of the compose project's plan, executed by the project engine, end to
// end against a real registry on 127.0.0.1 (test/registry.ts): `compose plan` on a fresh data root
// fetches a manifest and a config and downloads no layer; `compose up --json` pulls as a plan step
// (project-step op image ok before the launch), builds a `build:` service as a plan step (op build),
// and the containers read a file of an image layer and run with the image's and the built image's
// USER and WORKDIR (checked inside); `compose pull` and `compose build` run only their steps. Own
// state and data roots; nothing left behind.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { niwa, needsRoot, needsStage, type CliResult } from '../helpers.js';
import { hostFiles, shellImageEntries, writeOciLayout } from '../image-fixtures.js';
import { startRegistry, hasRegistryTools, type TestRegistry } from '../registry.js';
import { cgroupsLeft } from './running.js';

const skip = needsRoot() || needsStage() || hasRegistryTools();
const P = `cimg${process.pid.toString(36)}`;
let work = '';
let state = '';
let data = '';
let reg: TestRegistry | undefined;
let IMAGE = '';
let layerDigests: string[] = [];

const env = () => ({ ...process.env, NIWA_STATE_ROOT: state, NIWA_DATA_ROOT: data, NIWA_SUPERVISOR_IDLE_MS: '300' });
const compose = (args: string[], timeout = 120_000): CliResult => niwa(['compose', '-f', join(work, 'app', 'compose.yaml'), '-p', P, ...args], { env: env(), timeout });
const blobs = () => (existsSync(join(data, 'images', 'blobs', 'sha256')) ? readdirSync(join(data, 'images', 'blobs', 'sha256')).map((h) => `sha256:${h}`) : []);
const layersUnpacked = () => (existsSync(join(data, 'images', 'layers', 'sha256')) ? readdirSync(join(data, 'images', 'layers', 'sha256')) : []);
interface Ev { type: string; op?: string; ok?: boolean; index?: number; service?: string; container?: string; line?: string; event?: { type: string } }
const events = (r: CliResult) => r.stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Ev);

before(async () => {
  if (skip) return;
  work = mkdtempSync(join(tmpdir(), 'niwa-cimg-'));
  chmodSync(work, 0o711);
  state = join(work, 'state');
  data = join(work, 'data');
  mkdirSync(state);
  reg = await startRegistry();
  const tools = hostFiles(['/bin/pwd', '/bin/mkdir', '/bin/sleep'].filter((p) => existsSync(p)));
  const layout = await writeOciLayout(join(work, 'base'), {
    layers: [[...shellImageEntries(), ...tools], [{ name: 'srv/', type: 'dir' }, { name: 'srv/greeting', content: 'from a layer of the image\n' }]],
    config: { Cmd: ['/bin/sh', '-c', 'cat /srv/greeting; echo "uid $(id -u) cwd $(pwd)"'], Env: ['PATH=/usr/bin:/bin'], User: 'nobody', WorkingDir: '/srv' },
    tag: '1',
  });
  reg.push(layout.dir, '1', 'test/base:1');
  IMAGE = `${reg.host}/test/base:1`;
  const index = JSON.parse(readFileSync(join(layout.dir, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
  const manifest = JSON.parse(readFileSync(join(layout.dir, 'blobs', 'sha256', index.manifests[0].digest.slice(7)), 'utf8')) as { layers: { digest: string }[] };
  layerDigests = manifest.layers.map((l) => l.digest);
  mkdirSync(join(work, 'app', 'ctx'), { recursive: true });
  writeFileSync(join(work, 'app', 'ctx', 'Dockerfile'), `FROM ${IMAGE}\nUSER root\nRUN mkdir -p /work && echo built > /work/mark\nWORKDIR /work\nUSER nobody\nCMD ["/bin/sh", "-c", "cat /work/mark; echo \\"uid $(id -u) cwd $(pwd)\\""]\n`);
  writeFileSync(join(work, 'app', 'compose.yaml'), [
    'services:',
    '  img:',
    `    image: ${IMAGE}`,
    '  app:',
    '    build: ./ctx',
    '    depends_on: [img]',
    '',
  ].join('\n'));
});

after(async () => {
  if (skip) return;
  compose(['down', '-v']);
  await reg?.stop();
  rmSync(work, { recursive: true, force: true });
});

test('compose plan on a fresh data root downloads no layer: the image step says what the pull will download', { skip }, async () => {
  const before = await reg!.blobGets();
  const r = compose(['plan']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`pull ${reg!.host.replace(/\./g, '\\.')}/test/base@sha256:[0-9a-f]{64} — 2 layers, [0-9.]+ [KM]?B \\(for img\\)`));
  assert.match(r.stdout, /build cimg\w+-app from .*\/ctx/);
  assert.match(r.stdout, /launch app-1: launch plan compiled after step \d+ builds cimg\w+-app/);
  assert.match(r.stdout, /launch img-1: launch plan compiled after step 0 pulls /, 'USER nobody needs the image\'s /etc/passwd: compiled after the pull');
  assert.equal(await reg!.blobGets() - before, 1, 'only the config blob was fetched');
  for (const d of layerDigests) assert.ok(!blobs().includes(d), `layer ${d} was not downloaded`);
  assert.deepEqual(layersUnpacked(), []);
});

test('compose up pulls and builds as plan steps; the containers run with the image\'s and the built image\'s USER and WORKDIR', { skip, timeout: 180_000 }, async () => {
  const r = compose(['up', '--json'], 180_000);
  assert.equal(r.status, 0, r.stderr + r.stdout.slice(-3000));
  const ev = events(r);
  const steps = ev.filter((e) => e.type === 'project-step');
  const at = (op: string, service?: string) => steps.findIndex((e) => e.op === op && e.ok && (!service || e.service === service));
  assert.ok(at('image') >= 0, 'the image step ran');
  assert.ok(at('build') >= 0, 'the build step ran');
  assert.ok(at('image') < at('launch', 'img') && at('build') < at('launch', 'app'), 'pull and build before the launches');
  assert.ok(ev.some((e) => e.type === 'pull' && e.event?.type === 'done'), 'pull progress as events');
  assert.ok(ev.some((e) => e.type === 'build' && e.event?.type === 'done'), 'build progress as events');
  const logs = (c: string) => ev.filter((e) => e.type === 'log' && e.container === c).map((e) => e.line).join('\n');
  assert.match(logs('img-1'), /from a layer of the image/, 'a file of an image layer, read inside');
  assert.match(logs('img-1'), /uid 65534 cwd \/srv/, 'the image\'s USER nobody and WorkingDir');
  assert.match(logs('app-1'), /built/);
  assert.match(logs('app-1'), /uid 65534 cwd \/work/, 'the built image\'s USER and WORKDIR');
  for (const d of layerDigests) assert.ok(blobs().includes(d), `layer ${d} pulled`);
  const down = compose(['down', '-v']);
  assert.equal(down.status, 0, down.stderr);
  assert.deepEqual(cgroupsLeft(P), []);
});

test('compose pull runs only the image steps; compose build only the build steps', { skip, timeout: 180_000 }, () => {
  rmSync(data, { recursive: true, force: true });
  const pulled = compose(['pull']);
  assert.equal(pulled.status, 0, pulled.stderr);
  for (const d of layerDigests) assert.ok(blobs().includes(d), `layer ${d} pulled`);
  const store = () => spawnSync('ls', [join(data, 'images')]).stdout.toString();
  assert.ok(store().length > 0);
  assert.ok(!existsSync(join(state, P)) || readdirSync(join(state, P)).filter((f) => !f.startsWith('_')).length === 0, 'no container was made');
  const built = compose(['build']);
  assert.equal(built.status, 0, built.stderr);
  assert.match(built.stdout, new RegExp(`^${P}-app sha256:[0-9a-f]{64}$`, 'm'));
  assert.match(built.stderr, /^app: .*RUN mkdir/m, 'build progress with the service in front');
  assert.ok(!existsSync(join(state, P)) || readdirSync(join(state, P)).filter((f) => !f.startsWith('_')).length === 0, 'no container was made');
  // up now finds both images in the store: nothing pulled, nothing built, the launches compiled at load
  const plan = compose(['plan']);
  assert.equal(plan.status, 0, plan.stderr);
  assert.match(plan.stdout, /image .*: present in the store \(for img\)/);
  assert.doesNotMatch(plan.stdout, /compiled after/);
});

test('a container whose launch plan the engine compiled after a pull and a build is left alone by the next up (same configuration)', { skip, timeout: 180_000 }, () => {
  rmSync(data, { recursive: true, force: true });
  const f = join(work, 'app', 'long.yaml');
  writeFileSync(f, readFileSync(join(work, 'app', 'compose.yaml'), 'utf8').replace('    depends_on: [img]\n', '    depends_on: [img]\n    command: [/bin/sleep, "600"]\n    stop_grace_period: 1s\n').replace(`    image: ${IMAGE}\n`, `    image: ${IMAGE}\n    command: [/bin/sleep, "600"]\n    stop_grace_period: 1s\n`));
  const c = (args: string[]) => niwa(['compose', '-f', f, '-p', P, ...args], { env: env(), timeout: 120_000 });
  try {
    const up = c(['up', '-d']);
    assert.equal(up.status, 0, up.stderr);
    assert.match(up.stderr, /pulled sha256:[0-9a-f]{64}/, 'up -d: the image step\'s pull progress on stderr');
    assert.match(up.stderr, /^app: .*RUN mkdir/m, 'up -d: the build step\'s progress on stderr, the service in front');
    const plan = JSON.parse(c(['plan', '--json']).stdout) as { services: { service: string; action: string }[]; steps: { op: string }[] };
    assert.deepEqual(plan.services.map((s) => [s.service, s.action]), [['img', 'running'], ['app', 'running']]);
    assert.ok(!plan.steps.some((s) => s.op === 'build'), 'nothing to build: the image is in the store');
    const spec = JSON.parse(readFileSync(join(state, P, 'app-1', 'spec.json'), 'utf8')) as { annotations: Record<string, string>; process: { uid: number; cwd: string } };
    assert.equal(spec.annotations['niwa.compose.service'], 'app', 'the project\'s annotations, as on a launch compiled at load');
    assert.deepEqual([spec.process.uid, spec.process.cwd], [65534, '/work']);
  } finally {
    const down = c(['down', '-v']);
    assert.equal(down.status, 0, down.stderr);
  }
  assert.deepEqual(cgroupsLeft(P), []);
});

test('pull_policy: never refuses a missing image (the others still plan); always asks the registry again even when the store has it', { skip, timeout: 120_000 }, () => {
  rmSync(data, { recursive: true, force: true });
  const f = join(work, 'app', 'policy.yaml');
  const write = (policy: string) => writeFileSync(f, ['services:', '  img:', `    image: ${IMAGE}`, `    pull_policy: ${policy}`, '  other:', `    image: ${IMAGE}`, '    command: [/bin/true]', ''].join('\n'));
  const c = (args: string[]) => niwa(['compose', '-f', f, '-p', P, ...args], { env: env(), timeout: 120_000 });
  write('never');
  let r = c(['plan']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /img\s+img-1\s+unrunnable: image .* is not in the local store, and the pull policy is 'never'/);
  assert.match(r.stdout, /pull .* — 2 layers, .* \(for other\)/, 'the other service still plans its pull');
  const pulled = c(['pull']);
  assert.equal(pulled.status, 0, pulled.stderr);
  r = c(['plan']);
  assert.match(r.stdout, /image .*: present in the store \(for img, other\)/, 'pulled for other; img never pulls, but its image is there now');
  write('always');
  r = c(['plan']);
  assert.match(r.stdout, /pull .*@sha256:[0-9a-f]{64} — 2 layers, up to date unless the registry changed \(for img, other\)/, 'one step for the image, pulling because one of its services says always');
});

test('a built image that cannot run the service (no such user in it) fails up at the build step, names it, and leaves nothing', { skip, timeout: 120_000 }, () => {
  const f = join(work, 'app', 'baduser.yaml');
  writeFileSync(f, ['services:', '  app:', '    build: ./ctx', '    user: nosuchuser', ''].join('\n'));
  const c = (args: string[]) => niwa(['compose', '-f', f, '-p', P, ...args], { env: env(), timeout: 120_000 });
  const up = c(['up', '-d', '--build']);
  assert.notEqual(up.status, 0);
  assert.match(up.stderr, /service app: its launch plan from the built image cimg\w+-app: services\.app\.user: no user 'nosuchuser' in image .*\/etc\/passwd/);
  assert.ok(!existsSync(join(state, P)) || readdirSync(join(state, P)).filter((x) => !x.startsWith('_')).length === 0, 'no container');
  const leases = existsSync(join(state, 'net', 'leases.json')) ? JSON.parse(readFileSync(join(state, 'net', 'leases.json'), 'utf8')) as { networks: Record<string, unknown> } : { networks: {} };
  assert.deepEqual(Object.keys(leases.networks).filter((k) => k.startsWith(`${P}/`)), [], 'no network: the images stage comes first');
  c(['down']);
  assert.deepEqual(cgroupsLeft(P), []);
});
