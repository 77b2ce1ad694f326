// `compose run` on a fresh data root, end to end against a real registry on 127.0.0.1
// (test/registry.ts): the service's image is pulled by the run's own plan, so its launch is compiled
// after the pull — and -w, -u, -v and -e still reach the one-off (checked inside: pwd, id -u, the
// bind, the variable). `compose exec` keeps stdin by default as Docker Compose does (piped into cat).
// `compose run --json` reports the dependency's start as plan-step events. Own state and data roots;
// nothing left behind.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { niwa, needsRoot, needsStage, type CliResult } from '../helpers.js';
import { hostFiles, shellImageEntries, writeOciLayout } from '../image-fixtures.js';
import { startRegistry, hasRegistryTools, type TestRegistry } from '../registry.js';
import { cgroupsLeft } from './running.js';

const skip = needsRoot() || needsStage() || hasRegistryTools();
const P = `crun${process.pid.toString(36)}`;
let work = '';
let state = '';
let data = '';
let reg: TestRegistry | undefined;

const env = () => ({ ...process.env, NIWA_STATE_ROOT: state, NIWA_DATA_ROOT: data, NIWA_SUPERVISOR_IDLE_MS: '300' });
const compose = (args: string[], o: { input?: string } = {}): CliResult => niwa(['compose', '-f', join(work, 'app', 'compose.yaml'), '-p', P, ...args], { env: env(), timeout: 120_000, ...o });

before(async () => {
  if (skip) return;
  work = mkdtempSync(join(tmpdir(), 'niwa-crun-'));
  chmodSync(work, 0o711);
  state = join(work, 'state');
  data = join(work, 'data');
  mkdirSync(state);
  reg = await startRegistry();
  const tools = hostFiles(['/bin/pwd', '/bin/sleep'].filter((p) => existsSync(p)));
  const layout = await writeOciLayout(join(work, 'base'), {
    layers: [[...shellImageEntries(), ...tools, { name: 'srv/', type: 'dir' }]],
    config: { Cmd: ['/bin/sh', '-c', 'echo "uid $(id -u) cwd $(pwd)"'], Env: ['PATH=/usr/bin:/bin'], User: 'nobody', WorkingDir: '/srv' },
    tag: '1',
  });
  reg.push(layout.dir, '1', 'test/run:1');
  // an image with an Entrypoint (and a USER name, so its first run compiles the launch after the pull)
  const ep = await writeOciLayout(join(work, 'ep'), {
    layers: [[...shellImageEntries(), ...tools, { name: 'srv/', type: 'dir' }]],
    config: { Entrypoint: ['/bin/sh', '-c', 'echo "ep: $*"', 'ep'], Cmd: ['from-cmd'], Env: ['PATH=/usr/bin:/bin'], User: 'nobody', WorkingDir: '/srv' },
    tag: '1',
  });
  reg.push(ep.dir, '1', 'test/ep:1');
  const share = join(work, 'share');
  mkdirSync(share);
  chmodSync(share, 0o755);
  writeFileSync(join(share, 'f'), 'from the bind\n');
  chmodSync(join(share, 'f'), 0o644);
  mkdirSync(join(work, 'app'));
  writeFileSync(join(work, 'app', 'compose.yaml'), [
    'services:',
    '  dep:',
    `    image: ${reg.host}/test/run:1`,
    '    command: ["/bin/sleep", "300"]',
    '  job:',
    `    image: ${reg.host}/test/run:1`,
    '    depends_on: [dep]',
    '  ep:',
    `    image: ${reg.host}/test/ep:1`,
    '',
  ].join('\n'));
});

after(async () => {
  if (skip) return;
  compose(['down', '-v']);
  await reg?.stop();
  rmSync(work, { recursive: true, force: true });
});

