// The ProjectPlan: a snapshot of the example project's plan on fixed host facts; the semantics it
// decides (addresses from the leases read before compile, internal networks, driver_opts volumes,
// recreate/running, unrunnable services); and the engine executing it against a fake host with a
// failure injected at every step in turn — each time everything it made is undone.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../../helpers.js';
import { genericHost } from '../../../src/validate/host.js';
import { loadCompose } from '../../../src/compose/index.js';
import { compileProject, configHash, type ProjectHostFacts } from '../../../src/plan/project/compile.js';
import { formatProjectPlan } from '../../../src/plan/project/format.js';
import type { ProjectPlan, ProjectStep } from '../../../src/plan/project/types.js';
import { ProjectRun } from '../../../src/runtime/project/exec.js';
import { emptyDb, loadLeases, type LeaseDb } from '../../../src/runtime/net/ipam.js';
import { leasesPath } from '../../../src/runtime/net/names.js';
import { FakeNetHost } from '../net/fake-host.js';
import { project } from '../compose/helpers.js';

const host = genericHost();
const update = process.env.UPDATE_SNAPSHOTS === '1';
const facts = (o: Partial<ProjectHostFacts> = {}): ProjectHostFacts => ({ host, stateRoot: '/run/niwa', leases: emptyDb(), routes: [], links: [], netns: [], exists: [], containers: [], ...o });
const loadDir = (dir: string, dataRoot = '/var/lib/niwa', file?: string) => loadCompose({ cwd: dir, env: {}, dataRoot, ...(file ? { files: [file] } : {}), load: { hostCgroupControllers: host.cgroup.v2Controllers } });

test('plan snapshot: examples/compose/compose.yaml', async () => {
  const load = await loadDir(join(repoRoot, 'examples', 'compose'));
  const plan = compileProject(load, facts(), { nonce: 'test' });
  assert.deepEqual(JSON.parse(JSON.stringify(plan)), plan, 'plain JSON');
  const text = formatProjectPlan(plan).split(repoRoot).join('<repo>');
  const snap = join(repoRoot, 'test', 'snapshots', 'compose__compose.yaml.project-plan.txt');
  if (update || !existsSync(snap)) { writeFileSync(snap, text); if (!update) assert.fail(`snapshot ${snap} was missing and has been written; re-run`); }
  else assert.equal(text, readFileSync(snap, 'utf8'), 'project plan changed; if intended, run UPDATE_SNAPSHOTS=1');
  // every step names the compose key it comes from
  for (const s of [...plan.steps, ...plan.teardown]) assert.match(s.field, /^(services|networks|volumes)\b/, `step ${s.index} ${s.op}: ${s.field}`);
  assert.deepEqual(plan.services.map((s) => [s.service, s.action, s.addresses.default]), [['seed', 'create', '10.89.0.2'], ['server', 'create', '10.89.0.3'], ['client', 'create', '10.89.0.4']]);
  const launch = plan.steps.find((s) => s.op === 'launch' && s.container === 'server-1') as Extract<ProjectStep, { op: 'launch' }>;
  const setns = launch.plan!.steps.find((s) => s.op === 'setns' && s.flag === 'CLONE_NEWNET');
  assert.equal(setns && setns.op === 'setns' && setns.path, '/run/niwa/net/ns/niwa-demo/server-1', 'the launch plan joins the namespace the project plan prepares');
  assert.ok(plan.steps.some((s) => s.op === 'publish' && s.field === 'services.server.ports'));
});

