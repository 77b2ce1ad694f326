// A single container's network in its launch plan (niwa run -p / --network bridge|NAME, spec `network`),
// compiled against a lease database given as a host fact: the snapshot of `plan -p 8080:80`, and the
// rules that make it runnable and undoable (ports first, niwa's bridge only when missing, the
// container joins the prepared namespace, every prepare step has its undo in cleanup).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../../helpers.js';
import { loadSpecObject } from '../../../src/spec/load/index.js';
import { compile } from '../../../src/plan/compile.js';
import { formatPlan } from '../../../src/plan/format.js';
import { genericHost } from '../../../src/validate/host.js';
import { BRIDGE_PROJECT, defaultBridge, type ContainerNetFacts } from '../../../src/plan/steps/net.js';
import { emptyDb, reserveAddress, reserveNetwork, type LeaseDb } from '../../../src/runtime/net/ipam.js';
import type { Step } from '../../../src/plan/types.js';
import type { ContainerSpec } from '../../../src/spec/types.js';
import { UserError } from '../../../src/errors.js';

const host = genericHost();
const spec = (network: ContainerSpec['network'], name = 'web') => loadSpecObject({ name, process: { args: ['/bin/true'] }, network }, '<inline>', { skipConsistency: true, hostUid: 0, hostGid: 0 });
const facts = (leases: LeaseDb = emptyDb(), links: string[] = []): ContainerNetFacts => ({ leases, routes: [{ iface: 'eth0', cidr: { base: 0x0a590000, prefix: 24 } }], links });
const of = <K extends Step['op']>(steps: Step[], op: K) => steps.filter((s) => s.op === op) as Extract<Step, { op: K }>[];

/** A compose project `demo` with network default (bridge up) and its service web-1. */
function demo(): LeaseDb {
  let db = reserveNetwork(emptyDb(), { project: 'demo', network: 'default', bridge: 'nw-demo', routes: [] }).db;
  db = reserveAddress(db, 'demo/default', 'web-1', { aliases: ['web'], ifname: 'eth0', veth: 'nwx', netns: '/run/niwa/net/ns/demo/web-1' }).db;
  return db;
}

test('plan snapshot: niwa plan -p 8080:80 (niwa\'s bridge, not there yet)', async () => {
  const s = await spec({ ports: ['8080:80'] });
  const plan = compile(s, host, { id: 'web', project: 'default', net: facts() });
  const snap = join(repoRoot, 'test', 'snapshots', 'run-publish.plan.txt');
  const text = formatPlan(plan);
  if (process.env.UPDATE_SNAPSHOTS === '1' || !existsSync(snap)) {
    mkdirSync(join(repoRoot, 'test', 'snapshots'), { recursive: true });
    writeFileSync(snap, text);
  }
  assert.equal(text, readFileSync(snap, 'utf8'), 'plan changed; if intended, run UPDATE_SNAPSHOTS=1');
});

