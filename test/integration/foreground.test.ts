// A foreground `niwa run` is visible to the other verbs: ps lists it, exec enters it, a second
// run under the same name is refused, stop ends it (stop signal, then SIGKILL), and its state
// directory is gone afterwards.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { niwa, niwaBin, needsRoot, needsStage } from '../helpers.js';

const skip = needsRoot() || needsStage();
const dir = skip ? '' : mkdtempSync(join(tmpdir(), 'niwa-fg-'));
const project = `fg${process.pid}`;
const env = { ...process.env, NIWA_STATE_ROOT: join(dir, 'state') };
after(() => { if (dir) rmSync(dir, { recursive: true, force: true }); });

const cgroupsLeft = () => readdirSync('/sys/fs/cgroup').filter((c) => existsSync(join('/sys/fs/cgroup', c, 'niwa', project)) && readdirSync(join('/sys/fs/cgroup', c, 'niwa', project)).length > 0);

test('a foreground run is listed by ps, entered by exec, refused twice, stopped from outside', { skip, timeout: 60_000 }, async () => {
  chmodSync(dir, 0o755);
  const spec = join(dir, 'fg.container.yaml');
  // PID 1 ignores SIGTERM without a handler: stop must escalate to SIGKILL after the grace period.
  writeFileSync(spec, 'name: fg\nhostname: fg-box\nstop_grace_period: 1s\nprocess: {args: [/bin/sh, -c, "echo up; while :; do sleep 0.2; done"]}\n');
  const child = spawn(process.execPath, [niwaBin, 'run', '--project', project, spec], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => { out += d; });
  const exited = new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
  try {
    for (let i = 0; i < 200 && !out.includes('up'); i++) await new Promise((r) => setTimeout(r, 25));
    let ps: { name: string; status: string; pid: number }[] = [];
    for (let i = 0; i < 100; i++) {
      ps = JSON.parse(niwa(['ps', '--json', '--project', project], { env }).stdout);
      if (ps[0]?.status === 'running') break;
      await new Promise((r) => setTimeout(r, 25));
    }
    assert.equal(ps.length, 1);
    assert.equal(ps[0].name, 'fg');
    assert.equal(ps[0].status, 'running');
    assert.ok(ps[0].pid > 1);
    const ex = niwa(['exec', '--project', project, 'fg', '--', '/bin/sh', '-c', 'hostname; cat /proc/1/cmdline | tr "\\0" " "'], { env });
    assert.equal(ex.status, 0, ex.stderr);
    assert.match(ex.stdout, /^fg-box\n\/bin\/sh -c echo up/);
    // pause / unpause from outside: the freezer holds the container (ps says paused), then lets go
    assert.equal(niwa(['pause', '--project', project, 'fg'], { env }).status, 0);
    assert.equal((JSON.parse(niwa(['ps', '--json', '--project', project], { env }).stdout) as { status: string }[])[0].status, 'paused');
    assert.equal(niwa(['unpause', '--project', project, 'fg'], { env }).status, 0);
    assert.equal((JSON.parse(niwa(['ps', '--json', '--project', project], { env }).stdout) as { status: string }[])[0].status, 'running');
    const logs = niwa(['logs', '--project', project, 'fg'], { env });
    assert.equal(logs.status, 2);
    assert.match(logs.stderr, /runs in the foreground .*its output goes to that terminal/);
    const twice = niwa(['run', '--project', project, spec], { env });
    assert.equal(twice.status, 125);
    assert.match(twice.stderr, /already exists in project/);
    const t0 = Date.now();
    const stop = niwa(['stop', '--project', project, 'fg'], { env });
    assert.equal(stop.status, 0, stop.stderr);
    assert.equal(await exited, 137, 'SIGKILL after the grace period (PID 1 ignores SIGTERM)');
    assert.ok(Date.now() - t0 >= 900, 'the grace period was waited');
    assert.equal(existsSync(join(dir, 'state', project, 'fg')), false, 'state directory removed');
    assert.deepEqual(cgroupsLeft(), []);
  } finally {
    child.kill('SIGKILL');
  }
});
