// `niwa build` and `niwa push` end to end, as root on the real kernel: a base image built in code
// (test/image-fixtures.ts: the host's sh and a few tools) is served by a real registry on 127.0.0.1;
// Dockerfiles are built through the CLI and their results run with `niwa run` and checked from
// inside: a multi-stage build whose final stage copies a file made by the first, ARG/ENV scoping,
// USER and WORKDIR, .dockerignore, a RUN that deletes a base file (an OCI whiteout), ADD of a tar;
// the layer cache (checked with the build's events, not timed); a failing RUN (instruction, line and
// status named; no container, mount, cgroup or layer left); push, then pull into a fresh data root
// and run; and the path attacks (a symlink leading out of the context, COPY ../x).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { get } from 'node:http';
import { spawn, spawnSync } from 'node:child_process';
import { fixture, niwa, niwaBin, needsRoot, needsStage, type CliResult } from '../helpers.js';
import { hostFiles, layerTar, shellImageEntries, writeOciLayout } from '../image-fixtures.js';
import { startRegistry, hasRegistryTools, freePort, type TestRegistry } from '../registry.js';
import { cgroupsLeft } from './running.js';

const skip = needsRoot() || needsStage() || hasRegistryTools() || (spawnSync('sh', ['-c', 'command -v cc']).status !== 0 ? 'no C compiler' : false);
let work = '';
let state = '';
let data = '';
let reg: TestRegistry | undefined;
let BASE = '';

const env = (extra: Record<string, string> = {}) => ({ ...process.env, NIWA_STATE_ROOT: state, NIWA_DATA_ROOT: data, ...extra });
const run = (args: string[], extra: Record<string, string> = {}, timeout = 120_000): CliResult => niwa(args, { env: env(extra), timeout });

interface Ev { type: string; state?: string; text?: string; n?: number; stage?: string; ran?: number; cached?: number; digest?: string }
/** A build with --json: its events, one per line. */
function build(ctx: string, args: string[] = [], extra: Record<string, string> = {}): { r: CliResult; events: Ev[] } {
  const r = run(['build', '--json', ...args, ctx], extra);
  const events = r.stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Ev);
  return { r, events };
}
const ranSteps = (events: Ev[]) => events.filter((e) => e.type === 'step' && e.state === 'running').map((e) => e.text!);

function context(name: string, files: Record<string, string>): string {
  const d = join(work, name);
  mkdirSync(d, { recursive: true });
  for (const [f, c] of Object.entries(files)) {
    mkdirSync(join(d, f, '..'), { recursive: true });
    writeFileSync(join(d, f), c);
  }
  return d;
}

function runImage(image: string, cmd?: string, extra: Record<string, string> = {}): CliResult {
  const f = join(work, `run-${Math.random().toString(36).slice(2)}.container.yaml`);
  writeFileSync(f, `name: probe\nnamespaces: [mount, pid, uts, ipc, net]\nrootfs: {image: ${image}, pull: never}\n`);
  return run(['run', f, ...(cmd ? ['--', '/bin/sh', '-c', cmd] : [])], extra);
}

const leftovers = () => ({
  containers: existsSync(join(data, 'containers')) ? readdirSync(join(data, 'containers'), { recursive: true }) : [],
  tmp: existsSync(join(data, 'images', 'tmp')) ? readdirSync(join(data, 'images', 'tmp')) : [],
  mounts: readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes(work)),
  cgroups: cgroupsLeft('niwa-build'),
});
const assertClean = () => assert.deepEqual(leftovers(), { containers: [], tmp: [], mounts: [], cgroups: [] });