test('ports first, then the lease, niwa\'s bridge (ifMissing), the namespace, veth, address, route, hosts; the container joins it', async () => {
  const plan = compile(await spec({ ports: ['127.0.0.1:8080:80/udp'] }), host, { id: 'web', project: 'default', net: facts() });
  const prep = plan.steps.filter((s) => s.phase === 'prepare');
  assert.deepEqual(prep.slice(0, 2).map((s) => s.op), ['publish', 'lease']);
  const lease = of(prep, 'lease')[0];
  assert.equal(lease.subnet, '10.89.1.0/24', 'the first subnet the host does not route');
  assert.equal(lease.address, '10.89.1.2');
  assert.equal(lease.project, BRIDGE_PROJECT);
  const bridge = defaultBridge('/run/niwa');
  assert.equal(bridge, 'niwa0');
  const made = of(prep, 'ip').filter((s) => s.ifMissing === bridge).map((s) => s.args.join(' '));
  assert.deepEqual(made, ['link add name niwa0 type bridge', 'addr add 10.89.1.1/24 dev niwa0', 'link set niwa0 up']);
  const ips = of(prep, 'ip').map((s) => `${s.netns ? 'ns ' : ''}${s.args.join(' ')}`);
  assert.ok(ips.includes('ns route add default via 10.89.1.1 dev eth0'));
  assert.ok(ips.includes('ns link set lo up'));
  const netns = lease.netns;
  assert.deepEqual(plan.steps.filter((s) => s.op === 'setns').map((s) => (s as { path: string }).path), [netns], 'joins the prepared namespace');
  assert.ok(!of(plan.steps, 'clone')[0].flags.includes('CLONE_NEWNET'));
  const files = of(prep, 'write').map((w) => w.path);
  const binds = of(plan.steps, 'mount').filter((m) => m.source !== null && files.includes(m.source));
  assert.deepEqual(binds.map((m) => m.target.replace(/^.*\/etc\//, '/etc/')), ['/etc/hosts', '/etc/resolv.conf'], 'its hosts and resolv.conf are bound');
  assert.equal(of(prep, 'publish')[0].ports[0].protocol, 'udp');
  // cleanup: every made thing undone; niwa's bridge goes with its last container
  const clean = plan.steps.filter((s) => s.phase === 'cleanup');
  assert.ok(clean.some((s) => s.op === 'unpublish'));
  assert.ok(of(clean, 'ip').some((s) => s.args.join(' ') === `link del ${lease.veth}` && s.absentOk));
  assert.equal(of(clean, 'release')[0].bridge, 'niwa0');
  assert.ok(of(clean, 'netns').some((s) => s.action === 'delete' && s.path === netns));
});

test('a second container: the next address on the same subnet; --network bridge without ports publishes nothing', async () => {
  const first = compile(await spec({}, 'a'), host, { id: 'a', project: 'default', net: facts() });
  const l = of(first.steps, 'lease')[0];
  let db = reserveNetwork(emptyDb(), { project: l.project, network: l.network, bridge: l.bridge, subnet: l.subnet, routes: [] }).db;
  db = reserveAddress(db, `${l.project}/${l.network}`, 'a', { aliases: [], ifname: 'eth0', veth: l.veth, netns: l.netns }).db;
  const second = compile(await spec({ mode: 'bridge' }, 'b'), host, { id: 'b', project: 'default', net: facts(db, ['niwa0']) });
  assert.equal(of(second.steps, 'lease')[0].address, '10.89.1.3');
  assert.equal(of(second.steps, 'publish').length, 0);
  const hosts = of(second.steps, 'write').find((w) => w.path.endsWith('/hosts/niwa.run/b'))!;
  assert.match(hosts.data, /10\.89\.1\.2\ta\n/);
  // a container of the same name (another project's) is on the network already: one name per network, as Docker's
  await assert.rejects(async () => compile(await spec({}, 'a'), host, { id: 'a', project: 'other', net: facts(db, ['niwa0']) }), (e: UserError) => /a container named a is already on network bridge/.test(e.message));
  // the same container again (a leftover of a crash): its own lease, the same address
  assert.equal(of(compile(await spec({}, 'a'), host, { id: 'a', project: 'default', net: facts(db, ['niwa0']) }).steps, 'lease')[0].address, '10.89.1.2');
});

test('--network demo_default: an address on the project\'s network, its services in /etc/hosts; no bridge made or removed', async () => {
  const s = await spec({ name: 'demo_default' }, 'probe');
  const clash = await spec({ name: 'demo_default' }, 'web-1');
  const plan = compile(s, host, { id: 'probe', project: 'default', net: facts(demo(), ['nw-demo']) });
  const lease = of(plan.steps, 'lease')[0];
  assert.equal(lease.project, 'demo');
  assert.equal(lease.bridge, 'nw-demo');
  assert.ok(!of(plan.steps, 'ip').some((i) => i.ifMissing));
  assert.equal(of(plan.steps, 'release')[0].bridge, undefined);
  const hosts = of(plan.steps, 'write').find((w) => w.path.endsWith('/hosts/demo/probe'))!;
  assert.match(hosts.data, /\tweb-1 web\n/);
  assert.ok(of(plan.steps, 'hosts').every((h) => h.project === 'demo'), 'the project\'s containers learn it');
  assert.throws(() => compile(s, host, { id: 'p', project: 'default', net: facts(demo(), []) }), /its bridge nw-demo is missing/);
  // the name of one of the project's containers: refused (its lease has the service's namespace)
  assert.throws(() => compile(clash, host, { id: 'w', project: 'default', net: facts(demo(), ['nw-demo']) }), (e: UserError) => /a container named web-1 is already on network demo_default/.test(e.message));
  const unknown = await spec({ name: 'nope_x' }, 'probe');
  assert.throws(() => compile(unknown, host, { id: 'p', project: 'default', net: facts(demo(), ['nw-demo']) }), (e: UserError) => /network nope_x does not exist/.test(e.message) && /demo_default/.test(e.hint ?? ''));
  assert.throws(() => compile(unknown, host, { id: 'p', project: 'default' }), (e: UserError) => e.code === 'E_NET_FACTS');
});
