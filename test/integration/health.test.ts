// Health checks on the real kernel: containers that become healthy and then unhealthy on cue,
// checked by an exec test inside the container and by TCP/HTTP probes of the container's own
// loopback (a new network namespace: nothing listens on the host's 127.0.0.1 at that port).
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { needsRoot, needsStage } from '../helpers.js';
import { probeHost } from '../../src/validate/host.js';
import { startHealthChecks, type HealthResult } from '../../src/runtime/health.js';
import type { HostFacts } from '../../src/plan/types.js';
import { startContainer, cgroupsLeft, type Running } from './running.js';

const skip = needsRoot() || needsStage();
const project = `healthtest${randomBytes(3).toString('hex')}`;
let dir = '';
let host: HostFacts;

/** Results until `pred` holds for the list (bounded), with the ms since the checks started. */
async function watch(c: Running, pred: (rs: HealthResult[]) => boolean, limitMs = 15_000): Promise<(HealthResult & { at: number })[]> {
  const rs: (HealthResult & { at: number })[] = [];
  const t0 = Date.now();
  let wake = () => {};
  const h = startHealthChecks({ name: c.name, pid: c.pid, spec: c.spec, plan: c.plan }, (r) => { rs.push({ ...r, at: Date.now() - t0 }); wake(); }, { host });
  try {
    while (!pred(rs)) {
      if (Date.now() - t0 > limitMs) throw new Error(`timed out; results: ${JSON.stringify(rs)}`);
      await new Promise<void>((r) => { wake = r; setTimeout(r, 200); });
    }
    return rs;
  } finally {
    h.stop();
  }
}
const statuses = (rs: HealthResult[]) => rs.map((r) => r.status).filter((s, i, a) => i === 0 || a[i - 1] !== s);
const healthyThenUnhealthy = (rs: HealthResult[]) => statuses(rs).join(' ').includes('healthy unhealthy');

/** Whether anything on the host's own loopback accepts connections on `port`. */
const hostListens = (port: number) => new Promise<boolean>((resolve) => {
  const s = connect({ host: '127.0.0.1', port });
  s.once('connect', () => { s.destroy(); resolve(true); });
  s.once('error', () => resolve(false));
});

describe('health checks', { skip }, () => {
  const running: Running[] = [];
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'niwa-health-test-'));
    chmodSync(dir, 0o755);
    host = probeHost({ stateRoot: join(dir, 'state') });
  });
  after(async () => {
    for (const c of running.splice(0)) await c.stop();
    assert.deepEqual(cgroupsLeft(project), []);
    assert.equal(readFileSync('/proc/self/mountinfo', 'utf8').includes(dir), false);
    rmSync(dir, { recursive: true, force: true });
  });

  test('exec: starting → healthy once /tmp/ok exists → unhealthy after it is removed', async () => {
    const c = await startContainer(dir, host, project, 'execcheck', [
      'namespaces: [mount, uts, ipc, pid, net]',
      'healthcheck: {test: "test -f /tmp/ok", interval: 200ms, timeout: 2s, retries: 2, start_period: 3s}',
      "process: {args: [/bin/sh, -c, 'sleep 1; touch /tmp/ok; sleep 2; rm /tmp/ok; exec sleep 1000']}",
    ].join('\n') + '\n');
    running.push(c);
    const rs = await watch(c, healthyThenUnhealthy);
    assert.deepEqual(statuses(rs), ['starting', 'healthy', 'unhealthy']);
    const firstHealthy = rs.find((r) => r.status === 'healthy')!;
    assert.ok(firstHealthy.at >= 700, `healthy only after the file appeared (${firstHealthy.at} ms)`);
    assert.ok(rs.filter((r) => r.status === 'starting').every((r) => r.failingStreak === 0), 'start period: failures not counted');
    const unhealthy = rs.find((r) => r.status === 'unhealthy')!;
    assert.equal(unhealthy.failingStreak, 2);
    assert.ok(unhealthy.at - firstHealthy.at >= 1500, 'unhealthy only after the file was removed');
  });

  test('tcp: the container\'s own 127.0.0.1 (new net namespace), healthy while it listens, unhealthy once it stops', async () => {
    const port = 20000 + Math.floor(Math.random() * 20000);
    assert.equal(await hostListens(port), false, 'nothing on the host listens on the port');
    // accepts 4 connections, then closes the listening socket
    const perl = `use IO::Socket::INET; my $s = IO::Socket::INET->new(LocalAddr => "127.0.0.1", LocalPort => ${port}, Listen => 5, ReuseAddr => 1) or die "listen: $!"; for (1..4) { my $c = $s->accept; close $c }`;
    const c = await startContainer(dir, host, project, 'tcpcheck', [
      'namespaces: [mount, uts, ipc, pid, net]',
      `healthcheck: {tcp: ${port}, interval: 200ms, timeout: 1s, retries: 2, start_period: 3s}`,
      `process: {args: [/bin/sh, -c, ${JSON.stringify(`sleep 1; perl -e '${perl}'; exec sleep 1000`)}]}`,
    ].join('\n') + '\n');
    running.push(c);
    const rs = await watch(c, healthyThenUnhealthy);
    assert.deepEqual(statuses(rs), ['starting', 'healthy', 'unhealthy']);
    assert.match(rs.find((r) => r.healthy)!.output, new RegExp(`connected to 127\\.0\\.0\\.1 port ${port}`));
    assert.match(rs.at(-1)!.output, /Connection refused/);
  });

  test('http: 2xx is healthy, 5xx is not', async () => {
    const port = 20000 + Math.floor(Math.random() * 20000);
    const perl = `use IO::Socket::INET; my $s = IO::Socket::INET->new(LocalAddr => "127.0.0.1", LocalPort => ${port}, Listen => 5, ReuseAddr => 1) or die; my $n = 0; while (my $c = $s->accept) { my $l = <$c>; $n++; print $c ($n <= 3 ? "HTTP/1.0 200 OK\\r\\n\\r\\nok" : "HTTP/1.0 503 Busy\\r\\n\\r\\nno"); close $c }`;
    const c = await startContainer(dir, host, project, 'httpcheck', [
      'namespaces: [mount, uts, ipc, pid, net]',
      `healthcheck: {http: "http://localhost:${port}/healthz", interval: 200ms, timeout: 1s, retries: 2}`,
      `process: {args: [/bin/sh, -c, ${JSON.stringify(`sleep 0.5; exec perl -e '${perl}'`)}]}`,
    ].join('\n') + '\n');
    running.push(c);
    const rs = await watch(c, healthyThenUnhealthy);
    assert.match(rs.find((r) => r.healthy)!.output, /^HTTP\/1\.0 200 OK$/);
    assert.match(rs.at(-1)!.output, /^HTTP\/1\.0 503 Busy$/);
  });
});