test('addresses come from the leases read before compile; running services are left alone', async () => {
  const load = await loadDir(join(repoRoot, 'examples', 'compose'));
  // the first plan's files (hosts, resolv.conf) are written under its own state root, never /run/niwa
  const dir = mkdtempSync(join(tmpdir(), 'niwa-pp-'));
  const first = compileProject(load, facts({ stateRoot: dir }), { nonce: 'a' });
  // the database as the first plan leaves it
  let db: LeaseDb = emptyDb();
  try {
    const run = new ProjectRun(first, { net: new FakeNetHost(), launch: async () => {}, remove: async () => {} });
    await run.prepare();
    for (const s of first.services) await run.startService(s.service);
    db = loadLeases(leasesPath(dir));
  } finally { rmSync(dir, { recursive: true, force: true }); }
  const server = load.services.get('server')!;
  const second = compileProject(load, facts({ leases: db, links: [db.networks['niwa-demo/default'].bridge], containers: [{ name: 'server-1', live: true, configHash: configHash(server) }, { name: 'seed-1', live: false }, { name: 'client-1', live: true, configHash: 'other' }] }), { nonce: 'b' });
  assert.deepEqual(second.services.map((s) => [s.service, s.action, s.addresses.default]), [['seed', 'replace', '10.89.0.2'], ['server', 'running', '10.89.0.3'], ['client', 'recreate', '10.89.0.4']]);
  assert.ok(!second.steps.some((s) => s.op === 'ip' && s.args.includes('bridge')), 'the bridge exists: not created again');
  assert.ok(!second.steps.some((s) => s.service === 'server'), 'nothing for the running service');
  assert.equal(second.steps.find((s) => s.service === 'client')?.op, 'remove', 'a changed service is removed first');
  // another project's network on the pool's first subnet: this one gets the next
  const other = compileProject(load, facts({ leases: { version: 1, networks: { 'x/default': { ...db.networks['niwa-demo/default'], project: 'x', bridge: 'nw-x' } } } }), { nonce: 'c' });
  assert.equal(other.services[0].addresses.default, '10.89.1.2');
});

test('internal network: no default route, no published ports; volume driver_opts: bind and tmpfs; an unrunnable service does not stop the others', async () => {
  const dir = project({
    'compose.yaml': [
      'services:',
      '  web:',
      '    command: ["sleep", "60"]',
      '    networks: [back]',
      '    ports: ["8080:80"]',
      '    volumes: ["data:/data", "scratch:/scratch"]',
      '  peer:',
      '    command: ["sleep", "60"]',
      '    networks: [back, front]',
      '  built:',
      '    build: ./app',
      'networks:',
      '  back: { internal: true }',
      '  front: {}',
      'volumes:',
      '  data: { driver_opts: { type: none, o: bind, device: /srv/data } }',
      '  scratch: { driver_opts: { type: tmpfs, device: tmpfs, o: "size=8m" } }',
      '',
    ].join('\n'),
  });
  const load = await loadDir(dir, join(dir, '.data'));
  const plan = compileProject(load, facts(), { nonce: 't' });
  const routes = plan.steps.filter((s) => s.op === 'ip' && s.args[0] === 'route');
  assert.deepEqual(routes.map((s) => s.service), ['peer'], 'only peer has a default route, through front');
  const front = plan.steps.find((x) => x.op === 'lease' && x.network === 'front' && !x.container) as Extract<ProjectStep, { op: 'lease' }>;
  assert.ok(routes[0].op === 'ip' && routes[0].args.includes(front.gateway), 'via the gateway of front');
  assert.ok(!plan.steps.some((s) => s.op === 'publish'), 'no port published from an internal network');
  assert.ok(plan.warnings.some((w) => /web: ports are not published/.test(w)), plan.warnings.join('\n'));
  const mounts = plan.steps.filter((s) => s.op === 'mount');
  assert.deepEqual(mounts.map((s) => s.op === 'mount' && [s.source, s.fstype, s.options, s.field]), [
    ['/srv/data', null, 'bind', 'volumes.data.driver_opts'],
    ['tmpfs', 'tmpfs', 'size=8m', 'volumes.scratch.driver_opts'],
  ]);
  assert.ok(plan.teardown.some((s) => s.op === 'umount'), 'down unmounts them');
  assert.deepEqual(plan.services.filter((s) => s.action === 'unrunnable').map((s) => s.service), ['built']);
  assert.ok(!plan.steps.some((s) => s.op === 'build'), 'a load that builds nothing (no image store) plans no build (project-images.test.ts plans them)');
  const only = compileProject(load, facts(), { nonce: 't', services: ['web'] });
  assert.deepEqual(only.services.map((s) => s.service), ['web'], 'up web plans web alone');
});

/** Runs a plan as `up` does on a fake host; returns what remains. */
async function runWithFailure(plan: ProjectPlan, failAt: number | undefined): Promise<{ failed: boolean; links: Set<string>; mounted: Set<string>; live: Set<string>; leases: LeaseDb; files: string[] }> {
  const net = new FakeNetHost();
  const live = new Set<string>();
  const run = new ProjectRun(plan, {
    net,
    beforeStep: (s) => { if (s.index === failAt) throw new Error(`injected failure at step ${s.index}`); },
    launch: async (s) => { live.add(s.container); },
    remove: async (c) => { live.delete(c); },
  });
  let failed = false;
  try {
    await run.prepare();
    for (const e of plan.services) await run.startService(e.service);
  } catch (e) {
    failed = true;
    assert.match((e as Error).message, new RegExp(`step ${failAt}\\b`));
    await run.rollback();
  }
  const files: string[] = [];
  const walk = (d: string) => { for (const f of readdirSync(d, { withFileTypes: true })) { const p = join(d, f.name); if (f.isDirectory()) walk(p); else files.push(p); } };
  walk(plan.stateRoot);
  return { failed, links: net.links, mounted: net.mounted, live, leases: loadLeases(leasesPath(plan.stateRoot)), files: files.filter((f) => !f.endsWith('leases.json')) };
}