before(async () => {
  if (skip) return;
  work = mkdtempSync(join(tmpdir(), 'niwa-build-'));
  chmodSync(work, 0o711);
  state = join(work, 'state');
  data = join(work, 'data');
  mkdirSync(state);
  reg = await startRegistry();
  const tools = hostFiles(['/bin/mkdir', '/bin/rm', '/bin/touch', '/bin/ls', '/bin/stat', '/bin/sleep'].filter((p) => existsSync(p)));
  const base = await writeOciLayout(join(work, 'base'), {
    layers: [[...shellImageEntries(), ...tools, { name: 'etc/doomed', content: 'remove me\n' }]],
    config: { Cmd: ['/bin/sh'], Env: ['PATH=/usr/local/bin:/usr/bin:/bin', 'BASE_ENV=from-base'] },
    tag: '1',
  });
  reg.push(base.dir, '1', 'test/base:1');
  BASE = `${reg.host}/test/base:1`;
});

after(async () => {
  if (skip) return;
  await reg?.stop();
  rmSync(work, { recursive: true, force: true });
});

test('a multi-stage build: the final stage copies a file built by the first; ARG/ENV scoping, USER, WORKDIR, .dockerignore, whiteouts, ADD of a tar', { skip }, async () => {
  const tarball = await layerTar([{ name: 'pkg/', type: 'dir' }, { name: 'pkg/inside.txt', content: 'from the tar\n' }]);
  const ctx = context('multi', {
    'Dockerfile': [
      'ARG BASE_IMAGE',
      'ARG GLOBAL=global-default',
      'FROM ${BASE_IMAGE} AS builder',
      'ARG GREETING=hello',
      'RUN mkdir -p /out && echo "$GREETING from the builder, global=[$GLOBAL]" > /out/built.txt',
      '',
      'FROM ${BASE_IMAGE}',
      'ARG GLOBAL',
      'ENV APP_HOME=/srv/app MODE=${GLOBAL}',
      'WORKDIR $APP_HOME',
      'COPY --from=builder /out/built.txt ./',
      'COPY app/ ./app/',
      'COPY --chown=65534:65534 --chmod=0600 owned.txt /srv/owned.txt',
      'ADD pkg.tar /opt/',
      'RUN rm /etc/doomed && echo "ran as $(id -u) in $(pwd)" > /srv/run.txt',
      'USER nobody',
      'EXPOSE 8080',
      'LABEL org.example.built=yes',
      'CMD ["/bin/cat", "built.txt"]',
    ].join('\n') + '\n',
    'app/main.sh': 'echo main\n',
    'app/secret.key': 'do not ship\n',
    '.dockerignore': '# keys stay out\napp/*.key\n',
    'owned.txt': 'owned\n',
  });
  writeFileSync(join(ctx, 'pkg.tar'), tarball);
  const { r, events } = build(ctx, ['-t', 'multi:1', '--build-arg', `BASE_IMAGE=${BASE}`, '--build-arg', 'GREETING=hi']);
  assert.equal(r.status, 0, r.stderr);
  assert.ok(events.some((e) => e.type === 'done' && e.digest?.startsWith('sha256:')));
  // the default command prints the file the first stage built; GLOBAL was not redeclared in stage 1
  const c = runImage('multi:1');
  assert.equal(c.status, 0, c.stderr);
  assert.equal(c.stdout, 'hi from the builder, global=[]\n');
  const probe = runImage('multi:1', 'echo "id:$(id -u):$(id -g) cwd:$(pwd) mode:$MODE home:$APP_HOME base:$BASE_ENV greeting:[$GREETING]"; ls app; cat /srv/run.txt; cat /opt/pkg/inside.txt; stat -c "%u:%g %a" /srv/owned.txt; cat /etc/doomed 2>&1 || echo doomed-gone');
  assert.equal(probe.status, 0, probe.stderr);
  const out = probe.stdout;
  assert.match(out, /^id:65534:65534 cwd:\/srv\/app mode:global-default home:\/srv\/app base:from-base greeting:\[\]$/m, 'USER and WORKDIR apply; ENV kept (from a redeclared global ARG); ARG values are not in the image');
  assert.match(out, /^main\.sh$/m);
  assert.doesNotMatch(out, /secret\.key/, '.dockerignore excluded the key');
  assert.match(out, /^ran as 0 in \/srv\/app$/m, 'RUN ran as root in the WORKDIR');
  assert.match(out, /^from the tar$/m, 'ADD unpacked the local tar');
  assert.match(out, /^65534:65534 600$/m, '--chown and --chmod');
  assert.match(out, /^doomed-gone$/m, 'the RUN\'s rm became a whiteout in its layer');
  const inspect = JSON.parse(run(['image', 'inspect', 'multi:1']).stdout) as unknown;
  const text = JSON.stringify(inspect);
  assert.match(text, /8080\/tcp/);
  assert.match(text, /org\.example\.built/);
  assertClean();
});

