// The exec and probe plans, and where compile puts each hook point: ordering rules as properties.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { repoRoot } from '../../helpers.js';
import { loadSpecObject } from '../../../src/spec/load/index.js';
import { compile, HOOK_ORDER } from '../../../src/plan/compile.js';
import { compileExec, compileProbe, httpRequest } from '../../../src/plan/exec.js';
import { genericHost } from '../../../src/validate/host.js';
import { encodePlan } from '../../../src/runtime/launch/encode.js';
import { formatPlan } from '../../../src/plan/format.js';
import { HOOK_POINTS } from '../../../src/spec/types.js';
import type { Step } from '../../../src/plan/types.js';

const host = genericHost();
const load = (spec: object) => loadSpecObject(spec, join(repoRoot, 'examples', 'inline.container.yaml'), { hostCgroupControllers: host.cgroup.v2Controllers, exists: () => true });
const target = { pid: 4242, cgroups: ['/sys/fs/cgroup/niwa/p/c-1'] };
const ops = (steps: Step[], phase: string) => steps.filter((s) => s.phase === phase);
const lastIndex = (steps: Step[], pred: (s: Step) => boolean) => steps.reduce((last, s, i) => (pred(s) ? i : last), -1);

test('exec: pid and time joined by the stage; the child joins user first, mount last, after the cgroup placement', async () => {
  const spec = await load({ name: 'e', process: { args: ['/bin/sleep', '1'] }, namespaces: ['user', 'mount', 'uts', 'ipc', 'pid', 'net', 'cgroup', 'time'], uid_map: [{ container_id: 0, host_id: 100000, size: 65536 }], gid_map: [{ container_id: 0, host_id: 100000, size: 65536 }] });
  const p = compileExec(spec, target, { args: ['id'] }, host);
  assert.deepEqual(ops(p.steps, 'stage').map((s) => s.op === 'setns' && s.path), ['/proc/4242/ns/pid', '/proc/4242/ns/time']);
  const clone = ops(p.steps, 'clone');
  assert.deepEqual(clone.map((s) => s.op === 'clone' && s.flags), [[]], 'no new namespaces');
  assert.deepEqual(ops(p.steps, 'parent').map((s) => s.op === 'write' ? `${s.path}=${s.data}` : s.op), ['/sys/fs/cgroup/niwa/p/c-1/cgroup.procs={pid}', 'release_child']);
  const child = ops(p.steps, 'child');
  assert.equal(child[0].op, 'wait_parent');
  const joins = child.filter((s) => s.op === 'setns').map((s) => s.op === 'setns' && s.ns);
  assert.deepEqual(joins, ['user', 'ipc', 'uts', 'net', 'cgroup', 'mount']);
  assert.equal(child.at(-1)!.op, 'execve');
  const ex = child.at(-1) as Extract<Step, { op: 'execve' }>;
  assert.deepEqual(ex.argv, ['id']);
  // the container's restrictions, in the container's order
  const order = child.map((s) => s.op);
  assert.ok(order.indexOf('capbset_drop') < order.indexOf('capset') && order.indexOf('capset') < order.indexOf('no_new_privs') && order.indexOf('no_new_privs') < order.indexOf('seccomp'));
  assert.ok(order.lastIndexOf('setns') < order.indexOf('capbset_drop'), 'all joins before the privilege drop');
  assert.ok(!order.includes('mount') && !order.includes('pivot_root') && !order.includes('init'));
  encodePlan(p.steps, { tty: p.tty }); // the stage accepts it
});

test('exec: only the namespaces the container has; overrides of env, cwd, user; --privileged drops no capability and has no filter', async () => {
  const spec = await load({ name: 'e', process: { args: ['/bin/true'], env: { A: '1', B: '2' }, cwd: '/srv' }, namespaces: ['mount', 'uts'], capabilities: { drop: ['CAP_CHOWN'] } });
  const p = compileExec(spec, { pid: 7, cgroups: [] }, { args: ['env'], env: { B: 'x' }, cwd: '/tmp', user: { uid: 1000, gid: 100, groups: [100, 27] } }, host);
  assert.deepEqual(p.steps.filter((s) => s.op === 'setns').map((s) => s.op === 'setns' && s.ns), ['uts', 'mount']);
  const ex = p.steps.find((s) => s.op === 'execve') as Extract<Step, { op: 'execve' }>;
  assert.ok(ex.env.includes('A=1') && ex.env.includes('B=x') && !ex.env.includes('B=2'));
  assert.ok(p.steps.some((s) => s.op === 'chdir' && s.path === '/tmp'));
  assert.ok(p.steps.some((s) => s.op === 'setresuid' && s.uid === 1000) && p.steps.some((s) => s.op === 'setgroups' && s.gids.join() === '100,27'));
  assert.ok(p.steps.some((s) => s.op === 'capbset_drop' && s.caps.includes('CAP_CHOWN')));
  assert.ok(p.steps.some((s) => s.op === 'seccomp'));
  const priv = compileExec(spec, { pid: 7, cgroups: [] }, { args: ['env'], privileged: true }, host);
  assert.ok(!priv.steps.some((s) => s.op === 'seccomp' || s.op === 'capbset_drop'));
  assert.ok(priv.steps.some((s) => s.op === 'no_new_privs'), 'no_new_privs stays');
  assert.ok(priv.steps.some((s) => s.op === 'capset' && s.effective.includes('CAP_SYS_ADMIN')));
});

