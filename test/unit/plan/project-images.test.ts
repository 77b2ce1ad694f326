// Images and builds as steps of the ProjectPlan: an image the store lacks is resolved (by a fake
// resolver here: a manifest and a config, no layer) and its pull is an image step saying how many
// layers and bytes; the launch plan is compiled from the config at load; a build: service whose
// image is missing gets a build step and a launch compiled after it; a failure injected at the
// image or build step leaves nothing behind; compose pull's and build's plans hold only their steps.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../../helpers.js';
import { genericHost } from '../../../src/validate/host.js';
import { loadCompose } from '../../../src/compose/index.js';
import { compileProject, type ProjectHostFacts } from '../../../src/plan/project/compile.js';
import { formatProjectPlan } from '../../../src/plan/project/format.js';
import type { ProjectStep } from '../../../src/plan/project/types.js';
import type { PlannedImageView } from '../../../src/image/resolve.js';
import type { BuildEvent } from '../../../src/build/execute.js';
import { ProjectRun } from '../../../src/runtime/project/exec.js';
import { emptyDb, loadLeases } from '../../../src/runtime/net/ipam.js';
import { leasesPath } from '../../../src/runtime/net/names.js';
import { FakeNetHost } from '../net/fake-host.js';
import { project } from '../compose/helpers.js';

const host = genericHost();
const update = process.env.UPDATE_SNAPSHOTS === '1';
const facts = (o: Partial<ProjectHostFacts> = {}): ProjectHostFacts => ({ host: { ...host, dataRoot: '/var/lib/niwa' }, stateRoot: '/run/niwa', leases: emptyDb(), routes: [], links: [], netns: [], exists: [], containers: [], ...o });
const DIGEST = 'sha256:' + 'ab'.repeat(32);
const diff = (i: number) => 'sha256:' + String(i).repeat(64);

/** A fake resolver: `reg.example/app:1` is missing from the store (3 layers, 2.1 MB to pull), with a config only. */
function fakeResolver(calls: string[]) {
  return async (ref: string, pull: 'missing' | 'always' | 'never'): Promise<PlannedImageView> => {
    calls.push(`${ref} ${pull}`);
    if (ref.startsWith('proj-')) throw new Error(`${ref} is not in the store`);
    return {
      name: `${ref}`, digest: DIGEST, present: false, layerCount: 3, size: 2_200_000, pull,
      config: { Entrypoint: ['/bin/app'], Cmd: ['serve'], WorkingDir: '/srv', User: '4242', Env: ['FROM_IMAGE=yes'] },
      layers: [1, 2, 3].map((i) => `/var/lib/niwa/images/layers/sha256/${diff(i).slice(7)}`),
      readFile: () => undefined,
    };
  };
}

const COMPOSE = [
  'services:',
  '  web:',
  '    image: reg.example/app:1',
  '  worker:',
  '    image: reg.example/app:1',
  '    command: [work]',
  '  built:',
  '    build: ./app',
  '    depends_on: [web]',
  '',
].join('\n');

async function loadIt(dir: string, build?: 'missing' | 'always', calls: string[] = []) {
  return loadCompose({ cwd: dir, env: {}, dataRoot: join(dir, '.data'), ...(build ? { build } : {}), load: { hostCgroupControllers: host.cgroup.v2Controllers, image: fakeResolver(calls) } });
}

