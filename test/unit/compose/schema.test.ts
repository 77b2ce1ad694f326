import { test } from 'node:test';
import assert from 'node:assert/strict';
import { composeSchemaErrors } from '../../../src/compose/schema.js';
import { readComposeText } from '../../../src/compose/read.js';
import { formatDetail } from '../../../src/errors.js';
import { loadError, project } from './helpers.js';

async function problems(yaml: string): Promise<string[]> {
  const r = readComposeText(yaml, '/p/compose.yaml');
  assert.deepEqual(r.errors, []);
  return (await composeSchemaErrors(r.data, '/p/compose.yaml')).map((d) => formatDetail(d).replace(/\n\s+/g, ' | '));
}

test('schema errors: file:line:col, dotted path, expectation, hint — never raw ajv', async () => {
  const out = await problems([
    'services:',                       // 1
    '  web:',                          // 2
    '    image: nginx',                // 3
    '    enviroment: [A=1]',           // 4
    '    command: 42',                 // 5
    '    depends_on:',                 // 6
    '      db: {condition: service_healty}', // 7
    '    healthcheck:',                // 8
    '      interval: 5',               // 9
    '  "bad name":',                   // 10
    '    image: x',                    // 11
    'volumes:',                        // 12
    '  data: 3',                       // 13
    'servics: {}',                     // 14
  ].join('\n'));
  assert.deepEqual(out, [
    "/p/compose.yaml:4:5: services.web.enviroment: unknown field 'enviroment' in services.web | hint: did you mean 'environment'?",
    '/p/compose.yaml:5:5: services.web.command: expected null or a string or a list, got an integer (42)',
    "/p/compose.yaml:7:12: services.web.depends_on.db.condition: 'service_healty' is not one of: service_started, service_healthy, service_completed_successfully | hint: did you mean 'service_healthy'?",
    '/p/compose.yaml:9:7: services.web.healthcheck.interval: expected a string, got an integer (5) | hint: a duration like "10s", "1m30s" or "500ms"',
    "/p/compose.yaml:10:3: services.bad name: 'bad name' is not a valid service name | hint: names use letters, digits, '.', '_' and '-'",
    '/p/compose.yaml:13:3: volumes.data: expected a mapping or null, got an integer (3)',
    "/p/compose.yaml:14:1: servics: unknown field 'servics' | hint: did you mean 'services'?",
  ]);
  for (const line of out) assert.doesNotMatch(line, /must (be|match)|instancePath|schemaPath/);
});

test('valid files have no schema problems; x- fields are allowed everywhere Compose allows them', async () => {
  assert.deepEqual(await problems('x-top: 1\nservices:\n  a:\n    image: x\n    x-mine: {a: 1}\n    ports: ["80:80", {target: 81, published: "8081"}]\n'), []);
});

test('an unknown key with no near match names the x- convention', async () => {
  const [p] = await problems('services:\n  a:\n    image: x\n    frobnicate: 1\n');
  assert.match(p, /unknown field 'frobnicate'.*custom \(extension\) fields start with x-/);
});

test('schema errors stop the load, with every problem', async () => {
  const dir = project({ 'compose.yaml': 'services:\n  a:\n    command: [x]\n    restart: [always]\n    read_only: {}\n' });
  const { error, text } = await loadError(dir);
  assert.equal(error.code, 'E_COMPOSE_INVALID');
  assert.match(text, /:4:5: services\.a\.restart: expected a string, got a list/);
  assert.match(text, /:5:5: services\.a\.read_only: expected true or false or a string, got a mapping/);
});

test('YAML errors have positions', async () => {
  const dir = project({ 'compose.yaml': 'services:\n  a:\n    command: [x\n' });
  const { text } = await loadError(dir);
  assert.match(text, /compose\.yaml:\d+:\d+: YAML:/);
});