test('the layer cache: an unchanged rebuild runs no RUN; a changed file reruns only the steps after its COPY', { skip }, () => {
  const ctx = context('cache', {
    'Dockerfile': `ARG B\nFROM ${'${B}'}\nRUN echo one > /one\nCOPY data.txt /data.txt\nRUN cat /data.txt > /copy-of-data\nCOPY other.txt /other.txt\n`,
    'data.txt': 'v1\n',
    'other.txt': 'other\n',
  });
  const args = ['-t', 'cache:1', '--build-arg', `B=${BASE}`];
  const first = build(ctx, args);
  assert.equal(first.r.status, 0, first.r.stderr);
  assert.deepEqual(ranSteps(first.events), ['RUN echo one > /one', 'COPY data.txt /data.txt', 'RUN cat /data.txt > /copy-of-data', 'COPY other.txt /other.txt']);
  const second = build(ctx, args);
  assert.equal(second.r.status, 0, second.r.stderr);
  assert.deepEqual(ranSteps(second.events), [], 'nothing ran');
  assert.equal(second.events.filter((e) => e.type === 'step' && e.state === 'cached').length, 4);
  const done1 = first.events.find((e) => e.type === 'done')!;
  const done2 = second.events.find((e) => e.type === 'done')!;
  assert.equal(done2.digest, done1.digest, 'an unchanged rebuild gives the same image');
  assert.equal(done2.ran, 0);
  writeFileSync(join(ctx, 'data.txt'), 'v2\n');
  const third = build(ctx, args);
  assert.equal(third.r.status, 0, third.r.stderr);
  assert.deepEqual(ranSteps(third.events), ['COPY data.txt /data.txt', 'RUN cat /data.txt > /copy-of-data', 'COPY other.txt /other.txt'], 'the first RUN came from the cache');
  assert.equal(runImage('cache:1', 'cat /copy-of-data').stdout, 'v2\n');
  const nc = build(ctx, [...args, '--no-cache']);
  assert.equal(ranSteps(nc.events).length, 4, '--no-cache runs everything');
  assertClean();
});

test('a failing RUN names the instruction, its line and the exit status, and leaves nothing behind', { skip }, () => {
  const ctx = context('fail', { 'Dockerfile': `FROM ${BASE}\nRUN echo fine > /fine\n# a comment\nRUN echo partial > /partial && exit 7\nRUN echo never\n` });
  const layersBefore = existsSync(join(data, 'images', 'layers', 'sha256')) ? readdirSync(join(data, 'images', 'layers', 'sha256')).length : 0;
  const r = run(['build', '-t', 'fail:1', ctx]);
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /Dockerfile:4: RUN echo partial > \/partial && exit 7: the command exited with status 7/);
  assert.doesNotMatch(r.stderr, /internal error/);
  const layersAfter = readdirSync(join(data, 'images', 'layers', 'sha256')).length;
  assert.equal(layersAfter, layersBefore + 1, 'only the successful RUN\'s layer was stored');
  assert.equal(run(['image', 'inspect', 'fail:1']).status !== 0, true, 'no image was named');
  assertClean();
});