test('plan snapshot: an image step with its layers and size, a build step, and a launch compiled after it', async () => {
  const dir = project({ 'compose.yaml': COMPOSE, 'app/Dockerfile': 'FROM scratch\nUSER 7\n' });
  const calls: string[] = [];
  const load = await loadIt(dir, 'missing', calls);
  assert.ok(calls.length && calls.every((c) => c === 'reg.example/app:1 missing'), 'the build service\'s image is not resolved (it is built by the plan)');
  const plan = compileProject(load, facts(), { nonce: 'test' });
  assert.deepEqual(JSON.parse(JSON.stringify(plan)), plan, 'plain JSON');
  const text = formatProjectPlan(plan).split(dir).join('<dir>');
  const snap = join(repoRoot, 'test', 'snapshots', 'compose__images-and-build.project-plan.txt');
  if (update || !existsSync(snap)) { writeFileSync(snap, text); if (!update) assert.fail(`snapshot ${snap} was missing and has been written; re-run`); }
  else assert.equal(text, readFileSync(snap, 'utf8'), 'project plan changed; if intended, run UPDATE_SNAPSHOTS=1');

  const image = plan.steps.find((s) => s.op === 'image') as Extract<ProjectStep, { op: 'image' }>;
  assert.equal(image.stage, 'images');
  assert.deepEqual([image.services, image.layers, image.size, image.present, image.field], [['web', 'worker'], 3, 2_200_000, false, 'services.web.image']);
  assert.match(text, /pull reg\.example\/app@sha256:(ab){32} — 3 layers, 2\.1 MB \(for web, worker\)/);
  // the launch plans of web and worker are compiled now, from the config: Entrypoint + Cmd, WorkingDir, User, Env
  const launch = (c: string) => plan.steps.find((s) => s.op === 'launch' && s.container === c) as Extract<ProjectStep, { op: 'launch' }>;
  assert.deepEqual(launch('web-1').spec!.process.args, ['/bin/app', 'serve']);
  assert.deepEqual(launch('worker-1').spec!.process.args, ['/bin/app', 'work']);
  assert.equal(launch('web-1').spec!.process.cwd, '/srv');
  assert.equal(launch('web-1').spec!.process.uid, 4242);
  assert.equal(launch('web-1').spec!.process.env.FROM_IMAGE, 'yes');
  assert.ok(launch('web-1').plan!.steps.some((s) => s.op === 'mount' && JSON.stringify(s).includes(diff(3).slice(7))), 'the overlay names the layer directories the pull makes');

  // the build: service: a build step, and its launch compiled by the engine right after it
  const build = plan.steps.find((s) => s.op === 'build') as Extract<ProjectStep, { op: 'build' }>;
  assert.deepEqual([build.service, build.image, build.field, build.request.context], ['built', 'proj-built', 'services.built.build', join(dir, 'app')]);
  const deferred = launch('built-1');
  assert.equal(deferred.plan, undefined);
  assert.equal(deferred.deferred!.after, build.index);
  assert.match(text, new RegExp(`launch built-1: launch plan compiled after step ${build.index} builds proj-built`));
  assert.ok(plan.services.every((s) => s.action === 'create'));
});

test('a build: service whose image is in the store is compiled at load; --build (always) builds again', async () => {
  const dir = project({ 'compose.yaml': COMPOSE, 'app/Dockerfile': 'FROM scratch\n' });
  // no build requested (compose config, plan of a project loaded without builds): no build step
  const none = await loadCompose({ cwd: dir, env: {}, dataRoot: join(dir, '.data'), load: { hostCgroupControllers: host.cgroup.v2Controllers, image: fakeResolver([]) } });
  const p0 = compileProject(none, facts(), { nonce: 't' });
  assert.ok(!p0.steps.some((s) => s.op === 'build'));
  assert.equal(p0.services.find((s) => s.service === 'built')!.action, 'unrunnable');
  const always = await loadIt(dir, 'always');
  const p1 = compileProject(always, facts(), { nonce: 't' });
  assert.match(p1.steps.find((s) => s.op === 'build')!.why, /built again/);
});

test('compose pull: only image steps, policy always, every service\'s image once; compose build: the build steps', async () => {
  const dir = project({ 'compose.yaml': COMPOSE, 'app/Dockerfile': 'FROM scratch\n' });
  const load = await loadIt(dir, 'missing');
  const pull = compileProject(load, facts({ containers: [{ name: 'web-1', live: true, configHash: 'x' }] }), { nonce: 't', allImages: true, pullAlways: true });
  const images = pull.steps.filter((s) => s.op === 'image') as Extract<ProjectStep, { op: 'image' }>[];
  assert.deepEqual(images.map((s) => [s.ref, s.pull, s.digest]), [['reg.example/app:1', 'always', undefined]], 'no digest to hold it to: a pull takes what the registry has now');
});

test('the engine: a failure injected at the image or the build step stops everything and leaves nothing', async () => {
  const dir = project({ 'compose.yaml': COMPOSE, 'app/Dockerfile': 'FROM scratch\n' });
  const load = await loadIt(dir, 'missing');
  for (const op of ['image', 'build'] as const) {
    const root = mkdtempSync(join(tmpdir(), 'niwa-ppi-'));
    try {
      // (the build alone: the image step before it would really pull)
      const plan = { ...compileProject(load, facts({ stateRoot: root }), { nonce: 't', ...(op === 'build' ? { services: ['built'], noDeps: true } : {}) }), stateRoot: root };
      const at = plan.steps.find((s) => s.op === op)!.index;
      const net = new FakeNetHost();
      const launched: string[] = [];
      const events: string[] = [];
      const run = new ProjectRun(plan, {
        net,
        beforeStep: (s) => { if (s.index === at) throw new Error(`injected failure at step ${s.index}`); },
        launch: async (s) => { launched.push(s.container); },
        remove: async () => {},
        emit: (e) => { if (e.type === 'project-step') events.push(`${e.op} ${e.ok}`); },
      });
      await assert.rejects(async () => {
        await run.prepare();
        for (const e of plan.services) await run.startService(e.service);
      }, new RegExp(`step ${at} \\(.*\\) failed: injected failure`));
      await run.rollback();
      assert.deepEqual(launched, [], `${op}: nothing launched`);
      assert.deepEqual(events, [`${op} false`], `${op}: the failed step is reported, nothing ran before or after it`);
      assert.deepEqual([...net.links], []);
      assert.deepEqual(Object.keys(loadLeases(leasesPath(root)).networks), []);
      assert.deepEqual(readdirSync(root).filter((f) => f !== 'net'), []);
    } finally { rmSync(root, { recursive: true, force: true }); }
  }
});

