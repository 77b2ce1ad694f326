// Finding containers as a Docker user does (issue 15): the id `run -d` printed or a unique prefix
// of it, a name from any project when unambiguous (else the candidates with their projects), ps
// over every project with a PROJECT column, and `niwa inspect` as JSON.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { niwa, needsRoot, needsStage } from '../helpers.js';
import { tryRequest } from '../../src/runtime/supervisor/client.js';

const skip = needsRoot() || needsStage();
const dir = skip ? '' : mkdtempSync(join(tmpdir(), 'niwa-find-'));
if (dir) chmodSync(dir, 0o755);
const state = join(dir, 'state');
const env = { ...process.env, NIWA_STATE_ROOT: state };
const [pa, pb] = [`fa${process.pid}`, `fb${process.pid}`];
const cgroupsLeft = () => readdirSync('/sys/fs/cgroup').filter((c) => [pa, pb].some((p) => existsSync(join('/sys/fs/cgroup', c, 'niwa', p)) && readdirSync(join('/sys/fs/cgroup', c, 'niwa', p)).length > 0));
after(async () => {
  if (!dir) return;
  for (const p of [pa, pb]) {
    for (const n of existsSync(join(state, p)) ? readdirSync(join(state, p)).filter((x) => !x.startsWith('_')) : []) niwa(['rm', '-f', '--project', p, n], { env });
    await tryRequest({ root: state, project: p }, { op: 'shutdown' }).catch(() => undefined);
  }
  rmSync(dir, { recursive: true, force: true });
});

const ok = (r: { status: number; stdout: string; stderr: string }) => { assert.equal(r.status, 0, r.stderr); return r.stdout; };
const runD = (project: string, name: string, ...opts: string[]) =>
  ok(niwa(['run', '-d', '--project', project, '--name', name, '--hostname', `${name}-${project}`, ...opts, '--', '/bin/sh', '-c', 'echo started; trap "exit 0" TERM; while :; do sleep 0.2; done'], { env })).trim();

test('an id, a unique id prefix, and a name from any project find a container; ambiguity lists the candidates', { skip, timeout: 120_000 }, () => {
  const webA = runD(pa, 'web');
  const webB = runD(pb, 'web');
  const solo = runD(pb, 'solo', '--memory', '32m');
  assert.match(solo, /^solo-[0-9a-f]{8}$/, 'run -d prints the id');

  // ps: every project by default, with PROJECT; --project filters
  const ps = ok(niwa(['ps'], { env }));
  assert.match(ps, /^PROJECT\s+NAME\s+ID\s+STATUS/);
  for (const [p, n, id] of [[pa, 'web', webA], [pb, 'web', webB], [pb, 'solo', solo]]) assert.match(ps, new RegExp(`^${p}\\s+${n}\\s+${id}\\s+running`, 'm'));
  const only = JSON.parse(ok(niwa(['ps', '--json', '--project', pa], { env }))) as { name: string; project: string }[];
  assert.deepEqual(only.map((r) => [r.project, r.name]), [[pa, 'web']]);
  assert.doesNotMatch(ok(niwa(['ps', '--project', pa], { env })), /^PROJECT/);

  // a name in one project only: found without --project
  assert.equal(ok(niwa(['exec', 'solo', '--', 'hostname'], { env })).trim(), `solo-${pb}`);
  // the full id and a unique prefix of it (and of its random part)
  assert.equal(ok(niwa(['exec', webA, '--', 'hostname'], { env })).trim(), `web-${pa}`);
  assert.equal(ok(niwa(['exec', webB.slice(0, 7), '--', 'hostname'], { env })).trim(), `web-${pb}`);
  assert.equal(ok(niwa(['exec', webB.split('-')[1].slice(0, 6), '--', 'hostname'], { env })).trim(), `web-${pb}`);
  assert.match(ok(niwa(['logs', solo.slice(0, 8)], { env })), /started/);

  // ambiguous: both candidates, with their projects, and a hint
  const amb = niwa(['logs', 'web'], { env });
  assert.equal(amb.status, 2);
  assert.match(amb.stderr, /'web' names 2 containers/);
  assert.match(amb.stderr, new RegExp(`web \\(id ${webA}\\) in project ${pa}`));
  assert.match(amb.stderr, new RegExp(`web \\(id ${webB}\\) in project ${pb}`));
  assert.match(amb.stderr, /hint: name one with --project/);
  const ambExec = niwa(['exec', 'web', '--', 'true'], { env });
  assert.equal(ambExec.status, 125, 'exec: niwa\'s own failure');
  assert.match(ambExec.stderr, /names 2 containers/);
  const prefix = niwa(['stop', 'web-'], { env });
  assert.match(prefix.stderr, /'web-' is a prefix of the ids of 2 containers/);
  const none = niwa(['inspect', 'nope'], { env });
  assert.equal(none.status, 2);
  assert.match(none.stderr, /no container 'nope' in any project/);

  // inspect: JSON with state, spec, plan summary, mounts, network, cgroup, health
  const [info] = JSON.parse(ok(niwa(['inspect', solo.slice(0, 9)], { env }))) as Record<string, any>[];
  assert.equal(info.id, solo);
  assert.equal(info.name, 'solo');
  assert.equal(info.project, pb);
  assert.equal(info.state.status, 'running');
  assert.ok(info.state.pid > 1);
  assert.equal(info.spec.hostname, `solo-${pb}`);
  assert.equal(info.spec.cgroup.memory, 32 * 1024 * 1024);
  assert.ok(info.plan.steps > 10);
  assert.ok(info.plan.namespaces.includes('CLONE_NEWPID'));
  assert.equal(info.plan.fromFlags['cgroup.memory'], '--memory');
  assert.ok(Array.isArray(info.mounts));
  assert.equal(info.network.mode, 'none');
  assert.ok(info.cgroup.paths.some((p: string) => p.endsWith(`/niwa/${pb}/${solo}`)));
  assert.equal(info.cgroup.limits.memory, 32 * 1024 * 1024);
  assert.ok(info.cgroup.usage.memory.current > 0, 'live figures while it runs');
  assert.equal(info.health.status, 'none');
  assert.equal(ok(niwa(['inspect', '-f', 'state.pid', 'solo'], { env })).trim(), String(info.state.pid));

  // stop and rm by id prefix; rm by name with --project
  assert.equal(ok(niwa(['stop', '-t', '1', solo.slice(0, 8)], { env })).trim(), 'solo');
  assert.equal(ok(niwa(['rm', solo.slice(0, 8)], { env })).trim(), 'solo');
  assert.equal(ok(niwa(['rm', '-f', '--project', pa, 'web'], { env })).trim(), 'web');
  assert.equal(ok(niwa(['rm', '-f', 'web'], { env })).trim(), 'web', 'unambiguous now');
  assert.equal(ok(niwa(['ps', '--json'], { env })).trim(), '[]');
  assert.deepEqual(cgroupsLeft(), []);
});
