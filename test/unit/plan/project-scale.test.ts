// Replicas in the ProjectPlan (up --scale SERVICE=N, deploy.replicas): N containers SERVICE-1…N,
// each with its own address, veth, hosts file, ports and launch plan (hostname = its name); the
// service name resolves to every replica; container_name or a fixed host port with N > 1 are
// errors; scaling down removes the highest-numbered replicas. Snapshot of the --scale 3 plan.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../../helpers.js';
import { genericHost } from '../../../src/validate/host.js';
import { loadCompose } from '../../../src/compose/index.js';
import { compileProject, configHash, replicaIndex, type ProjectHostFacts } from '../../../src/plan/project/compile.js';
import { formatProjectPlan } from '../../../src/plan/project/format.js';
import type { ProjectStep } from '../../../src/plan/project/types.js';
import { UserError } from '../../../src/errors.js';
import { emptyDb } from '../../../src/runtime/net/ipam.js';
import { project } from '../compose/helpers.js';
import { ProjectRun } from '../../../src/runtime/project/exec.js';
import { FakeNetHost } from '../net/fake-host.js';

const host = genericHost();
const update = process.env.UPDATE_SNAPSHOTS === '1';
const facts = (o: Partial<ProjectHostFacts> = {}): ProjectHostFacts => ({ host, stateRoot: '/run/niwa', leases: emptyDb(), routes: [], links: [], netns: [], exists: [], containers: [], ...o });
const load = (yaml: string[]) => {
  const dir = project({ 'compose.yaml': yaml.join('\n') + '\n' });
  return loadCompose({ cwd: dir, env: {}, projectName: 'sc', dataRoot: join(dir, '.data'), load: { hostCgroupControllers: host.cgroup.v2Controllers } });
};
const WEB = ['services:', '  web:', '    command: ["sleep", "60"]', '    ports: ["80", "8000-8002:81"]', '  client:', '    command: ["sleep", "60"]', '    depends_on: [web]'];
type Launch = Extract<ProjectStep, { op: 'launch' }>;
type Publish = Extract<ProjectStep, { op: 'publish' }>;
type FileStep = Extract<ProjectStep, { op: 'file' }>;

test('--scale web=3: three containers, each its own address, hostname, ports and launch plan; web resolves to all three (snapshot)', async () => {
  const l = await load(WEB);
  const plan = compileProject(l, facts(), { nonce: 'test', scale: { web: 3 } });
  assert.deepEqual(plan.services.map((e) => [e.container, e.replica ?? null, e.action, e.addresses.default]), [
    ['web-1', 1, 'create', '10.89.0.2'], ['web-2', 2, 'create', '10.89.0.3'], ['web-3', 3, 'create', '10.89.0.4'], ['client-1', null, 'create', '10.89.0.5'],
  ]);
  const launches = plan.steps.filter((s): s is Launch => s.op === 'launch');
  assert.deepEqual(launches.map((s) => [s.service, s.container, s.spec!.hostname, s.plan!.name]), [
    ['web', 'web-1', 'web-1', 'web-1'], ['web', 'web-2', 'web-2', 'web-2'], ['web', 'web-3', 'web-3', 'web-3'], ['client', 'client-1', 'client', 'client-1'],
  ]);
  // each its own veth and network namespace
  const veths = new Set(plan.steps.flatMap((s) => (s.op === 'ip' && s.args[0] === 'link' && s.args[1] === 'add' && s.args.includes('veth') ? [s.args[2]] : [])));
  assert.equal(veths.size, 4, 'one veth per container');
  assert.equal(new Set(launches.map((s) => s.plan!.steps.find((x) => x.op === 'setns' && x.flag === 'CLONE_NEWNET')).map((x) => x && x.op === 'setns' && x.path)).size, 4);
  // ports: the one without a host port is chosen per replica (0); the range gives replica N its Nth port
  const publish = plan.steps.filter((s): s is Publish => s.op === 'publish');
  assert.deepEqual(publish.map((s) => [s.container, s.address, s.ports.map((p) => `${p.hostPort}->${p.containerPort}`)]), [
    ['web-1', '10.89.0.2', ['0->80', '8000->81']], ['web-2', '10.89.0.3', ['0->80', '8001->81']], ['web-3', '10.89.0.4', ['0->80', '8002->81']],
  ]);
  // the client's /etc/hosts lists every replica under the service name (and each under its own names)
  const hosts = plan.steps.find((s): s is FileStep => s.op === 'file' && s.path.endsWith('/hosts/sc/client-1'))!.content;
  for (const [n, a] of [['web-1', '10.89.0.2'], ['web-2', '10.89.0.3'], ['web-3', '10.89.0.4']]) {
    assert.match(hosts, new RegExp(`^${a.replace(/\./g, '\\.')}\\t${n} web sc-web-${n.slice(-1)}$`, 'm'));
  }
  assert.equal(hosts.split('\n').filter((x) => / web( |$)/.test(x)).length, 3, 'web resolves to the three replicas');
  // a replica's own hosts file starts with itself under its hostname
  const own = plan.steps.find((s): s is FileStep => s.op === 'file' && s.path.endsWith('/hosts/sc/web-2'))!.content;
  assert.match(own, /^10\.89\.0\.3\tweb-2 web sc-web-2$/m);
  // the client waits for the service (all its replicas), once
  assert.deepEqual(plan.services.at(-1)!.dependsOn.map((d) => d.service), ['web']);
  const text = formatProjectPlan(plan).split(repoRoot).join('<repo>').replace(/\/tmp\/[^/\s]+/g, '<tmp>');
  const snap = join(repoRoot, 'test', 'snapshots', 'compose__scale-3.project-plan.txt');
  if (update || !existsSync(snap)) { writeFileSync(snap, text); if (!update) assert.fail(`snapshot ${snap} was missing and has been written; re-run`); }
  else assert.equal(text, readFileSync(snap, 'utf8'), 'project plan changed; if intended, run UPDATE_SNAPSHOTS=1');
});

