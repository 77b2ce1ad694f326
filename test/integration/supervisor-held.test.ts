// The supervisor's memory over many `run -d` / `rm -f` cycles (scripts/sup-mem.mjs measures it at
// length): a removed container leaves nothing held in the supervisor — no entry in its map, no event
// sink, no connection — including one whose log was being followed; and the supervisor runs with a
// small young generation, which is what kept its RSS from growing with the cycles.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { niwa, niwaBin, needsRoot, needsStage, until } from '../helpers.js';
import { tryRequest, SUPERVISOR_NODE_FLAGS } from '../../src/runtime/supervisor/client.js';

const skip = needsRoot() || needsStage();
const dir = skip ? '' : mkdtempSync(join(tmpdir(), 'niwa-sup-held-'));
if (dir) chmodSync(dir, 0o755);
const state = join(dir, 'state');
const project = `held${process.pid.toString(36)}`;
const env = { ...process.env, NIWA_STATE_ROOT: state, NIWA_SUPERVISOR_IDLE_MS: '300' };
const cli = (args: string[]) => niwa([args[0], '--project', project, ...args.slice(1)], { env });
const supervisorPid = (): number | undefined => { try { return JSON.parse(readFileSync(join(state, project, '_supervisor.json'), 'utf8')).pid; } catch { return undefined; } };

after(async () => {
  if (!dir) return;
  for (const n of ['anchor', 'followed']) cli(['rm', '-f', n]);
  await tryRequest({ root: state, project }, { op: 'shutdown' }).catch(() => undefined);
  await until('the supervisor to exit', () => !existsSync(join(state, project)), 5_000).catch(() => undefined);
  const pid = supervisorPid();
  if (pid) try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
  rmSync(dir, { recursive: true, force: true });
});

test('after 20 run -d / rm -f cycles and a followed log the supervisor holds only the live container', { skip, timeout: 120_000 }, async () => {
  const file = join(dir, 'bg.container.yaml');
  writeFileSync(file, 'name: bg\nnamespaces: [mount, uts, pid]\nannotations: {niwa.intended: host-net}\nprocess:\n  args: [/bin/sh, -c, "echo up; exec sleep 300"]\n');
  assert.equal(cli(['run', '-d', '--name', 'anchor', file]).status, 0);
  const cmdline = readFileSync(`/proc/${supervisorPid()}/cmdline`, 'utf8').split('\0');
  for (const f of SUPERVISOR_NODE_FLAGS) assert.ok(cmdline.includes(f), `the supervisor runs with ${f}: ${cmdline.join(' ')}`);
  for (let i = 0; i < 20; i++) {
    const r = cli(['run', '-d', '--name', `c${i}`, file]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(cli(['rm', '-f', `c${i}`]).status, 0);
  }
  // a log followed until its container is removed under it
  assert.equal(cli(['run', '-d', '--name', 'followed', file]).status, 0);
  const follower = spawn(process.execPath, [niwaBin, 'logs', '-f', '--project', project, 'followed'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  follower.stdout.on('data', (d) => { out += d; });
  await until('the follower to print the log', () => out.includes('up'), 15_000);
  assert.equal(cli(['rm', '-f', 'followed']).status, 0);
  await new Promise((r) => { if (follower.exitCode !== null) r(null); else follower.on('exit', r); });
  const d = await tryRequest({ root: state, project }, { op: 'debug' }) as { ok: boolean; containers: string[]; sinks: number; connections: number };
  assert.ok(d.ok);
  assert.deepEqual(d.containers, ['anchor'], 'no entry for a removed container');
  assert.equal(d.sinks, 0, 'no event sink left');
  assert.equal(d.connections, 1, 'only this request\'s connection');
});