test('the engine runs every step of the plan, and a failure at any step undoes everything it made', async () => {
  const root = mkdtempSync(join(tmpdir(), 'niwa-pp-'));
  const load = await loadDir(join(repoRoot, 'examples', 'compose'), join(root, 'data'));
  const volume = join(root, 'data', 'volumes', 'niwa-demo_site');
  try {
    const fresh = () => { const d = join(root, String(Math.random()).slice(2)); mkdirSync(d); return d; };
    const ok = await runWithFailure(compileProject(load, facts({ stateRoot: fresh() }), { nonce: 'x' }), undefined);
    assert.equal(ok.failed, false);
    assert.deepEqual([...ok.live].sort(), ['client-1', 'seed-1', 'server-1']);
    assert.equal(Object.keys(ok.leases.networks['niwa-demo/default'].leases).length, 3);
    assert.ok(existsSync(volume));
    rmSync(volume, { recursive: true });
    const n = compileProject(load, facts({ stateRoot: '/x' }), { nonce: 'x' }).steps.length;
    for (let k = 0; k < n; k++) {
      const plan = compileProject(load, facts({ stateRoot: fresh() }), { nonce: 'x' });
      const r = await runWithFailure(plan, k);
      const what = `failure at step ${k} (${plan.steps[k].op})`;
      assert.equal(r.failed, true, what);
      assert.deepEqual([...r.links], [], `${what}: links left`);
      assert.deepEqual([...r.mounted], [], `${what}: namespaces left`);
      assert.deepEqual([...r.live], [], `${what}: containers left`);
      assert.deepEqual(r.leases.networks, {}, `${what}: leases left`);
      assert.deepEqual(r.files, [], `${what}: files left`);
      assert.equal(existsSync(volume), false, `${what}: the new volume is left`);
    }
  } finally { rmSync(root, { recursive: true, force: true }); }
});

test('services of one level start in parallel: one failing undoes only its own units', async () => {
  const dir = project({ 'compose.yaml': 'services:\n  a:\n    command: ["sleep", "60"]\n  b:\n    command: ["sleep", "60"]\n' });
  const load = await loadDir(dir, join(dir, '.data'));
  const state = mkdtempSync(join(tmpdir(), 'niwa-pp-'));
  try {
    const plan = compileProject(load, facts({ stateRoot: state }), { nonce: 'p' });
    assert.deepEqual(plan.levels, [['a', 'b']]);
    const live = new Set<string>();
    const net = new FakeNetHost();
    const run = new ProjectRun(plan, {
      net,
      launch: async (s) => { await new Promise((r) => setTimeout(r, s.container === 'b-1' ? 20 : 1)); if (s.container === 'b-1') throw new Error('b cannot start'); live.add(s.container); },
      remove: async (c) => { live.delete(c); },
    });
    await run.prepare();
    const [ra, rb] = await Promise.allSettled([run.startService('a'), run.startService('b')]);
    assert.equal(ra.status, 'fulfilled');
    assert.equal(rb.status, 'rejected');
    assert.deepEqual([...live], ['a-1']);
    const leases = loadLeases(leasesPath(state)).networks[`${load.project.name}/default`].leases;
    assert.deepEqual(Object.keys(leases), ['a-1'], 'b\'s lease is released, a\'s kept');
    assert.ok(existsSync(join(state, 'net', 'hosts', load.project.name, 'a-1')), 'a\'s hosts file is kept');
    assert.ok(existsSync(join(state, 'net', 'hosts', load.project.name, '_resolv.conf')), 'the shared resolv.conf is kept');
    assert.ok(net.mounted.has(join(state, 'net', 'ns', load.project.name, 'a-1')) && !net.mounted.has(join(state, 'net', 'ns', load.project.name, 'b-1')));
  } finally { rmSync(state, { recursive: true, force: true }); }
});