test('exec: a chroot container is entered through /proc/PID/root; a pivot_root one by the mount namespace alone', async () => {
  const chrooted = compileExec(await load({ name: 'c', root: 'chroot', process: { args: ['/bin/true'] } }), target, { args: ['ls'] }, host);
  const i = chrooted.steps.findIndex((s) => s.op === 'chdir' && s.path === '/proc/4242/root');
  assert.ok(i > chrooted.steps.findIndex((s) => s.op === 'setns' && s.ns === 'mount'));
  assert.deepEqual(chrooted.steps.slice(i + 1, i + 3).map((s) => s.op), ['chroot', 'chdir']);
  const pivoted = compileExec(await load({ name: 'c', process: { args: ['/bin/true'] } }), target, { args: ['ls'] }, host);
  assert.ok(!pivoted.steps.some((s) => s.op === 'chroot'));
  assert.throws(() => compileExec(pivoted as never, target, { args: [] }, host), /no command/);
});

test('exec: -t gives the plan a pty and the child a session with it as controlling terminal', async () => {
  const p = compileExec(await load({ name: 't', process: { args: ['/bin/true'] } }), target, { args: ['sh'], tty: true }, host);
  assert.equal(p.tty, true);
  assert.ok(p.steps.some((s) => s.op === 'setsid') && p.steps.some((s) => s.op === 'setctty'));
});

test('probe: joins only the net namespace, then connects; HTTP requests are written out in full', async () => {
  const spec = await load({ name: 'p', process: { args: ['/bin/true'] }, namespaces: ['user', 'mount', 'net'], uid_map: [{ container_id: 0, host_id: 100000, size: 1 }], gid_map: [{ container_id: 0, host_id: 100000, size: 1 }] });
  const req = httpRequest(new URL('http://localhost:8080/health?x=1'));
  assert.equal(req, 'GET /health?x=1 HTTP/1.0\r\nHost: localhost:8080\r\nUser-Agent: niwa-healthcheck\r\nConnection: close\r\n\r\n');
  const p = compileProbe(spec, { pid: 9 }, { address: '127.0.0.1', port: 8080, timeoutMs: 1000, request: req });
  assert.deepEqual(p.steps.map((s) => `${s.phase}:${s.op}`), ['clone:clone', 'child:setns', 'child:probe']);
  assert.deepEqual(p.steps.filter((s) => s.op === 'setns').map((s) => s.op === 'setns' && s.path), ['/proc/9/ns/net']);
  encodePlan(p.steps, { tty: false });
  assert.match(formatPlan(p), /connect\(127\.0\.0\.1, 8080\) \+ "GET \/health\?x=1 HTTP\/1\.0"/);
});

test('hooks: every point is a plan step in its phase and place; none is left unrun', async () => {
  const hooks = Object.fromEntries(HOOK_POINTS.map((p) => [p, `echo ${p}`]));
  const p = compile(await load({ name: 'h', process: { args: ['/bin/true'] }, hooks }), host, { id: 'h-1', project: 'p' });
  assert.deepEqual(p.warnings, []);
  const hook = (point: string) => p.steps.findIndex((s) => s.op === 'hook' && s.point === point);
  const at = (op: string) => p.steps.findIndex((s) => s.op === op);
  for (const point of HOOK_POINTS) assert.ok(hook(point) >= 0, `${point} is in the plan`);
  const phase = (point: string) => p.steps[hook(point)].phase;
  assert.equal(phase('before_fork'), 'prepare');
  for (const pt of ['after_fork', 'prestart', 'create_runtime']) {
    assert.equal(phase(pt), 'parent');
    assert.ok(hook(pt) < at('release_child') && hook(pt) > p.steps.findIndex((s) => s.op === 'write' && s.path.endsWith('cgroup.procs')), `${pt}: after placement, before release`);
  }
  for (const pt of ['before_chroot', 'create_container']) assert.ok(phase(pt) === 'child' && hook(pt) < at('pivot_root') && hook(pt) > lastIndex(p.steps, (s) => s.op === 'mount' && Boolean(s.inRoot)));
  assert.ok(hook('after_chroot') > at('umount2') && hook('after_chroot') < p.steps.findIndex((s) => s.op === 'mask'));
  for (const pt of ['start_container', 'before_start']) assert.ok(hook(pt) > at('capset') && hook(pt) < at('no_new_privs'), `${pt}: after the privilege drop, before no_new_privs/seccomp/execve`);
  for (const pt of ['after_start', 'poststart']) assert.equal(phase(pt), 'started');
  for (const pt of ['system_failure', 'teardown', 'poststop']) assert.equal(phase(pt), 'cleanup');
  assert.ok(hook('system_failure') < at('rmdir') && hook('teardown') > lastIndex(p.steps, (s) => s.op === 'rmdir'));
  // the run order of hooks is HOOK_ORDER (system_failure apart)
  const order = p.steps.filter((s) => s.op === 'hook').map((s) => s.op === 'hook' && s.point);
  assert.deepEqual(order.filter((x) => x !== 'system_failure'), HOOK_ORDER.filter((x) => x !== 'system_failure'));
  // each hook step points at its hook in spec.hooks
  for (const s of p.steps) if (s.op === 'hook') assert.equal(s.command?.at(-1), `echo ${s.point}`);
  encodePlan(p.steps, { tty: false });
  assert.match(formatPlan(p), /pause: hook after_chroot\[\d+\]: \/bin\/sh -c "echo after_chroot"/);
});