test('push to the registry, pull into a fresh data root, run', { skip }, () => {
  const ctx = context('push', { 'Dockerfile': `FROM ${BASE}\nRUN echo pushed-and-pulled > /msg\nCMD ["/bin/cat", "/msg"]\n` });
  const b = build(ctx, ['-t', 'pushme:1']);
  assert.equal(b.r.status, 0, b.r.stderr);
  const dest = `${reg!.host}/test/pushed:1`;
  const p = run(['push', 'pushme:1', dest]);
  assert.equal(p.status, 0, p.stderr);
  const digest = p.stdout.trim();
  assert.match(digest, /^sha256:[a-f0-9]{64}$/);
  const again = run(['push', dest]);
  assert.equal(again.status, 0, again.stderr);
  assert.match(again.stderr, /already in the registry/);
  const fresh = join(work, 'fresh-data');
  const pulled = run(['pull', dest], { NIWA_DATA_ROOT: fresh });
  assert.equal(pulled.status, 0, pulled.stderr);
  const c = runImage(dest, undefined, { NIWA_DATA_ROOT: fresh });
  assert.equal(c.status, 0, c.stderr);
  assert.equal(c.stdout, 'pushed-and-pulled\n');
  assert.match(run(['images', '--no-trunc'], { NIWA_DATA_ROOT: fresh }).stdout, new RegExp(digest.slice(7)));
  rmSync(fresh, { recursive: true, force: true });
});

test('path attacks: a symlink out of the context copies no host file; COPY ../x is refused with its line', { skip }, () => {
  const outside = join(work, 'outside-secret.txt');
  writeFileSync(outside, 'HOST SECRET\n');
  const ctx = context('attack', { 'Dockerfile': `FROM ${BASE}\nCOPY link.txt /stolen.txt\n`, 'dir/ok.txt': 'ok\n' });
  symlinkSync(outside, join(ctx, 'link.txt'));
  symlinkSync(outside, join(ctx, 'dir', 'inner-link'));
  const r = run(['build', '-t', 'attack:1', ctx]);
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /Dockerfile:2/);
  assert.match(r.stderr, /link\.txt/);
  // a symlink inside a copied directory stays a symlink (pointing at a path inside the image)
  writeFileSync(join(ctx, 'Dockerfile'), `FROM ${BASE}\nCOPY dir /copied/\n`);
  const ok = run(['build', '-t', 'attack:2', ctx]);
  assert.equal(ok.status, 0, ok.stderr);
  const c = runImage('attack:2', 'cat /copied/ok.txt; cat /copied/inner-link 2>&1 | head -c 100; echo; ls -la /copied/inner-link | grep -c -- "->"');
  assert.doesNotMatch(c.stdout, /HOST SECRET/);
  assert.match(c.stdout, /^ok$/m);
  writeFileSync(join(ctx, 'Dockerfile'), `FROM ${BASE}\n\nCOPY ../outside-secret.txt /x\n`);
  const up = run(['build', ctx]);
  assert.equal(up.status, 2, up.stderr);
  assert.match(up.stderr, /Dockerfile:3/);
  assert.match(up.stderr, /outside the build context/);
  assertClean();
});

test('unsupported instructions are named with file:line and a hint, never skipped', { skip }, () => {
  const ctx = context('unsupported', { 'Dockerfile': 'FROM scratch\nONBUILD RUN echo x\nRUN --mount=type=ssh echo y\n' });
  const r = run(['build', ctx]);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /Dockerfile:2:1: ONBUILD is not supported/);
  assert.match(r.stderr, /Dockerfile:3:1: RUN --mount=type=ssh is not supported/);
  assert.match(r.stderr, /hint:/);
});


