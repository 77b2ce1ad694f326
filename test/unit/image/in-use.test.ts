// imagesInUse: the manifest digests named by containers' plan.json under a state root.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { imageUsers, imagesInUse } from '../../../src/image/in-use.js';

const dir = mkdtempSync(join(tmpdir(), 'niwa-in-use-test-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const D = (c: string) => 'sha256:' + c.repeat(64);

test('plans with an image count; others, broken ones and bad digests do not', () => {
  const plan = (project: string, name: string, body: string) => { mkdirSync(join(dir, project, name), { recursive: true }); writeFileSync(join(dir, project, name, 'plan.json'), body); };
  plan('p1', 'web', JSON.stringify({ image: { ref: 'docker.io/library/busybox:latest', digest: D('a') } }));
  plan('p1', 'db', JSON.stringify({ image: { digest: D('b') } }));
  plan('p2', 'web', JSON.stringify({ image: { ref: 'x', digest: D('a') } }));
  plan('p2', 'plain', JSON.stringify({ steps: [] }));
  plan('p2', 'broken', '{');
  plan('p3', 'evil', JSON.stringify({ image: { digest: '../../etc' } }));
  mkdirSync(join(dir, 'p3', 'empty'));
  writeFileSync(join(dir, 'stray-file'), '');
  assert.deepEqual([...imagesInUse(dir)].sort(), [D('a'), D('b')]);
  assert.deepEqual(imageUsers(dir).map((u) => `${u.project}/${u.name}`).sort(), ['p1/db', 'p1/web', 'p2/web']);
  assert.deepEqual(imagesInUse(join(dir, 'missing')), new Set());
});
