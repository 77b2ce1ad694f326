// IPAM: parsing, subnet choice around host routes, address allocation, the lease database and its file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  parseIp, formatIp, parseCidr, formatCidr, overlaps, gatewayOf, parseProcRoutes, pickSubnet, pickAddress,
  emptyDb, reserveNetwork, reserveAddress, releaseAddress, releaseNetwork, withLeases, loadLeases, networkKey,
} from '../../../src/runtime/net/ipam.js';

test('addresses and subnets round-trip; bad ones are refused', () => {
  assert.equal(formatIp(parseIp('10.89.3.7')), '10.89.3.7');
  assert.equal(parseIp('255.255.255.255'), 0xffffffff);
  assert.throws(() => parseIp('10.0.0.256'), /invalid IPv4/);
  assert.throws(() => parseIp('10.0.0'), /invalid IPv4/);
  assert.equal(formatCidr(parseCidr('10.89.0.0/16')), '10.89.0.0/16');
  assert.throws(() => parseCidr('10.89.0.1/24'), /host bits are set \(did you mean 10\.89\.0\.0\/24\?\)/);
  assert.throws(() => parseCidr('10.89.0.0/33'), /invalid subnet/);
  assert.ok(overlaps(parseCidr('10.0.0.0/8'), parseCidr('10.89.1.0/24')));
  assert.ok(!overlaps(parseCidr('10.89.0.0/24'), parseCidr('10.89.1.0/24')));
  assert.equal(gatewayOf(parseCidr('10.89.4.0/24')), '10.89.4.1');
  assert.throws(() => gatewayOf(parseCidr('10.0.0.0/31')), /too small/);
});

const PROC_ROUTE = `Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0
eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
docker0\t0000590A\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0
`;

test('/proc/net/route: destinations decoded, default route left out', () => {
  const r = parseProcRoutes(PROC_ROUTE);
  assert.deepEqual(r.map((x) => `${x.iface} ${formatCidr(x.cidr)}`), ['eth0 192.0.2.0/24', 'docker0 10.89.0.0/16']);
});

test('pickSubnet skips routed and used subnets, and says when the pool is full', () => {
  assert.equal(formatCidr(pickSubnet([])), '10.89.0.0/24');
  assert.equal(formatCidr(pickSubnet([parseCidr('10.89.0.0/24'), parseCidr('10.89.1.0/25')])), '10.89.2.0/24');
  assert.equal(formatCidr(pickSubnet([parseCidr('10.89.0.0/16')], '10.0.0.0/8')), '10.0.0.0/24');
  assert.throws(() => pickSubnet([parseCidr('10.89.0.0/16')]), /no free \/24 subnet left in the pool 10\.89\.0\.0\/16/);
  assert.equal(formatCidr(pickSubnet([], '172.30.0.0/16', 28)), '172.30.0.0/28');
});

test('pickAddress: gateway, network and broadcast are never handed out', () => {
  const s = parseCidr('10.89.0.0/24');
  assert.equal(pickAddress(s, []), '10.89.0.2');
  assert.equal(pickAddress(s, ['10.89.0.2', '10.89.0.3']), '10.89.0.4');
  const small = parseCidr('10.89.0.0/30'); // .0 net, .1 gw, .2 host, .3 broadcast
  assert.equal(pickAddress(small, []), '10.89.0.2');
  assert.throws(() => pickAddress(small, ['10.89.0.2']), /is full/);
});

const lease = { aliases: ['web'], ifname: 'eth0', veth: 'nwaaaaaaaaaaaa', netns: '/x' };

