import { test } from 'node:test';
import assert from 'node:assert/strict';
import { findCycle, startPlan } from '../../../src/compose/graph.js';
import { UserError } from '../../../src/errors.js';
import { load, loadError, project } from './helpers.js';

const PROFILED = `
services:
  app:
    command: [app]
  debug:
    command: [debug]
    profiles: [debug]
  admin:
    command: [admin]
    profiles: [tools, debug]
    depends_on: [app]
`;

test('profiles: services without profiles always run; --profile and COMPOSE_PROFILES enable', async () => {
  const dir = project({ 'compose.yaml': PROFILED });
  const names = async (o: Parameters<typeof load>[1]) => [...(await load(dir, { skipCanonical: true, ...o })).services.keys()].sort();
  assert.deepEqual(await names({}), ['app']);
  assert.deepEqual(await names({ profiles: ['tools'] }), ['admin', 'app']);
  assert.deepEqual(await names({ profiles: ['debug'] }), ['admin', 'app', 'debug']);
  assert.deepEqual(await names({ env: { COMPOSE_PROFILES: 'tools' } }), ['admin', 'app']);
  assert.deepEqual(await names({ profiles: ['*'] }), ['admin', 'app', 'debug']);
  assert.deepEqual(await names({ services: ['debug'] }), ['app', 'debug'], 'a service named explicitly is enabled');
  const r = await load(dir, { skipCanonical: true });
  assert.deepEqual(Object.keys(r.project.disabledServices).sort(), ['admin', 'debug']);
});

test('depending on a service disabled by profiles: an error naming the profile; not required: a warning', async () => {
  const dir = project({ 'compose.yaml': 'services:\n  web:\n    command: [w]\n    depends_on:\n      db: {condition: service_healthy}\n  db:\n    command: [d]\n    profiles: [db]\n' });
  const { text } = await loadError(dir);
  assert.match(text, /compose\.yaml:5:7: services\.web\.depends_on\.db: service 'db' is required by 'web' but is disabled; it is enabled by the profile db/);
  assert.match(text, /--profile db/);
  const soft = project({ 'compose.yaml': 'services:\n  web:\n    command: [w]\n    depends_on:\n      db: {condition: service_started, required: false}\n  db:\n    command: [d]\n    profiles: [db]\n' });
  const r = await load(soft, { skipCanonical: true });
  assert.equal(r.warnings.length, 1);
  assert.match(r.warnings[0].message, /disabled by profiles \(db\); not required, so ignored/);
  assert.deepEqual(r.services.get('web')!.compose.dependsOn, []);
});

test('graph: parallel levels, reverse stop order', () => {
  const p = startPlan({ web: ['api', 'cache'], api: ['db'], cache: [], db: [], worker: ['db', 'cache'], lone: [] });
  assert.deepEqual(p.levels, [['cache', 'db', 'lone'], ['api', 'worker'], ['web']]);
  assert.deepEqual(p.stopLevels, [['web'], ['api', 'worker'], ['cache', 'db', 'lone']]);
  assert.deepEqual(p.order, ['cache', 'db', 'lone', 'api', 'worker', 'web']);
});

test('graph: a cycle is named', () => {
  assert.deepEqual(findCycle({ a: ['b'], b: ['c'], c: ['a'], d: [] }), ['a', 'b', 'c', 'a']);
  assert.deepEqual(findCycle({ a: ['a'] }), ['a', 'a']);
  assert.equal(findCycle({ a: ['b'], b: [] }), undefined);
  assert.throws(() => startPlan({ x: ['y'], y: ['x'] }), (e: unknown) => e instanceof UserError && /dependency cycle between services: x → y → x/.test(e.message));
});

test('a depends_on cycle in a project is an error at the depends_on line', async () => {
  const dir = project({ 'compose.yaml': 'services:\n  a:\n    command: [a]\n    depends_on: [b]\n  b:\n    command: [b]\n    network_mode: "service:a"\n' });
  const { error, text } = await loadError(dir);
  assert.match(error.message, /a → b → a/);
  assert.match(text, /compose\.yaml:4:18: services\.a\.depends_on\.b/);
});

test('start plan of a project: depends_on and network_mode service:X', async () => {
  const dir = project({ 'compose.yaml': 'services:\n  db:\n    command: [d]\n  web:\n    command: [w]\n    depends_on: {db: {condition: service_healthy}}\n  side:\n    command: [s]\n    network_mode: "service:web"\n' });
  const r = await load(dir, { skipCanonical: true });
  assert.deepEqual(r.plan.levels, [['db'], ['web'], ['side']]);
  assert.deepEqual([...r.services.keys()], ['db', 'web', 'side'], 'services in start order');
});