test('the engine: a build step that fails for real (no such context) names the compose key; the launch waiting for it never runs', async () => {
  const dir = project({ 'compose.yaml': COMPOSE.replace('./app', './missing'), 'app/Dockerfile': 'FROM scratch\n' });
  const load = await loadIt(dir, 'missing');
  const root = mkdtempSync(join(tmpdir(), 'niwa-ppi-'));
  try {
    const full = compileProject(load, facts({ stateRoot: root }), { nonce: 't', services: ['built'], noDeps: true });
    const plan = { ...full, stateRoot: root };
    const launched: string[] = [];
    const run = new ProjectRun(plan, { net: new FakeNetHost(), launch: async (s) => { launched.push(s.container); }, remove: async () => {} });
    await assert.rejects(run.prepare(), (e: Error & { code?: string }) => /build context .*missing is not a directory/.test(e.message) && e.code === 'E_BUILD_CONTEXT');
    await run.rollback();
    assert.deepEqual(launched, []);
  } finally { rmSync(root, { recursive: true, force: true }); }
});

test('the reporters render the engine\'s build events: a line per stage, step and the result, with the service', async () => {
  const { initialState, reduce, drainFinished } = await import('../../../src/ui/model.js');
  let s = initialState({ now: 0 });
  for (const event of [
    { type: 'stage', stage: '0', base: 'base:1' },
    { type: 'step', stage: '0', n: 2, total: 3, text: 'RUN make', line: 2, state: 'running' },
    { type: 'step', stage: '0', n: 2, total: 3, text: 'RUN make', line: 2, state: 'done', ms: 5 },
    { type: 'done', digest: DIGEST, names: ['app'], layers: 2, ms: 9, ran: 1, cached: 1 },
  ] as BuildEvent[]) s = reduce(s, { type: 'build', service: 'app', image: 'proj-app', event }, 1);
  const lines = drainFinished(s).lines.map((l) => `${l.container} ${l.level} ${l.text}`);
  assert.deepEqual(lines, ['app info build proj-app: stage 0 FROM base:1', 'app info build step 2/3 RUN make', 'app ok built proj-app abababababab (1 ran, 1 cached)']);
});

test('compose run -w/-u/-v on a service whose launch is compiled after its build: the changes ride in the deferred launch data', async () => {
  const dir = project({ 'compose.yaml': COMPOSE, 'app/Dockerfile': 'FROM scratch\nUSER 7\n' });
  const load = await loadIt(dir, 'missing');
  const bind = { type: 'bind' as const, source: dir, target: '/mnt/x', readonly: true, recursive: true, options: [], field: 'run -v', sourceKind: 'dir' as const };
  const one = { service: 'built', name: 'built-run-1', args: ['sh'], cwd: '/tmp', user: { name: 'app:staff' }, mounts: [bind] };
  const plan = compileProject(load, facts(), { nonce: 'test', oneOff: one });
  const launch = plan.steps.find((s) => s.op === 'launch') as Extract<ProjectStep, { op: 'launch' }>;
  const d = launch.deferred!;
  assert.equal(launch.plan, undefined, 'still compiled after the build');
  assert.deepEqual([d.input.process?.user, d.input.process?.group], ['app', 'staff'], 'the user goes to the spec loaded with the built image (its /etc/passwd decides the ids)');
  assert.deepEqual([d.patch.oneOff?.cwd, d.patch.oneOff?.mounts, d.patch.oneOff?.args], ['/tmp', [bind], undefined]);
  assert.deepEqual(d.input.process?.args, ['sh'], 'the arguments go to the spec loaded with the built image (they replace its Cmd, not its Entrypoint)');
  // the late compile's patch: the working directory and the bind (in place of one at the same target); a resolved user's ids
  const { patchSpec } = await import('../../../src/plan/project/compile.js');
  const web = load.services.get('web')!.canonical!;
  const spec = patchSpec({ ...web, mounts: [{ ...bind, source: '/elsewhere' }] }, { ...d.patch, oneOff: { ...d.patch.oneOff, user: { name: '1000', uid: 1000, gid: 1000, groups: [1000] } } });
  assert.equal(spec.process.cwd, '/tmp');
  assert.deepEqual(spec.mounts.filter((m) => m.target === '/mnt/x').map((m) => m.type === 'bind' && m.source), [dir]);
  assert.deepEqual([spec.process.uid, spec.process.gid, spec.process.groups], [1000, 1000, [1000]]);
});
