// Health check state machine and scheduling (Docker's semantics) with fake probes and a fake clock.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HealthState, startHealthChecks, type Clock, type HealthResult, type ProbeOutcome } from '../../../src/runtime/health.js';
import type { CanonicalHealthcheck, CanonicalSpec } from '../../../src/spec/types.js';
import type { LaunchPlan } from '../../../src/plan/types.js';

class FakeClock implements Clock {
  t = 0;
  private seq = 0;
  private timers: { at: number; fn: () => void; id: number }[] = [];
  now() { return this.t; }
  setTimeout(fn: () => void, ms: number) { const id = ++this.seq; this.timers.push({ at: this.t + ms, fn, id }); return id; }
  clearTimeout(id: unknown) { this.timers = this.timers.filter((x) => x.id !== id); }
  pending() { return this.timers.length; }
  /** Moves time forward, firing due timers in order and letting promises settle between them. */
  async advance(ms: number) {
    const end = this.t + ms;
    for (;;) {
      await flush();
      this.timers.sort((a, b) => a.at - b.at || a.id - b.id);
      const next = this.timers[0];
      if (!next || next.at > end) break;
      this.timers.shift();
      this.t = next.at;
      next.fn();
    }
    await flush();
    this.t = end;
  }
}
const flush = async () => { for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r)); };

const hc = (o: Partial<CanonicalHealthcheck> = {}): CanonicalHealthcheck => ({ kind: 'exec', command: ['true'], intervalMs: 1000, timeoutMs: 500, retries: 3, startPeriodMs: 0, ...o });
const container = (h: CanonicalHealthcheck) => ({
  name: 'c', pid: 1, plan: { cgroups: [] } as unknown as LaunchPlan,
  spec: { lifecycle: { healthcheck: h }, namespaces: {} } as unknown as CanonicalSpec,
});

test('state: starting until the first success, then healthy; unhealthy after `retries` failures in a row', () => {
  const s = new HealthState({ retries: 3, startPeriodMs: 0 });
  assert.equal(s.status, 'starting');
  assert.deepEqual(s.record(false, 'no', 0), { healthy: false, status: 'starting', output: 'no', failingStreak: 1 });
  assert.equal(s.record(true, 'ok', 10).status, 'healthy');
  assert.equal(s.failingStreak, 0);
  assert.equal(s.record(false, '', 20).status, 'healthy');
  assert.equal(s.record(false, '', 30).status, 'healthy');
  const r = s.record(false, '', 40);
  assert.deepEqual([r.status, r.healthy, r.failingStreak], ['unhealthy', false, 3]);
  assert.equal(s.record(true, '', 50).status, 'healthy', 'one success makes it healthy again');
});

test('state: failures in the start period do not count while it was never healthy; they do once it was', () => {
  const s = new HealthState({ retries: 1, startPeriodMs: 100 });
  assert.deepEqual([s.record(false, '', 0).failingStreak, s.status], [0, 'starting']);
  assert.deepEqual([s.record(false, '', 99).failingStreak, s.status], [0, 'starting']);
  assert.deepEqual([s.record(false, '', 100).failingStreak, s.status], [1, 'unhealthy'], 'the first failure after the start period counts');
  const t = new HealthState({ retries: 1, startPeriodMs: 100 });
  t.record(true, '', 10);
  assert.equal(t.record(false, '', 20).status, 'unhealthy', 'healthy once: the start period no longer protects');
});

test('state: retries 0 means the default of 3; output is capped at 4 KiB', () => {
  const s = new HealthState({ retries: 0, startPeriodMs: 0 });
  s.record(false, '', 0);
  s.record(false, '', 0);
  assert.equal(s.status, 'starting');
  assert.equal(s.record(false, 'x'.repeat(10_000), 0).status, 'unhealthy');
  assert.equal(s.record(false, 'x'.repeat(10_000), 0).output.length, 4096);
});

test('schedule: first check one interval after start, the next one interval after the previous ended', async () => {
  const clock = new FakeClock();
  const starts: number[] = [];
  const results: HealthResult[] = [];
  const outcomes = [false, true, false];
  const h = startHealthChecks(container(hc()), (r) => results.push(r), {
    clock,
    probe: async () => {
      starts.push(clock.now());
      await new Promise<void>((r) => clock.setTimeout(r, 200)); // the probe takes 200 ms
      return { ok: outcomes.shift() ?? true, output: `at ${clock.now()}` };
    },
  });
  await clock.advance(999);
  assert.deepEqual(starts, [], 'nothing before the first interval');
  await clock.advance(3000);
  assert.deepEqual(starts, [1000, 2200, 3400]);
  assert.deepEqual(results.map((r) => r.status), ['starting', 'healthy', 'healthy']);
  assert.equal(results[0].output, 'at 1200');
  h.stop();
  const n = starts.length;
  await clock.advance(10_000);
  assert.equal(starts.length, n, 'no check after stop');
  assert.equal(clock.pending(), 0);
});

test('timeout: a check that takes too long fails with a message, and its probe is aborted', async () => {
  const clock = new FakeClock();
  const results: HealthResult[] = [];
  const aborted: boolean[] = [];
  const h = startHealthChecks(container(hc({ retries: 2 })), (r) => results.push(r), {
    clock,
    probe: (signal) => new Promise<ProbeOutcome>((resolve) => {
      signal.addEventListener('abort', () => { aborted.push(true); resolve({ ok: true, output: 'too late' }); });
    }),
  });
  await clock.advance(1000 + 500 + 1000 + 500);
  assert.deepEqual(results.map((r) => [r.status, r.failingStreak]), [['starting', 1], ['unhealthy', 2]]);
  assert.match(results[0].output, /exceeded timeout \(0\.5s\)/);
  assert.equal(aborted.length, 2);
  h.stop();
});

test('a probe that throws is a failed check with the error as output; no healthcheck = no checks', async () => {
  const clock = new FakeClock();
  const results: HealthResult[] = [];
  const h = startHealthChecks(container(hc({ retries: 1 })), (r) => results.push(r), { clock, probe: async () => { throw new Error('execve `/bin/x`: ENOENT'); } });
  await clock.advance(1000);
  assert.deepEqual(results, [{ healthy: false, status: 'unhealthy', output: 'execve `/bin/x`: ENOENT', failingStreak: 1 }]);
  h.stop();
  const none = startHealthChecks({ ...container(hc()), spec: { lifecycle: {}, namespaces: {} } as unknown as CanonicalSpec }, () => assert.fail('no result expected'), { clock });
  await clock.advance(100_000);
  none.stop();
});