test('lease db: networks get distinct subnets avoiding host routes; containers distinct addresses', () => {
  const routes = parseProcRoutes(PROC_ROUTE).filter((r) => r.iface === 'eth0');
  routes.push({ iface: 'eth1', cidr: parseCidr('10.89.0.0/24') });
  let db = emptyDb();
  const a = reserveNetwork(db, { project: 'p', network: 'front', bridge: 'nw-a', routes });
  db = a.db;
  assert.equal(a.net.subnet, '10.89.1.0/24');
  assert.equal(a.net.gateway, '10.89.1.1');
  const b = reserveNetwork(db, { project: 'p', network: 'back', bridge: 'nw-b', routes });
  db = b.db;
  assert.equal(b.net.subnet, '10.89.2.0/24');
  assert.equal(reserveNetwork(db, { project: 'p', network: 'front', bridge: 'nw-a', routes }).net, a.net, 'idempotent');
  // the network's own bridge route does not count as a clash (it is up while niwa runs)
  const own = reserveNetwork(emptyDb(), { project: 'p', network: 'x', bridge: 'nw-x', subnet: '10.89.0.0/24', routes: [{ iface: 'nw-x', cidr: parseCidr('10.89.0.0/24') }] });
  assert.equal(own.net.subnet, '10.89.0.0/24');
  assert.throws(() => reserveNetwork(db, { project: 'q', network: 'n', bridge: 'nw-q', subnet: '192.0.2.0/25', routes }), /overlaps 192\.0\.2\.0\/24, already routed on the host via eth0/);
  assert.throws(() => reserveNetwork(db, { project: 'q', network: 'n', bridge: 'nw-q', subnet: '10.89.1.0/24', routes }), /overlaps 10\.89\.1\.0\/24, already routed on the host via nw-a/);
  assert.throws(() => reserveNetwork(db, { project: 'p', network: 'front', bridge: 'nw-a', subnet: '10.99.0.0/24', routes }), /already exists with subnet 10\.89\.1\.0\/24/);

  const k = networkKey('p', 'front');
  const w1 = reserveAddress(db, k, 'web-1', lease);
  db = w1.db;
  const w2 = reserveAddress(db, k, 'web-2', lease);
  db = w2.db;
  assert.equal(w1.lease.address, '10.89.1.2');
  assert.equal(w2.lease.address, '10.89.1.3');
  assert.equal(reserveAddress(db, k, 'web-1', lease).lease.address, '10.89.1.2', 'same container keeps its address');
  assert.throws(() => reserveAddress(db, k, 'x', { ...lease, address: '10.89.1.3' }), /already taken/);
  assert.throws(() => reserveAddress(db, k, 'x', { ...lease, address: '10.89.1.1' }), /not a usable host address/);
  assert.throws(() => reserveAddress(db, k, 'x', { ...lease, address: '10.89.7.9' }), /not a usable host address/);
  assert.equal(reserveAddress(db, k, 'fixed', { ...lease, address: '10.89.1.200' }).lease.address, '10.89.1.200');
  db = releaseAddress(db, k, 'web-1');
  assert.equal(reserveAddress(db, k, 'web-3', lease).lease.address, '10.89.1.2', 'a released address is reused');
  assert.throws(() => reserveAddress(db, 'p/none', 'x', lease), /does not exist/);
  db = releaseNetwork(db, k);
  assert.equal(db.networks[k], undefined);
  assert.equal(reserveNetwork(db, { project: 'z', network: 'z', bridge: 'nw-z', routes }).net.subnet, '10.89.1.0/24', 'a removed network frees its subnet');
});

test('withLeases: persisted as JSON, serialised, lock removed; a failing update changes nothing', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'niwa-ipam-'));
  try {
    const file = join(dir, 'net', 'leases.json');
    // 20 concurrent allocations must get 20 distinct addresses
    await withLeases(file, (db) => ({ db: reserveNetwork(db, { project: 'p', network: 'n', bridge: 'nw-n', routes: [] }).db, result: 0 }));
    const addrs = await Promise.all(Array.from({ length: 20 }, (_, i) => withLeases(file, (db) => {
      const r = reserveAddress(db, 'p/n', `c${i}`, lease);
      return { db: r.db, result: r.lease.address };
    })));
    assert.equal(new Set(addrs).size, 20);
    const disk = JSON.parse(readFileSync(file, 'utf8'));
    assert.equal(Object.keys(disk.networks['p/n'].leases).length, 20);
    await assert.rejects(withLeases(file, () => { throw new Error('boom'); }), /boom/);
    assert.equal(Object.keys(loadLeases(file).networks['p/n'].leases).length, 20);
    assert.equal(existsSync(file + '.lock'), false);
    assert.deepEqual(loadLeases(join(dir, 'missing.json')), emptyDb());
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