test('compose run -w -u -v -e on a service whose image the run pulls: the launch compiled after the pull keeps them', { skip, timeout: 180_000 }, () => {
  assert.ok(!existsSync(join(data, 'images', 'layers')) || readdirSync(join(data, 'images', 'layers')).length === 0, 'a fresh data root');
  const plan = compose(['plan', 'job']);
  assert.match(plan.stdout, /launch job-1: launch plan compiled after step \d+ pulls /, 'the image is not in the store: the launch is deferred');
  const r = compose(['run', '--rm', '-T', '--no-deps', '--json', '-w', '/tmp', '-u', '1000', '-v', `${join(work, 'share')}:/mnt/share:ro`, '-e', 'GREETING=hi', 'job',
    '/bin/sh', '-c', 'pwd; id -u; cat /mnt/share/f; echo "$GREETING"; (echo x > /mnt/share/x) 2>&1 || true']);
  assert.equal(r.status, 0, r.stderr);
  const ev = r.stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { type: string; op?: string; ok?: boolean });
  assert.ok(ev.some((e) => e.type === 'project-step' && e.op === 'image' && e.ok), 'the image was pulled by this run\'s plan');
  const out = r.stdout.split('\n').filter((l) => !l.startsWith('{')).join('\n');
  assert.match(out, /^\/tmp\n1000\nfrom the bind\nhi\n.*Read-only file system/m);
  // without the options, the image's USER and WORKDIR (the pulled image decides)
  const plain = compose(['run', '--rm', '-T', '--no-deps', 'job']);
  assert.equal(plain.status, 0, plain.stderr);
  assert.match(plain.stdout, /uid 65534 cwd \/srv/);
  // a user name is looked up in the pulled image
  const named = compose(['run', '--rm', '-T', '--no-deps', '-u', 'nobody', 'job', 'id', '-u']);
  assert.equal(named.status, 0, named.stderr);
  assert.equal(named.stdout.trim(), '65534');
});

test('compose run starts its dependency by the run loop (--json: plan-step events), passes the status through; exec keeps stdin', { skip, timeout: 180_000 }, () => {
  const r = compose(['run', '--rm', '-T', '--json', 'job', '/bin/sh', '-c', 'exit 3']);
  assert.equal(r.status, 3, r.stderr);
  const ev = r.stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { type: string; op?: string; service?: string; ok?: boolean });
  assert.ok(ev.some((e) => e.type === 'project-step' && e.op === 'launch' && e.service === 'dep' && e.ok), 'the dependency\'s launch step reported as an event');
  const ps = compose(['ps', '--json']);
  assert.match(ps.stdout, /"name": "dep-1"[\s\S]*"state": "running"/, 'the dependency keeps running');
  const cat = compose(['exec', 'dep', 'cat'], { input: 'piped into exec\n' });
  assert.equal(cat.status, 0, cat.stderr);
  assert.equal(cat.stdout, 'piped into exec\n', 'stdin reaches the command without -i');
  const noStdin = compose(['exec', '-T', 'dep', '/bin/sh', '-c', 'cat; echo done'], { input: 'also kept with -T\n' });
  assert.equal(noStdin.stdout, 'also kept with -T\ndone\n', '-T refuses a terminal, not stdin');
  // -d: the one-off goes to the project's supervisor; its name on stdout
  const bg = compose(['run', '-d', '--no-deps', '--name', 'job-bg', 'job', '/bin/sleep', '60']);
  assert.equal(bg.status, 0, bg.stderr);
  assert.equal(bg.stdout, 'job-bg\n');
  assert.match(compose(['ps', '--json', '-a']).stdout, /"name": "job-bg"[\s\S]*?"state": "running"/);
  const down = compose(['down', '-v']);
  assert.equal(down.status, 0, down.stderr);
  assert.deepEqual(cgroupsLeft(P), []);
});

test('compose run ARGS keeps the image\'s Entrypoint (ARGS replace its Cmd); --entrypoint replaces both', { skip, timeout: 180_000 }, () => {
  // first run: the image is pulled by the run's plan (its launch compiled after the pull); then from the store
  for (const when of ['pulled by the run', 'in the store']) {
    const r = compose(['run', '--rm', '-T', '--no-deps', 'ep', 'hello', 'world']);
    assert.equal(r.status, 0, `${when}: ${r.stderr}`);
    assert.equal(r.stdout.trim(), 'ep: hello world', `${when}: the Entrypoint ran with the arguments`);
  }
  const plain = compose(['run', '--rm', '-T', '--no-deps', 'ep']);
  assert.equal(plain.stdout.trim(), 'ep: from-cmd', plain.stderr);
  const over = compose(['run', '--rm', '-T', '--no-deps', '--entrypoint', '/bin/pwd', 'ep']);
  assert.equal(over.status, 0, over.stderr);
  assert.equal(over.stdout.trim(), '/srv', '--entrypoint alone: neither the image\'s Entrypoint nor its Cmd');
  const both = compose(['run', '--rm', '-T', '--no-deps', '--entrypoint', '/bin/sh -c', 'ep', 'echo "two $((1+1))"']);
  assert.equal(both.stdout.trim(), 'two 2', both.stderr);
});
