// Published ports: every compose form parsed, /proc/net parsing, and the proxy on loopback
// (TCP echo round trip with half-close, UDP round trip, port-in-use refusal naming this process).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import * as dgram from 'node:dgram';
import { parsePort, parseProcNet, publishPorts, portOwner, PortInUseError, formatMapping } from '../../../src/runtime/net/ports.js';

const m = (hostIp: string, hostPort: number, containerPort: number, protocol: 'tcp' | 'udp' = 'tcp') => ({ hostIp, hostPort, containerPort, protocol });

test('short syntax', () => {
  assert.deepEqual(parsePort('3000'), [m('0.0.0.0', 0, 3000)]);
  assert.deepEqual(parsePort(3000), [m('0.0.0.0', 0, 3000)]);
  assert.deepEqual(parsePort('8080:80'), [m('0.0.0.0', 8080, 80)]);
  assert.deepEqual(parsePort('127.0.0.1:8080:80/tcp'), [m('127.0.0.1', 8080, 80)]);
  assert.deepEqual(parsePort('53:53/udp'), [m('0.0.0.0', 53, 53, 'udp')]);
  assert.deepEqual(parsePort('127.0.0.1::5000'), [m('127.0.0.1', 0, 5000)]);
  assert.deepEqual(parsePort('[::1]:6001:6001'), [m('::1', 6001, 6001)]);
  assert.deepEqual(parsePort('9090-9091:8080-8081'), [m('0.0.0.0', 9090, 8080), m('0.0.0.0', 9091, 8081)]);
  assert.deepEqual(parsePort('3000-3002'), [m('0.0.0.0', 0, 3000), m('0.0.0.0', 0, 3001), m('0.0.0.0', 0, 3002)]);
  assert.deepEqual(parsePort('8000-8010:80'), [m('0.0.0.0', 8000, 80)]);
  assert.equal(formatMapping(m('::1', 1, 2, 'udp')), '[::1]:1->2/udp');
});

test('long syntax', () => {
  assert.deepEqual(parsePort({ target: 80, published: '8080', host_ip: '127.0.0.1', protocol: 'udp', mode: 'host' }), [m('127.0.0.1', 8080, 80, 'udp')]);
  assert.deepEqual(parsePort({ target: 80 }), [m('0.0.0.0', 0, 80)]);
  assert.deepEqual(parsePort({ target: '80-81', published: '8080-8081' }), [m('0.0.0.0', 8080, 80), m('0.0.0.0', 8081, 81)]);
});

test('bad ports get a clear error', () => {
  assert.throws(() => parsePort('70000:80'), /invalid port '70000:80': port 70000 is outside 1–65535/);
  assert.throws(() => parsePort('80:0'), /outside 1–65535/);
  assert.throws(() => parsePort('abc'), /'abc' is not a port/);
  assert.throws(() => parsePort('1.2.3:80:80'), /'1\.2\.3' is not an IP address/);
  assert.throws(() => parsePort('80/sctp'), /sctp is not supported/);
  assert.throws(() => parsePort('80/icmp'), /protocol 'icmp'/);
  assert.throws(() => parsePort('8000-8002:80-81'), /host range has 3 ports but container range has 2/);
  assert.throws(() => parsePort('90-80'), /runs backwards/);
  assert.throws(() => parsePort({ target: 80, mode: 'swarm' }), /mode 'swarm'/);
  assert.throws(() => parsePort('1:2:3:4'), /too many/);
});

