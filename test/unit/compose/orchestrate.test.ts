// The start order of compose up against a fake supervisor: conditions (started, healthy,
// completed_successfully), parallel starts where the graph allows, failures that stop dependents,
// not-required dependencies, and the pure verdicts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readiness, startError, startServices, verdict, type Backend, type Dependency, type Observed } from '../../../src/compose/orchestrate.js';

/** A fake supervisor: start() marks a container running after a tick; the test scripts the rest. */
class FakeSupervisor implements Backend {
  states = new Map<string, Observed>();
  log: string[] = [];
  listeners = new Set<() => void>();
  failStart = new Set<string>();
  /** What happens right after a service starts (e.g. a one-shot exits, a health check passes). */
  after: Record<string, (f: FakeSupervisor) => void> = {};
  running = 0;
  maxParallel = 0;

  observe(s: string) { return this.states.get(s); }
  onChange(cb: () => void) { this.listeners.add(cb); return () => { this.listeners.delete(cb); }; }
  set(s: string, o: Partial<Observed>) {
    this.states.set(s, { status: 'running', health: 'none', ...this.states.get(s), ...o });
    this.log.push(`${s}:${o.status ?? ''}${o.health ? '/' + o.health : ''}${o.exitCode !== undefined ? '(' + o.exitCode + ')' : ''}`);
    for (const l of [...this.listeners]) l();
  }
  async start(s: string) {
    this.running++;
    this.maxParallel = Math.max(this.maxParallel, this.running);
    this.log.push(`start ${s}`);
    await new Promise((r) => setTimeout(r, 5));
    this.running--;
    if (this.failStart.has(s)) throw new Error(`cannot start ${s}`);
    this.set(s, { status: 'running', health: 'starting' });
    const f = this.after[s];
    if (f) setTimeout(() => f(this), 10);
  }
}

const dep = (service: string, condition: Dependency['condition'], required = true): Dependency => ({ service, condition, required });

test('seed → server (completed_successfully) → client (healthy): each waits for its condition', async () => {
  const f = new FakeSupervisor();
  f.after.seed = (x) => x.set('seed', { status: 'exited', exitCode: 0 });
  f.after.server = (x) => x.set('server', { health: 'healthy' });
  const r = await startServices(f, {
    order: ['seed', 'server', 'client'],
    deps: { server: [dep('seed', 'service_completed_successfully')], client: [dep('server', 'service_healthy')] },
  });
  assert.deepEqual(r.started, ['seed', 'server', 'client']);
  assert.equal(r.failed.size, 0);
  const at = (s: string) => f.log.indexOf(s);
  assert.ok(at('seed:exited(0)') < at('start server'), f.log.join(', '));
  assert.ok(at('server:/healthy') < at('start client'), f.log.join(', '));
});

test('independent services of a level start in parallel', async () => {
  const f = new FakeSupervisor();
  await startServices(f, { order: ['a', 'b', 'c', 'd'], deps: { d: [dep('a', 'service_started'), dep('b', 'service_started'), dep('c', 'service_started')] } });
  assert.equal(f.maxParallel, 3, 'a, b and c were starting at the same time');
  assert.ok(f.log.indexOf('start d') > f.log.indexOf('a:running/starting'));
});

test('a one-shot that fails stops its dependents, and nothing starts after it', async () => {
  const f = new FakeSupervisor();
  f.after.seed = (x) => x.set('seed', { status: 'exited', exitCode: 3 });
  const r = await startServices(f, {
    order: ['seed', 'server', 'client'],
    deps: { server: [dep('seed', 'service_completed_successfully')], client: [dep('server', 'service_started')] },
  });
  assert.deepEqual(r.started, ['seed']);
  assert.ok(!f.log.includes('start server') && !f.log.includes('start client'));
  const err = startError(r)!;
  assert.match(err.message, /server depends on seed \(service_completed_successfully\): it did not complete successfully: it exited with code 3/);
  assert.match(err.hint ?? '', /not started because of it: client/);
});

test('an unhealthy dependency fails its dependent; a container that exits before healthy too', async () => {
  const f = new FakeSupervisor();
  f.after.db = (x) => x.set('db', { health: 'unhealthy' });
  f.after.cache = (x) => x.set('cache', { status: 'exited', exitCode: 1 });
  const r = await startServices(f, {
    order: ['cache', 'db', 'web', 'worker'],
    deps: { web: [dep('db', 'service_healthy')], worker: [dep('cache', 'service_healthy')] },
  });
  assert.match(r.failed.get('web')!.message, /db \(service_healthy\): it is unhealthy/);
  assert.match(r.failed.get('worker')!.message, /it exited with code 1 before it became healthy/);
});

test('a failed start of a dependency that is not required: the dependent starts anyway, with a warning', async () => {
  const f = new FakeSupervisor();
  f.failStart.add('metrics');
  const warnings: string[] = [];
  const r = await startServices(f, {
    order: ['metrics', 'web'], deps: { web: [dep('metrics', 'service_started', false)] },
    onMessage: (m) => { if (m.level === 'warn') warnings.push(m.text); },
  });
  assert.deepEqual(r.started, ['web']);
  assert.match(r.failed.get('metrics')!.message, /cannot start metrics/);
  assert.equal(warnings.length, 1);
});

test('waiting is bounded: a dependency that never becomes healthy times out', async () => {
  const f = new FakeSupervisor();
  const r = await startServices(f, { order: ['db', 'web'], deps: { web: [dep('db', 'service_healthy')] }, timeoutMs: 50 });
  assert.match(r.failed.get('web')!.message, /still waiting after/);
});

test('a dependency outside the plan (already running) is checked, not started', async () => {
  const f = new FakeSupervisor();
  f.states.set('db', { status: 'running', health: 'healthy' });
  const r = await startServices(f, { order: ['web'], deps: { web: [dep('db', 'service_healthy')] } });
  assert.deepEqual(r.started, ['web']);
  assert.ok(!f.log.includes('start db'));
});

test('verdicts and readiness', () => {
  assert.deepEqual(verdict('service_started', undefined, true), { met: true });
  assert.deepEqual(verdict('service_started', undefined, false), { met: false });
  assert.deepEqual(verdict('service_completed_successfully', { status: 'restarting', health: 'none' }, true), { met: false });
  assert.deepEqual(verdict('service_completed_successfully', { status: 'exited', health: 'none', exitCode: 0 }, true), { met: true });
  assert.match(verdict('service_completed_successfully', { status: 'oom-killed', health: 'none' }, true).met === false ? String((verdict('service_completed_successfully', { status: 'oom-killed', health: 'none' }, true) as { failed?: string }).failed) : '', /OOM/);
  assert.match(String((verdict('service_healthy', { status: 'running', health: 'none' }, true) as { failed?: string }).failed), /no healthcheck/);
  assert.deepEqual(verdict('service_healthy', { status: 'running', health: 'starting' }, true), { met: false });
  assert.deepEqual(readiness({ status: 'running', health: 'none' }), { met: true });
  assert.deepEqual(readiness({ status: 'running', health: 'starting' }), { met: false });
  assert.deepEqual(readiness({ status: 'exited', health: 'none', exitCode: 0 }), { met: true });
  assert.match(String((readiness({ status: 'exited', health: 'none', exitCode: 2 }) as { failed?: string }).failed), /code 2/);
});