test('a provisioned spec: its steps are built and cached like Dockerfile steps; niwa plan lists them before the launch steps', { skip }, () => {
  const dir = context('provision', { 'app/index.txt': 'served\n' });
  const f = join(dir, 'prov.container.yaml');
  writeFileSync(f, [
    'name: prov',
    'namespaces: [mount, pid, uts, ipc, net]',
    'rootfs:',
    `  image: ${BASE}`,
    '  provision:',
    '    - run: mkdir -p /var/www && echo "provisioned as $(id -u)" > /var/www/marker',
    '    - copy: {source: ./app, target: /app, chown: "nobody"}',
    'process:',
    '  args: [/bin/sh, -c, \'cat /var/www/marker /app/index.txt; stat -c %U /app/index.txt\']',
  ].join('\n') + '\n');
  const first = run(['run', f]);
  assert.equal(first.status, 0, first.stderr);
  assert.equal(first.stdout, 'provisioned as 0\nserved\nnobody\n');
  assert.match(first.stderr, /1\/2\] RUN mkdir/);
  assert.match(first.stderr, /2 steps run, 0 cached/);
  const second = run(['run', f]);
  assert.equal(second.status, 0, second.stderr);
  assert.match(second.stderr, /CACHED RUN mkdir/);
  assert.match(second.stderr, /0 steps run, 2 cached/);
  const plan = run(['plan', f]);
  assert.equal(plan.status, 0, plan.stderr);
  const b = plan.stdout.indexOf('RUN mkdir -p /var/www');
  const l = plan.stdout.indexOf('launch plan for');
  assert.ok(b >= 0 && l > b, `build steps come before the launch plan:\n${plan.stdout.slice(0, 600)}`);
  writeFileSync(join(dir, 'app/index.txt'), 'changed\n');
  const third = run(['run', f]);
  assert.equal(third.stdout.split('\n')[1], 'changed');
  assert.match(third.stderr, /CACHED RUN mkdir/, 'a changed file reruns only its COPY');
  assertClean();
});

test('compose: a build: app service and an image: database come up with up --build; the app answers on its published port', { skip }, async () => {
  const project = `bld${process.pid.toString(36)}`;
  const port = await freePort();
  const dir = context('compose', {
    'app/Dockerfile': `FROM ${BASE}\nARG GREETING=default\nENV GREETING=$GREETING\nCOPY nwhttp /bin/nwhttp\nWORKDIR /www\nUSER nobody\nCMD ["/bin/nwhttp", "serve", "8080"]\n`,
    'compose.yaml': [
      'services:',
      '  app:',
      '    build:',
      '      context: ./app',
      '      args: {GREETING: the first build}',
      `    ports: ["127.0.0.1:${port}:8080"]`,
      '    depends_on: [db]',
      '    stop_grace_period: 1s',
      '  db:',
      `    image: ${BASE}`,
      '    command: [/bin/sleep, "600"]',
      '    stop_grace_period: 1s',
    ].join('\n') + '\n',
  });
  const cc = spawnSync('cc', ['-static', '-O2', '-o', join(dir, 'app', 'nwhttp'), fixture('images', 'nwhttp.c')], { encoding: 'utf8' });
  assert.equal(cc.status, 0, cc.stderr);
  const cf = ['compose', '-f', join(dir, 'compose.yaml'), '-p', project];
  const b = run([...cf, 'build']);
  assert.equal(b.status, 0, b.stderr);
  assert.match(b.stdout, new RegExp(`^${project}-app sha256:[a-f0-9]{64}$`, 'm'));
  assert.match(b.stderr, /^app: \[0 3\/6\] COPY nwhttp \/bin\/nwhttp$/m);
  try {
    // a changed build arg: `up --build` rebuilds (plain `up` would run the image already built)
    writeFileSync(join(dir, 'compose.yaml'), readFileSync(join(dir, 'compose.yaml'), 'utf8').replace('the first build', 'the built app'));
    const up = run([...cf, 'up', '-d', '--build'], {}, 120_000);
    assert.equal(up.status, 0, up.stderr);
    assert.match(up.stderr, /^app: \[0 3\/6\] COPY nwhttp \/bin\/nwhttp$/m, 'the build\'s progress, prefixed by the service');
    const body = await new Promise<string>((resolve, reject) => {
      const tryGet = (n: number) => get(`http://127.0.0.1:${port}/`, (res) => { let t = ''; res.on('data', (d) => (t += d)); res.on('end', () => resolve(t)); })
        .on('error', (e) => (n > 0 ? setTimeout(() => tryGet(n - 1), 200) : reject(e)));
      tryGet(50);
    });
    assert.equal(body, 'hello from the built app (uid 65534, cwd /www)\n', 'the build arg, USER and WORKDIR of the built image');
  } finally {
    const down = run([...cf, 'down', '-v']);
    assert.equal(down.status, 0, down.stderr);
  }
  assertClean();
});