test('/proc/net/tcp and tcp6 lines decode to address, port, state, inode', () => {
  const tcp = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 12345 1 0000000000000000 100 0 0 10 0
   1: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 999 1 0000000000000000 100 0 0 10 0`;
  assert.deepEqual(parseProcNet(tcp), [
    { localIp: '127.0.0.1', localPort: 8080, state: 10, inode: 12345 },
    { localIp: '0.0.0.0', localPort: 22, state: 10, inode: 999 },
  ]);
  const tcp6 = `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000001000000:1F91 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1 0000000000000000 100 0 0 10 0
   1: 0000000000000000FFFF00000100007F:0050 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4343 1 0000000000000000 100 0 0 10 0`;
  assert.deepEqual(parseProcNet(tcp6).map((s) => [s.localIp, s.localPort, s.inode]), [['::1', 8081, 4242], ['127.0.0.1', 80, 4343]]);
});

/** A TCP echo server on 127.0.0.1 that half-closes after echoing, so the proxy must pass FIN both ways. */
async function echoServer(): Promise<net.Server> {
  const s = net.createServer({ allowHalfOpen: true }, (c) => {
    const chunks: Buffer[] = [];
    c.on('data', (d) => chunks.push(d));
    c.on('end', () => c.end(Buffer.concat([Buffer.from('echo:'), ...chunks])));
  });
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return s;
}

function roundTrip(port: number, payload: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = net.connect({ host: '127.0.0.1', port, allowHalfOpen: true });
    let out = '';
    const t = setTimeout(() => { c.destroy(); reject(new Error('timeout')); }, 5000);
    c.on('data', (d) => { out += d; });
    c.on('end', () => { clearTimeout(t); c.end(); resolve(out); });
    c.on('error', (e) => { clearTimeout(t); reject(e); });
    c.end(payload);
  });
}

test('TCP proxy: forwards both ways with half-close; an ephemeral port when none is given', async () => {
  const echo = await echoServer();
  const target = (echo.address() as net.AddressInfo).port;
  const proxy = await publishPorts([m('127.0.0.1', 0, target)], '127.0.0.1');
  try {
    const port = proxy.published[0].hostPort;
    assert.ok(port > 0);
    const big = 'x'.repeat(300_000);
    const [a, b] = await Promise.all([roundTrip(port, 'hello'), roundTrip(port, big)]);
    assert.equal(a, 'echo:hello');
    assert.equal(b, 'echo:' + big);
  } finally {
    await proxy.close();
    echo.close();
  }
  assert.equal(proxy.active(), 0);
});

test('a port already in use is refused with the owner, and nothing stays open', async () => {
  const holder = net.createServer();
  await new Promise<void>((r) => holder.listen(0, '127.0.0.1', r));
  const port = (holder.address() as net.AddressInfo).port;
  const free = net.createServer();
  await new Promise<void>((r) => free.listen(0, '127.0.0.1', r));
  const freePort = (free.address() as net.AddressInfo).port;
  await new Promise<void>((r) => free.close(() => r()));
  try {
    const err = await publishPorts([m('127.0.0.1', freePort, 1), m('127.0.0.1', port, 80)], '127.0.0.1').then(() => null, (e: unknown) => e);
    assert.ok(err instanceof PortInUseError, String(err));
    assert.equal(err.code, 'E_PORT_IN_USE');
    assert.match(err.message, new RegExp(`^port ${port}/tcp is already in use on 127\\.0\\.0\\.1 \\(by pid ${process.pid} \\S+, this niwa process\\)$`));
    assert.deepEqual(portOwner(port, 'tcp')?.pid, process.pid);
    // the first mapping was rolled back: its port is free again
    const again = net.createServer();
    await new Promise<void>((resolve, reject) => { again.once('error', reject); again.listen(freePort, '127.0.0.1', resolve); });
    again.close();
  } finally {
    holder.close();
  }
});

test('UDP proxy: a datagram reaches the target and the reply comes back', async () => {
  const target = dgram.createSocket('udp4');
  target.on('message', (msg, r) => target.send(Buffer.concat([Buffer.from('pong:'), msg]), r.port, r.address));
  await new Promise<void>((r) => target.bind(0, '127.0.0.1', r));
  const proxy = await publishPorts([m('127.0.0.1', 0, target.address().port, 'udp')], '127.0.0.1');
  const client = dgram.createSocket('udp4');
  try {
    const reply = await new Promise<string>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('no UDP reply')), 5000);
      client.on('message', (msg) => { clearTimeout(t); resolve(String(msg)); });
      client.send('ping', proxy.published[0].hostPort, '127.0.0.1');
    });
    assert.equal(reply, 'pong:ping');
    assert.equal(proxy.active(), 1);
    const err = await publishPorts([m('127.0.0.1', proxy.published[0].hostPort, 1, 'udp')], '127.0.0.1').then(() => null, (e: unknown) => e);
    assert.ok(err instanceof PortInUseError);
    assert.match(err.message, /\/udp is already in use on 127\.0\.0\.1 \(by pid \d+/);
  } finally {
    client.close();
    await proxy.close();
    target.close();
  }
});
