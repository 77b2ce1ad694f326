// examples/course: every lesson validates and compiles (no root needed), and each runs on this
// host with the result its header promises (`# expect: REGEX` on stdout, or `# expect-status: N`),
// checked from inside the container by the lesson's own program.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { example, niwa, needsRoot, needsStage } from '../helpers.js';
import { loadSpec } from '../../src/spec/load/index.js';
import { compile } from '../../src/plan/compile.js';
import { genericHost } from '../../src/validate/host.js';

const course = example('course');
const lessons = readdirSync(course).filter((f) => /\.container\.ya?ml$/.test(f)).sort();
const skip = needsRoot() || needsStage();
const project = `course-test-${process.pid}`;
let state = '';

before(() => { if (!skip) { state = mkdtempSync(join(tmpdir(), 'niwa-course-test-')); chmodSync(state, 0o755); } });
after(() => { if (state) rmSync(state, { recursive: true, force: true }); });

test('the course has a lesson per primitive and an index listing every lesson', () => {
  assert.ok(lessons.length >= 12, `${lessons.length} lessons`);
  const readme = readFileSync(join(course, 'README.md'), 'utf8');
  for (const f of lessons) assert.ok(readme.includes(f), `README.md lists ${f}`);
});

for (const f of lessons) {
  const text = readFileSync(join(course, f), 'utf8');
  const expect = /^# expect: (.+)$/m.exec(text)?.[1];
  const expectStatus = /^# expect-status: (\d+)$/m.exec(text)?.[1];

  test(`${f}: says what to try and what to observe, validates and compiles`, async () => {
    assert.match(text, /^# Try:$/m);
    assert.match(text, /^# Observe: /m);
    assert.ok(expect || expectStatus, 'states the expected result');
    const host = genericHost();
    const spec = await loadSpec(join(course, f), { hostCgroupControllers: host.cgroup.v2Controllers });
    const plan = compile(spec, host, { id: spec.name, project: 'default' });
    assert.ok(plan.steps.some((s) => s.op === 'execve'));
  });

  test(`${f}: runs and shows what the lesson says`, { skip }, () => {
    const r = niwa(['run', '--project', project, join(course, f)], { env: { ...process.env, NIWA_STATE_ROOT: join(state, 'state') } });
    if (expectStatus) assert.equal(r.status, Number(expectStatus), r.stderr);
    else assert.equal(r.status, 0, r.stderr);
    if (expect) assert.match(r.stdout, new RegExp(expect, 'm'));
    for (const h of readdirSync('/sys/fs/cgroup')) assert.equal(existsSync(join('/sys/fs/cgroup', h, 'niwa', project)), false, `no cgroup left in ${h}`);
  });
}
