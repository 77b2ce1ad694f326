// Ctrl-C on an attached `niwa compose up` (SIGINT to the CLI, as a terminal sends it): every
// container is stopped and niwa exits 130, as Docker Compose does; SIGTERM exits 143. Checked: the
// exit status, that the service had really run (its output), that its container has ended (state
// and an empty cgroup). Own state root and project; `after` removes every trace.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { niwa, niwaBin, needsRoot, needsStage, repoRoot } from '../helpers.js';
import { cgroupsLeft } from './running.js';
import { until } from './poll.js';
import { tryRequest } from '../../src/runtime/supervisor/client.js';

const skip = needsRoot() || needsStage();
const P = `sg-${process.pid.toString(36)}${Date.now().toString(36).slice(-4)}`;
let dir = '';
let state = '';
let file = '';
const env = () => ({ ...process.env, NIWA_STATE_ROOT: state, NIWA_SUPERVISOR_IDLE_MS: '300', NIWA_STATS_PLAIN_MS: '500' });

before(() => {
  if (skip) return;
  dir = mkdtempSync(join(tmpdir(), 'niwa-compose-sigint-'));
  state = join(dir, 'state');
  mkdirSync(state);
  file = join(dir, 'compose.yaml');
  writeFileSync(file, [
    'services:',
    '  idle:',
    '    command: ["/bin/sh", "-c", "echo idle up; exec sleep 600"]',
    '    stop_grace_period: 1s',
    '',
  ].join('\n'));
});

after(async () => {
  if (!dir) return;
  niwa(['compose', '-f', file, '-p', P, 'down', '-t', '0'], { env: env(), timeout: 60_000 });
  await tryRequest({ root: state, project: P }, { op: 'shutdown' }).catch(() => undefined);
  for (const cg of cgroupsLeft(P)) spawnSync('find', [cg, '-depth', '-type', 'd', '-exec', 'rmdir', '{}', ';']);
  rmSync(dir, { recursive: true, force: true });
});

async function upThenSignal(signal: NodeJS.Signals, progress: string[] = ['--progress', 'plain'], ready: RegExp = /idle up/): Promise<{ code: number | null; out: string }> {
  const child = spawn(process.execPath, [niwaBin, 'compose', '-f', file, '-p', P, 'up', ...progress], { cwd: repoRoot, env: env(), stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { out += d; });
  const ended = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  try {
    await until(`${ready} in the output`, () => ready.test(out), 60_000);
    child.kill(signal);
    const code = await Promise.race([ended, new Promise<null>((r) => setTimeout(() => r(null), 60_000))]);
    return { code, out };
  } finally { if (child.exitCode === null) child.kill('SIGKILL'); }
}

function assertStopped(): void {
  const st = JSON.parse(readFileSync(join(state, P, 'idle-1', 'state.json'), 'utf8')) as { status: string; cgroups: string[] };
  assert.notEqual(st.status, 'running', 'the container was stopped');
  for (const cg of st.cgroups) {
    const procs = existsSync(join(cg, 'cgroup.procs')) ? readFileSync(join(cg, 'cgroup.procs'), 'utf8').trim() : '';
    assert.equal(procs, '', `no process left in ${cg}`);
  }
}

test('compose up: Ctrl-C (SIGINT) stops every container and exits 130; SIGTERM exits 143; plain and --json show the supervisor\'s stats', { skip, timeout: 240_000 }, async () => {
  // --progress plain: the service's output, then a usage line of its container (from the supervisor's stats events)
  const a = await upThenSignal('SIGINT', ['--progress', 'plain'], /idle-1\s+cpu \S+.*mem \S+/);
  assert.match(a.out, /idle up/);
  assert.equal(a.code, 130, a.out);
  assert.match(a.out, /stopping every container/);
  assertStopped();
  const b = await upThenSignal('SIGTERM');
  assert.equal(b.code, 143, b.out);
  assertStopped();
  // --json: stats events of the running container among the others
  const c = await upThenSignal('SIGINT', ['--json'], /"type":"stats","container":"idle-1"/);
  assert.equal(c.code, 130, c.out);
  const stats = c.out.split('\n').filter((l) => l.includes('"type":"stats"')).map((l) => JSON.parse(l) as { stats: { memory: { current?: number } } });
  assert.ok(stats.some((s) => (s.stats.memory.current ?? 0) > 0), 'the stats carry the container\'s memory use');
  assertStopped();
});
