// Schema validation (validate/schema.ts, schema-errors.ts): precompiled validator, error translation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { containerValidator, schemaErrors, SCHEMA_PATH } from '../../../src/validate/schema.js';
import { closest } from '../../../src/spec/load/suggest.js';
import { AJV_OPTIONS } from '../../../src/validate/schema.js';

test('a valid spec has no errors', async () => {
  assert.deepEqual(await schemaErrors({ name: 'x', process: { args: ['/bin/true'] } }, 'f'), []);
});

test('all errors at once, with positions, sorted by position, never raw ajv text', async () => {
  const positions = { hostnme: { line: 2, col: 1 }, 'process.args': { line: 4, col: 3 }, 'cgroup.memory': { line: 6, col: 3 } };
  const d = await schemaErrors({ name: 'x', hostnme: 'h', process: { args: 'x' }, cgroup: { memory: 'big' } }, 'f.yaml', positions);
  assert.deepEqual(d.map((x) => [x.line, x.field]), [[2, 'hostnme'], [4, 'process.args'], [6, 'cgroup.memory']]);
  assert.equal(d[0].hint, "did you mean 'hostname'?");
  for (const x of d) assert.doesNotMatch(x.message, /must NOT|must match|must be equal|#\/definitions/);
});

test('missing fields name the field and point at their parent', async () => {
  const d = await schemaErrors({ name: 'x', process: { args: ['/bin/true'] }, uid_map: [{ container_id: 0, size: 1 }] }, 'f.yaml', { 'uid_map.0': { line: 3, col: 5 } });
  assert.deepEqual(d.map((x) => [x.field, x.line, x.message]), [['uid_map.0.host_id', 3, "missing required field 'host_id'"]]);
});

test('the precompiled validator (when built) matches the schema on disk', async () => {
  const v = await containerValidator();
  const hash = (await import('../../../src/validate/schema.js')).schemaHash(readFileSync(SCHEMA_PATH, 'utf8'));
  if (v.precompiled) assert.equal(v.validate.schemaHash, hash);
  assert.ok(AJV_OPTIONS.allErrors);
});

test('closest name: typos, case and separators', () => {
  assert.equal(closest('hostnme', ['hostname', 'domainname']), 'hostname');
  assert.equal(closest('uidMap', ['uid_map', 'gid_map']), 'uid_map');
  assert.equal(closest('zzzzzz', ['hostname']), undefined);
});