test('deploy.replicas in the file is the default count; --scale overrides it; scale 0 runs none and nothing waits for it', async () => {
  const l = await load(['services:', '  web:', '    command: ["sleep", "60"]', '    deploy: { replicas: 2 }', '  client:', '    command: ["sleep", "60"]', '    depends_on: [web]']);
  assert.deepEqual(compileProject(l, facts(), { nonce: 't' }).services.map((e) => e.container), ['web-1', 'web-2', 'client-1']);
  assert.deepEqual(compileProject(l, facts(), { nonce: 't', scale: { web: 1 } }).services.map((e) => e.container), ['web-1', 'client-1']);
  const none = compileProject(l, facts(), { nonce: 't', scale: { web: 0 } });
  assert.deepEqual(none.services.map((e) => [e.container, e.dependsOn.length]), [['client-1', 0]]);
  assert.ok(!none.steps.some((s) => s.service === 'web'));
});

test('with more than one replica, container_name and a fixed host port are errors naming the compose key', async () => {
  const named = await load(['services:', '  web:', '    command: ["sleep", "60"]', '    container_name: the-web']);
  assert.throws(() => compileProject(named, facts(), { nonce: 't', scale: { web: 2 } }), (e: unknown) => e instanceof UserError && e.code === 'E_COMPOSE_SCALE' && /container_name 'the-web' names one container/.test(e.message));
  assert.equal(compileProject(named, facts(), { nonce: 't', scale: { web: 1 } }).services[0].container, 'the-web');
  const fixed = await load(['services:', '  web:', '    command: ["sleep", "60"]', '    ports: ["8080:80"]']);
  assert.throws(() => compileProject(fixed, facts(), { nonce: 't', scale: { web: 2 } }), (e: unknown) => e instanceof UserError && e.code === 'E_COMPOSE_SCALE' && /services\.web\.ports\[0\]: host port 8080 is fixed.*port is already allocated/.test(e.message) && /without a host port/.test(e.hint ?? ''));
  const narrow = await load(['services:', '  web:', '    command: ["sleep", "60"]', '    ports: ["8000-8001:80"]']);
  assert.throws(() => compileProject(narrow, facts(), { nonce: 't', scale: { web: 3 } }), /host range 8000-8001 has no port left for replica 3/);
});

test('scaling down stops and removes the highest-numbered replicas; the one that stays is left alone', async () => {
  const l = await load(WEB);
  const hash = configHash(l.services.get('web')!);
  const running = (n: string) => ({ name: n, live: true, configHash: hash });
  const plan = compileProject(l, facts({ containers: [running('web-1'), running('web-2'), running('web-3'), { name: 'client-1', live: true, configHash: configHash(l.services.get('client')!) }] }), { nonce: 't', scale: { web: 1 } });
  assert.deepEqual(plan.services.map((e) => [e.container, e.action]), [['web-1', 'running'], ['client-1', 'running']]);
  const web = plan.steps.filter((s) => s.service === 'web');
  assert.deepEqual(web.map((s) => [s.op, s.op === 'remove' ? s.container : '', s.op === 'remove' ? s.stop : '']), [['remove', 'web-3', true], ['remove', 'web-2', true]]);
  assert.ok(web.every((s) => s.stage === 'service' && s.field === 'services.web' && /scaled to 1/.test(s.why)));
  // the engine removes them together (each waits out its own grace period), not as a recreate
  let active = 0;
  let most = 0;
  const removed: [string, boolean, boolean][] = [];
  const run = new ProjectRun(plan, { net: new FakeNetHost(), launch: async () => {}, remove: async (n, stop, recreate) => { removed.push([n, stop, recreate]); most = Math.max(most, ++active); await new Promise((r) => setTimeout(r, 20)); active--; } });
  await run.startService('web');
  assert.deepEqual(removed, [['web-3', true, false], ['web-2', true, false]]);
  assert.equal(most, 2, 'both at once');
  // replica numbers of the service's containers
  assert.deepEqual(['web-1', 'web-12', 'web-x', 'client-1', 'web'].map((n) => replicaIndex(l, 'web', n) ?? null), [1, 12, null, null, null]);
});