test('Ctrl-C during a RUN stops the step, fails the build and leaves nothing behind', { skip }, async () => {
  const ctx = context('interrupt', { 'Dockerfile': `FROM ${BASE}\nRUN echo spinning; while :; do :; done\n` });
  const child = spawn(process.execPath, [niwaBin, 'build', '-t', 'interrupt:1', ctx], { env: env(), stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d) => {
    err += d;
    if (err.includes('spinning\n') && !child.killed) child.kill('SIGINT');
  });
  const code = await new Promise<number | null>((res) => child.on('exit', (c) => res(c)));
  assert.equal(code, 1, err);
  assert.match(err, /Dockerfile:2: RUN echo spinning.*: interrupted/);
  assert.equal(run(['image', 'inspect', 'interrupt:1']).status !== 0, true);
  assertClean();
});

test('compose up --watch (= compose watch): a changed file under a sync path reaches the running container; a change under a rebuild path rebuilds and recreates', { skip }, async () => {
  const project = `wch${process.pid.toString(36)}`;
  const dir = context('watch', {
    'app/Dockerfile': `FROM ${BASE}\nCOPY www/ /www/\nCOPY rebuild.txt /rebuild.txt\nCMD ["/bin/sleep", "600"]\n`,
    'app/www/index.txt': 'v1\n',
    'app/rebuild.txt': 'r1\n',
    'compose.yaml': [
      'services:',
      '  app:',
      '    build: ./app',
      '    stop_grace_period: 1s',
      '    develop:',
      '      watch:',
      '        - {action: sync, path: ./app/www, target: /www, ignore: ["*.tmp"]}',
      '        - {action: rebuild, path: ./app/rebuild.txt}',
    ].join('\n') + '\n',
  });
  const cf = ['compose', '-f', join(dir, 'compose.yaml'), '-p', project];
  // `up --watch` is `compose watch` (the same function) behind up's flags
  const w = spawn(process.execPath, [niwaBin, ...cf, 'up', '--watch'], { env: env(), stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  w.stderr.on('data', (d) => (err += d));
  const until = async (what: string, f: () => boolean, ms = 60_000) => {
    for (const end = Date.now() + ms; !f(); await new Promise((r) => setTimeout(r, 200))) if (Date.now() > end) throw new Error(`${what} did not happen:\n${err}`);
  };
  const inApp = (cmd: string) => run([...cf, 'exec', '-T', 'app', '/bin/sh', '-c', cmd]).stdout;
  try {
    await until('watching', () => (err.match(/watching /g) ?? []).length === 2);
    assert.equal(inApp('cat /www/index.txt'), 'v1\n');
    writeFileSync(join(dir, 'app/www/index.txt'), 'v2\n');
    writeFileSync(join(dir, 'app/www/new.txt'), 'new\n');
    writeFileSync(join(dir, 'app/www/scratch.tmp'), 'ignored\n');
    await until('the sync', () => inApp('cat /www/index.txt /www/new.txt') === 'v2\nnew\n');
    assert.equal(inApp('cat /www/scratch.tmp 2>/dev/null || echo absent'), 'absent\n', 'ignore: patterns are not synced');
    assert.doesNotMatch(err, /recreated|restarted/, 'a sync restarts nothing');
    writeFileSync(join(dir, 'app/rebuild.txt'), 'r2\n');
    await until('the rebuild', () => /app: recreated on sha256:/.test(err));
    await until('the new container', () => inApp('cat /rebuild.txt') === 'r2\n');
    assert.equal(inApp('cat /www/index.txt'), 'v2\n', 'the rebuilt image has the synced file too');
  } finally {
    w.kill('SIGINT');
    await new Promise((r) => w.on('exit', r));
    const down = run([...cf, 'down', '-v']);
    assert.equal(down.status, 0, down.stderr);
  }
  assertClean();
});
