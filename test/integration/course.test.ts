// examples/course: every lesson validates and compiles (no root needed), and on this host every
// command its "Try:" block suggests works and shows what the comment promises, and the lesson runs
// with the result its header states (`# expect: REGEX` on stdout, or `# expect-status: N`), checked
// from inside the container by the lesson's own program. The quoted phrases of "Observe:" appear in
// what the commands printed, so the lesson's claims match what a student sees.
//
// Try lines: `#   COMMAND   # comment`. The test runs every line whose command starts in lower case
// and has no PID placeholder (those are for a second terminal during `niwa run --step`), with
// `niwa` as this checkout's CLI (`run` in the test's project), from the repository root; `/tmp/`
// becomes the test's own temp dir.
// In the comment, `→ "TEXT"` is text the output must contain and `(exit N)` the expected status.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { example, niwa, niwaBin, needsRoot, needsStage, repoRoot } from '../helpers.js';
import { loadSpec } from '../../src/spec/load/index.js';
import { compile } from '../../src/plan/compile.js';
import { genericHost } from '../../src/validate/host.js';

const course = example('course');
/** Lessons: NN-*.container.yaml specs, and NN-*.compose.yaml projects (run by their Try block). */
const lessons = readdirSync(course).filter((f) => /^\d+-.*\.(container|compose)\.ya?ml$/.test(f)).sort();
const skip = needsRoot() || needsStage();
const project = `course-test-${process.pid}`;
let tmp = '';

before(() => { if (!skip) { tmp = mkdtempSync(join(tmpdir(), 'niwa-course-test-')); chmodSync(tmp, 0o755); } });
after(() => {
  if (!tmp) return;
  // Images a lesson imported live in the test's own data root; nothing else is left behind.
  rmSync(tmp, { recursive: true, force: true });
});

export interface TryLine { cmd: string; expect: string[]; exit: number; line: number }

