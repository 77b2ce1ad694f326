// `niwa plan --explain`: every step gets its why, its man page and at least one command that
// shows its effect, and the commands fit the step (the namespace, the file, the mount target).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { repoRoot } from '../../helpers.js';
import { loadSpec, loadSpecObject } from '../../../src/spec/load/index.js';
import { compile } from '../../../src/plan/compile.js';
import { genericHost } from '../../../src/validate/host.js';
import { explainPlan, formatExplain, lookFor } from '../../../src/plan/explain.js';
import type { LaunchPlan, Step } from '../../../src/plan/types.js';

const host = genericHost();
async function planOf(spec: object): Promise<LaunchPlan> {
  const c = await loadSpecObject(spec, join(repoRoot, 'examples', 'inline.container.yaml'), { hostCgroupControllers: host.cgroup.v2Controllers, exists: () => true });
  return compile(c, host, { id: 'x', project: 'default' });
}
const looks = (p: LaunchPlan, pred: (s: Step) => boolean) => lookFor(p.steps.find(pred)!).map((l) => `${l.where}: ${l.cmd}`).join('\n');

test('every step of the haconiwa example (every primitive) is explained with something to look at', async () => {
  const spec = await loadSpec(join(repoRoot, 'examples', 'haconiwa.container.yaml'), { hostCgroupControllers: host.cgroup.v2Controllers });
  const plan = compile(spec, host, { id: 'h', project: 'default' });
  const ex = explainPlan(plan);
  assert.equal(ex.length, plan.steps.length);
  for (const e of ex) {
    assert.ok(e.why.length > 10, `step ${e.index} has a why`);
    assert.ok(e.look.length > 0, `step ${e.index} (${e.call}) says what to look at`);
    for (const l of e.look) assert.ok(l.cmd.trim().length > 0);
  }
  // Steps of the native stage carry a man page.
  for (const s of plan.steps.filter((x) => x.phase !== 'prepare' && x.phase !== 'cleanup' && x.op !== 'hook')) {
    if (!['mkdir', 'write'].includes(s.op) || !('inRoot' in s && s.inRoot)) assert.ok(s.man, `step ${s.index} ${s.op} has a man page`);
  }
});

test('the commands fit the step: namespaces, cgroup files, maps, mounts, capabilities', async () => {
  const p = await planOf({ name: 'e', process: { args: ['/bin/true'] }, namespaces: ['user', 'mount', 'uts', 'pid', 'net'], hostname: 'box', cgroup: { memory: '32M' }, capabilities: { drop: ['CAP_NET_RAW'] }, rlimits: { nofile: 64 }, mounts: [{ type: 'tmpfs', target: '/scratch', size: '1M' }] });
  assert.match(looks(p, (s) => s.op === 'clone'), /ls -l \/proc\/\$PID\/ns/);
  assert.match(looks(p, (s) => s.op === 'clone'), /nsenter -t \$PID -u hostname/);
  assert.match(looks(p, (s) => s.op === 'write' && s.path.endsWith('memory.max')), /cat \/sys\/fs\/cgroup\/niwa\/default\/x\/memory\.max/);
  assert.match(looks(p, (s) => s.op === 'write' && s.path.endsWith('uid_map')), /cat \/proc\/\$PID\/uid_map/);
  assert.match(looks(p, (s) => s.op === 'write' && s.path.endsWith('cgroup.procs')), /cat \/proc\/\$PID\/cgroup/);
  assert.match(looks(p, (s) => s.op === 'mount' && s.target === '/scratch'), /grep ' \/scratch ' \/proc\/\$PID\/mountinfo/);
  assert.match(looks(p, (s) => s.op === 'mount' && s.target === '/scratch'), /df -h \/scratch/);
  assert.match(looks(p, (s) => s.op === 'capbset_drop'), /grep CapBnd \/proc\/\$PID\/status/);
  assert.match(looks(p, (s) => s.op === 'setrlimit'), /cat \/proc\/\$PID\/limits/);
  assert.match(looks(p, (s) => s.op === 'sethostname'), /hostname/);
  assert.match(looks(p, (s) => s.op === 'pivot_root'), /mountinfo/);
  assert.match(looks(p, (s) => s.op === 'no_new_privs'), /NoNewPrivs/);
  assert.match(looks(p, (s) => s.op === 'seccomp'), /Seccomp/);
});

test('formatExplain prints each step with why, man page and host/inside commands', async () => {
  const p = await planOf({ name: 'fmt', process: { args: ['/bin/true'] }, hostname: 'box', cgroup: { pids: 8 } });
  const text = formatExplain(p);
  for (const s of p.steps) assert.ok(text.includes(`[${s.index}] `), `step ${s.index} is listed`);
  assert.match(text, /why: {2}set the name the container sees/);
  assert.match(text, /man: sethostname\(2\)/);
  assert.match(text, /host\$ {3}cat \/sys\/fs\/cgroup\/niwa\/default\/x\/pids\.max/);
  assert.match(text, /inside\$ hostname; uname -n/);
  assert.match(text, /== clone — /);
  assert.match(text, /spec field hostname/);
});
