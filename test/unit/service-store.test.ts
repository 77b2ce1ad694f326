// The stored steps of each service (runtime/project/service-store.ts): what a plan leaves for
// `compose start -p NAME` with no compose file, and the plan made from it — an ended container is
// removed, then made by its own steps with its recorded launch plan, dependencies first; a running
// one is left alone; a removed one is not made; missing steps or records are clear errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mergeServices, startPlan, type RecordedLaunch } from '../../src/runtime/project/service-store.js';
import type { ProjectPlan, ProjectStep, ServiceEntry } from '../../src/plan/project/types.js';
import type { LaunchPlan } from '../../src/plan/types.js';
import type { CanonicalSpec } from '../../src/spec/types.js';
import { NiwaError } from '../../src/errors.js';

const entry = (service: string, container: string, deps: string[] = []): ServiceEntry => ({
  service, container, action: 'create', addresses: {}, dependsOn: deps.map((d) => ({ service: d, condition: 'service_started', required: true })),
});
let n = 0;
const step = (service: string, container: string, op: Partial<ProjectStep> & Pick<ProjectStep, 'op'>): ProjectStep =>
  ({ index: n++, stage: 'service', service, unit: `container:${container}`, field: `services.${service}`, why: 'test', ...op } as ProjectStep);
const launch = (service: string, container: string) => step(service, container, { op: 'launch', service, container, networks: ['default'], deferred: { after: 0 } as never });
const lease = (service: string, container: string) => step(service, container, { op: 'lease', network: 'default', bridge: 'br', subnet: '10.0.0.0/24', gateway: '10.0.0.1', container, address: '10.0.0.2' });

const plan: ProjectPlan = {
  version: 1, project: 'p', stateRoot: '/s', warnings: [], levels: [['db'], ['web']],
  services: [entry('db', 'db-1'), entry('web', 'web-1', ['db']), entry('web', 'web-2', ['db']), entry('web', 'web-run-abc123')],
  steps: [
    { ...step('web', 'web-1', { op: 'remove', container: 'web-1', stop: true }) },
    lease('db', 'db-1'), launch('db', 'db-1'),
    lease('web', 'web-1'), launch('web', 'web-1'), lease('web', 'web-2'), launch('web', 'web-2'),
    { ...step('web', 'x', { op: 'file', path: '/s/_resolv.conf', content: '', mode: 0o644 }), unit: 'file:/s/_resolv.conf' },
  ],
  teardown: [
    { ...step('db', 'db-1', { op: 'release', network: 'default', container: 'db-1' }), stage: 'teardown' },
    { ...step('web', 'web-1', { op: 'release', network: 'default', container: 'web-1' }), stage: 'teardown' },
    { ...step('web', 'x', { op: 'rm', path: '/s/_resolv.conf' }), unit: 'file:/s/_resolv.conf', stage: 'teardown' },
    { ...step('web', 'x', { op: 'ip', args: ['link', 'del', 'br'] } as never), unit: 'network:default', stage: 'teardown' },
  ],
};

const rec = (live: boolean): RecordedLaunch => ({ live, plan: { id: 'x', name: 'n', steps: [] } as unknown as LaunchPlan, spec: { name: 'n' } as CanonicalSpec });

test('mergeServices keeps each service\'s own steps (no removals, no deferred launch), the teardown of their units, and no one-off', () => {
  const stored = mergeServices({}, plan);
  assert.deepEqual(Object.keys(stored).sort(), ['db', 'web']);
  assert.deepEqual(stored.web.entries.map((e) => e.container), ['web-1', 'web-2']);
  assert.ok(stored.web.steps.every((s) => s.op !== 'remove'));
  assert.ok(stored.web.steps.every((s) => s.op !== 'launch' || s.deferred === undefined));
  assert.deepEqual(stored.web.teardown.map((s) => s.unit), ['container:web-1', 'file:/s/_resolv.conf'], 'no network teardown: down has it');
  // a later plan that leaves web alone (no launch) keeps its stored steps
  const again = mergeServices(stored, { ...plan, steps: plan.steps.filter((s) => s.service === 'db') });
  assert.equal(again.web, stored.web);
});

test('startPlan: dependencies first, ended containers removed then made with their recorded plan, running ones left alone, removed ones not made', () => {
  const stored = mergeServices({}, plan);
  const records = new Map([['db-1', rec(true)], ['web-1', rec(false)]]);
  const p = startPlan('/s', 'p', stored, ['web', 'db'], records);
  assert.deepEqual(p.services.map((e) => [e.container, e.action]), [['db-1', 'running'], ['web-1', 'replace']]);
  assert.deepEqual(p.steps.map((s) => `${s.op} ${s.unit}`), ['remove container:web-1', 'lease container:web-1', 'launch container:web-1', 'file file:/s/_resolv.conf']);
  assert.deepEqual(p.steps.map((s) => s.index), [0, 1, 2, 3]);
  const l = p.steps.find((s) => s.op === 'launch');
  assert.ok(l?.op === 'launch' && l.plan && l.spec && !l.deferred);
  assert.deepEqual(p.teardown.map((s) => s.unit), ['container:web-1', 'file:/s/_resolv.conf']);
  // both replicas ended: each is made, the shared file written once
  const both = startPlan('/s', 'p', stored, ['web'], new Map([['web-1', rec(false)], ['web-2', rec(false)]]));
  assert.deepEqual(both.steps.map((s) => `${s.op} ${s.unit}`), ['remove container:web-1', 'lease container:web-1', 'launch container:web-1', 'file file:/s/_resolv.conf', 'remove container:web-2', 'lease container:web-2', 'launch container:web-2']);
});

test('startPlan: a service with no stored steps, or a container with no recorded plan, is a clear error', () => {
  const stored = mergeServices({}, plan);
  assert.throws(() => startPlan('/s', 'p', stored, ['cache'], new Map()), (e: unknown) => e instanceof NiwaError && e.code === 'E_NO_STORED_PLAN' && /cache/.test(e.message));
  assert.throws(() => startPlan('/s', 'p', stored, ['db'], new Map([['db-1', { live: false }]])), (e: unknown) => e instanceof NiwaError && /db-1 has no recorded launch plan/.test(e.message));
});