/** The runnable commands of a lesson's "Try:" block. */
export function tryLines(text: string): TryLine[] {
  const lines = text.split('\n');
  const from = lines.findIndex((l) => l === '# Try:');
  const out: TryLine[] = [];
  for (let i = from + 1; i > 0 && i < lines.length && !lines[i].startsWith('# Observe:'); i++) {
    const m = /^#\s+(\S.*)$/.exec(lines[i]);
    if (!m) continue;
    const [cmd, comment = ''] = m[1].split(/\s{2,}#\s?/, 2);
    if (!/^[a-z]/.test(cmd) || /\bPID\b/.test(cmd)) continue;
    out.push({
      cmd: cmd.trim(),
      expect: [...comment.matchAll(/→ "([^"]+)"/g)].map((x) => x[1]),
      exit: Number(/\(exit (\d+)/.exec(comment)?.[1] ?? 0),
      line: i + 1,
    });
  }
  return out;
}

const env = () => ({ ...process.env, NIWA_STATE_ROOT: join(tmp, 'state'), NIWA_DATA_ROOT: join(tmp, 'data'), NO_COLOR: '1' });
const squash = (s: string) => s.replace(/\s+/g, ' ');

function runTry(t: TryLine): { status: number | null; out: string } {
  const cmd = t.cmd.replace(/\/tmp\//g, `${tmp}/`);
  // `niwa run` gets the test's project, so its cgroups cannot meet another run of the same lesson.
  const fn = `niwa() { if [ "$1" = run ]; then shift; set -- run --project ${project} "$@"; fi; "${process.execPath}" "${niwaBin}" "$@"; }`;
  const r = spawnSync('/bin/sh', ['-c', `${fn}\n${cmd}`], {
    cwd: repoRoot, env: env(), input: '', encoding: 'utf8', timeout: 60_000,
  });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

test('the course has a lesson per primitive and an index listing every lesson', () => {
  assert.ok(lessons.length >= 17, `${lessons.length} lessons`);
  const readme = readFileSync(join(course, 'README.md'), 'utf8');
  for (const f of lessons) assert.ok(readme.includes(f), `README.md lists ${f}`);
});

test('a Try block is read as commands, expectations and statuses', () => {
  const t = tryLines('# Try:\n#   niwa run a.yaml   # → "x" (exit 137)\n#   Change it by hand\n#       cat /proc/PID/status   # later\n#   hostname\n# Observe: y\n');
  assert.deepEqual(t.map((x) => [x.cmd, x.expect, x.exit]), [['niwa run a.yaml', ['x'], 137], ['hostname', [], 0]]);
});

for (const f of lessons) {
  const text = readFileSync(join(course, f), 'utf8');
  const expect = /^# expect: (.+)$/m.exec(text)?.[1];
  const expectStatus = /^# expect-status: (\d+)$/m.exec(text)?.[1];

  test(`${f}: says what to try and what to observe, validates and compiles`, async () => {
    assert.match(text, /^# Try:$/m);
    assert.match(text, /^# Observe: /m);
    assert.ok(expect || expectStatus, 'states the expected result');
    assert.ok(tryLines(text).length >= 2, 'at least two commands to try');
    assert.doesNotMatch(text, /npx niwa/);
    if (/rootfs: \{image:/.test(text) || f.includes('.compose.')) return; // its image or project comes with its Try block (run below)
    const host = genericHost();
    const spec = await loadSpec(join(course, f), { hostCgroupControllers: host.cgroup.v2Controllers });
    const plan = compile(spec, host, { id: spec.name, project: 'default' });
    assert.ok(plan.steps.some((s) => s.op === 'execve'));
  });

  test(`${f}: every suggested command works and shows what the lesson says`, { skip, timeout: 240_000 }, () => {
    let seen = '';
    const compose = f.includes('.compose.');
    try {
      for (const t of tryLines(text)) {
        const r = runTry(t);
        seen += r.out;
        assert.equal(r.status, t.exit, `${f}:${t.line}: ${t.cmd}\n${r.out.slice(-2000)}`);
        for (const x of t.expect) assert.ok(r.out.includes(x), `${f}:${t.line}: ${t.cmd}\nexpected "${x}" in:\n${r.out.slice(-3000)}`);
      }
    } finally {
      // A project lesson's Try block ends with `down`; bring it down even when a command failed.
      if (compose) niwa(['compose', '-f', join(course, f), 'down'], { env: env() });
    }
    if (compose) {
      if (expect) assert.match(seen, new RegExp(expect, 'm'));
    } else {
      const r = niwa(['run', '--project', project, join(course, f)], { env: env() });
      seen += r.stdout + r.stderr;
      if (expectStatus) assert.equal(r.status, Number(expectStatus), r.stderr);
      else assert.equal(r.status, 0, r.stderr);
      if (expect) assert.match(r.stdout, new RegExp(expect, 'm'));
    }
    // What "Observe:" quotes is what was shown.
    const observe = /^# Observe: (.+)$/m.exec(text)![1];
    for (const [, q] of observe.matchAll(/"([^"]+)"/g)) assert.ok(squash(seen).includes(squash(q)), `${f}: Observe quotes "${q}", not in the output`);
    for (const h of readdirSync('/sys/fs/cgroup')) assert.equal(existsSync(join('/sys/fs/cgroup', h, 'niwa', project)), false, `no cgroup left in ${h}`);
  });
}

test('niwa run --quiz asks, runs the lesson and compares the prediction with what it printed', { skip }, () => {
  const lesson = join(course, '02-pid.container.yaml');
  const right = spawnSync(process.execPath, [niwaBin, 'run', '--quiz', '--project', project, lesson], { env: env(), input: 'my pid: 1\n', encoding: 'utf8' });
  assert.equal(right.status, 0, right.stderr);
  assert.match(right.stderr, /What will it print\?/);
  assert.match(right.stderr, /it printed:\n {2}\| my pid: 1\n/);
  assert.match(right.stderr, /right: "my pid: 1" is what it printed/);
  assert.match(right.stdout, /^my pid: 1$/m, 'the output also goes to stdout for pipes');
  const wrong = spawnSync(process.execPath, [niwaBin, 'run', '--quiz', '--project', project, lesson, '--', '/bin/sh', '-c', 'echo "my pid: $$"'], { env: env(), input: 'my pid: 4242\n', encoding: 'utf8' });
  assert.equal(wrong.status, 0, wrong.stderr);
  assert.match(wrong.stderr, /it runs: \/bin\/sh -c "echo \\"my pid: \$\$\\""/);
  assert.match(wrong.stderr, /not quite: you expected "my pid: 4242"/);
  const status = spawnSync(process.execPath, [niwaBin, 'run', '--quiz', '--project', project, join(course, '07-cgroup-memory.container.yaml')], { env: env(), input: '\n', encoding: 'utf8' });
  assert.equal(status.status, 137, 'the container\'s status, as niwa run');
  assert.match(status.stderr, /no guess/);
});
