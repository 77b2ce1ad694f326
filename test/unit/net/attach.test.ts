// createNetwork / attachContainer / detachContainer / removeNetwork against a fake host: the
// commands in order, idempotence, rollback after a failure at each point, /etc/hosts updates,
// and previewNetworks (what `niwa compose plan` shows) matching what attach runs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, existsSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { attachContainer, createNetwork, detachContainer, previewNetworks, readNetworks, removeNetwork, removeProjectNetworks, type NetContext } from '../../../src/runtime/net/attach.js';
import { describeNetStep } from '../../../src/runtime/net/exec.js';
import { emptyDb } from '../../../src/runtime/net/ipam.js';
import { FakeNetHost } from './fake-host.js';

async function withCtx(f: (ctx: NetContext, host: FakeNetHost) => Promise<void>, host = new FakeNetHost()): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'niwa-attach-'));
  try {
    await f({ stateRoot: dir, host, routes: () => [] }, host);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('create, attach two, detach, remove: commands, leases and /etc/hosts', () => withCtx(async (ctx, host) => {
  const n = await createNetwork(ctx, 'p', 'front');
  assert.equal(n.subnet, '10.89.0.0/24');
  assert.equal(host.runs.length, 1);
  assert.equal((await createNetwork(ctx, 'p', 'front')).steps.length, 0, 'bridge exists: nothing to do');
  assert.equal(host.runs.length, 1);

  const web = await attachContainer(ctx, { project: 'p', network: 'front', container: 'p-web-1', aliases: ['web'], hostname: 'webby' });
  assert.equal(web.address, '10.89.0.2');
  assert.equal(web.ifname, 'eth0');
  assert.deepEqual(host.commands().slice(1), [
    `unshare --net=${web.netnsPath} -- true`,
    `ip -batch - <<link add ${web.veth} type veth peer name eth0 netns ${web.netnsPath} | link set ${web.veth} master ${n.bridge} | link set ${web.veth} up`,
    `nsenter --net=${web.netnsPath} -- ip -batch - <<link set lo up | addr add 10.89.0.2/24 dev eth0 | link set eth0 up | route add default via 10.89.0.1 dev eth0`,
  ]);
  const ino = statSync(web.hostsFile).ino;
  const db = await attachContainer(ctx, { project: 'p', network: 'front', container: 'p-db-1', aliases: ['db'] });
  assert.equal(db.address, '10.89.0.3');
  assert.match(readFileSync(web.hostsFile, 'utf8'), /^10\.89\.0\.2\twebby p-web-1 web\n10\.89\.0\.3\tp-db-1 db\n$/m);
  assert.equal(statSync(web.hostsFile).ino, ino, 'rewritten in place');
  const before = host.runs.length;
  assert.equal((await attachContainer(ctx, { project: 'p', network: 'front', container: 'p-web-1', aliases: ['web'] })).steps.length, 0);
  assert.equal(host.runs.length, before, 'already attached: nothing run');

  await db.cleanup();
  assert.doesNotMatch(readFileSync(web.hostsFile, 'utf8'), /p-db-1/);
  assert.equal(existsSync(db.hostsFile), false);
  assert.equal(host.mounted.has(db.netnsPath), false);
  await removeNetwork(ctx, 'p', 'front');
  assert.deepEqual((await readNetworks(ctx)).networks, {});
  assert.deepEqual([...host.links], []);
  assert.deepEqual([...host.mounted], []);
}));

test('a second network: eth1, no second default route; last detach removes the namespace', () => withCtx(async (ctx, host) => {
  await createNetwork(ctx, 'p', 'front');
  const back = await createNetwork(ctx, 'p', 'back');
  assert.equal(back.subnet, '10.89.1.0/24');
  await attachContainer(ctx, { project: 'p', network: 'front', container: 'c' });
  const b = await attachContainer(ctx, { project: 'p', network: 'back', container: 'c' });
  assert.equal(b.ifname, 'eth1');
  const last = host.commands().at(-1)!;
  assert.match(last, /addr add 10\.89\.1\.2\/24 dev eth1 \| link set eth1 up$/);
  assert.equal(host.commands().filter((c) => c.startsWith('unshare')).length, 1, 'one namespace per container');
  await detachContainer(ctx, 'p', 'front', 'c');
  assert.ok(host.mounted.has(b.netnsPath), 'still on back');
  await removeProjectNetworks(ctx, 'p');
  assert.deepEqual([...host.mounted], []);
  assert.deepEqual((await readNetworks(ctx)).networks, {});
}));

for (const [what, failAt] of [['the namespace', 0], ['the veth', 1], ['an address inside', 2]] as const) {
  test(`a failure creating ${what} rolls back everything attach did`, async () => {
    const results = Array.from({ length: failAt }, () => ({ code: 0, stdout: '', stderr: '' }));
    results.push({ code: 1, stdout: '', stderr: 'RTNETLINK answers: Operation not permitted\nCommand failed -:1\n' });
    const host = new FakeNetHost([{ code: 0, stdout: '', stderr: '' }, ...results]);
    await withCtx(async (ctx) => {
      await createNetwork(ctx, 'p', 'n');
      await assert.rejects(attachContainer(ctx, { project: 'p', network: 'n', container: 'c' }), /Operation not permitted/);
      assert.deepEqual([...host.links].filter((l) => !l.startsWith('nw-')), [], 'no veth left');
      assert.deepEqual([...host.mounted], [], 'no namespace left');
      assert.deepEqual((await readNetworks(ctx)).networks['p/n'].leases, {}, 'lease released');
      const again = await attachContainer(ctx, { project: 'p', network: 'n', container: 'c' });
      assert.equal(again.address, '10.89.0.2', 'the address is free again');
    }, host);
  });
}

test('a failed bridge creation releases the subnet', async () => {
  const host = new FakeNetHost([{ code: 2, stdout: '', stderr: 'RTNETLINK answers: Operation not permitted\nCommand failed -:1\n' }]);
  await withCtx(async (ctx) => {
    await assert.rejects(createNetwork(ctx, 'p', 'n'), /ip link add name nw-[0-9a-f]{10} type bridge: RTNETLINK answers: Operation not permitted/);
    assert.deepEqual((await readNetworks(ctx)).networks, {});
    assert.equal(host.commands().at(-1), `ip -force -batch - <<link del ${host.runs[0].input!.split(' ')[3]}`, 'undo ran');
  }, host);
});

test('previewNetworks shows what up would run, and reserves nothing', () => withCtx(async (ctx, host) => {
  const p = previewNetworks(emptyDb(), ctx.stateRoot, 'p', [{ name: 'front' }], [{ name: 'p-web-1', networks: [{ network: 'front', aliases: ['web'] }] }], []);
  assert.equal(p.containers['p-web-1'].address.front, '10.89.0.2');
  await createNetwork(ctx, 'p', 'front');
  const a = await attachContainer(ctx, { project: 'p', network: 'front', container: 'p-web-1', aliases: ['web'] });
  assert.deepEqual(p.networks.front.map(describeNetStep), host.runs[0].input!.trim().split('\n').map((l) => `ip ${l}`));
  assert.deepEqual(p.containers['p-web-1'].prepare.map(describeNetStep), a.steps.map(describeNetStep));
}));
