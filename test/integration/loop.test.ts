// A thousand launches of /bin/true through the runtime, in one warm process: no failure, and
// no leaked fd, process, mount or cgroup afterwards. Plus 50 through the CLI itself.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, readdirSync, readFileSync, writeFileSync, chmodSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { needsRoot, needsStage, niwa } from '../helpers.js';
import { loadSpecObject } from '../../src/spec/load/index.js';
import { compile } from '../../src/plan/compile.js';
import { probeHost } from '../../src/validate/host.js';
import { runPlan } from '../../src/runtime/launch/run.js';
import { realSys } from '../../src/runtime/sys/real.js';

const skip = needsRoot() || needsStage();
const N = Number(process.env.NIWA_LOOP ?? 1000);

const fds = () => readdirSync('/proc/self/fd').length;
const children = () => readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
  try { return readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1].split(' ')[1] === String(process.pid); } catch { return false; }
});
const niwaCgroups = () => readdirSync('/sys/fs/cgroup').filter((c) => existsSync(join('/sys/fs/cgroup', c, 'niwa', 'loop')));

test(`${N} launches of /bin/true leave nothing behind`, { skip, timeout: 15 * 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'niwa-loop-'));
  chmodSync(dir, 0o755);
  try {
    const host = probeHost({ stateRoot: join(dir, 'state') });
    const spec = await loadSpecObject({ name: 'loop', process: { args: ['/bin/true'] }, cgroup: { pids: 16 } }, join(dir, 'loop.container.yaml'));
    const fd0 = fds();
    // only mounts under this test's own directory (its state root): other niwa runs may mount elsewhere meanwhile
    const ownMounts = () => readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes(dir));
    const mounts0 = ownMounts();
    let failures = 0;
    const t0 = performance.now();
    for (let i = 0; i < N; i++) {
      const plan = compile(spec, host, { id: `loop-${i}`, project: 'loop' });
      const r = await runPlan(plan, { sys: realSys, spec, stdio: 'ignore' });
      if (r.status !== 0) failures++;
    }
    const ms = (performance.now() - t0) / N;
    assert.equal(failures, 0);
    assert.equal(fds(), fd0, 'no fd leaked');
    assert.deepEqual(children(), [], 'no process left');
    assert.deepEqual(ownMounts(), mounts0, 'no mount left');
    assert.deepEqual(niwaCgroups(), [], 'no cgroup left');
    console.log(`# ${N} runs, ${ms.toFixed(2)} ms per run (warm runtime)`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('50 `niwa run` of true through the CLI', { skip, timeout: 5 * 60_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'niwa-loop-cli-'));
  try {
    const file = join(dir, 'true.container.yaml');
    writeFileSync(file, 'name: t\nprocess: {args: [/bin/true]}\n');
    for (let i = 0; i < 50; i++) {
      const r = niwa(['run', '--project', 'loop', file], { env: { ...process.env, NIWA_STATE_ROOT: join(dir, 'state') } });
      assert.equal(r.status, 0, r.stderr);
    }
    assert.deepEqual(niwaCgroups(), []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
