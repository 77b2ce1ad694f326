// `niwa diff`: differences primitive by primitive with what they change, exit codes like
// diff(1), --json, and no difference for two spellings of the same spec.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { niwa, example } from '../../helpers.js';
import { loadSpecObject } from '../../../src/spec/load/index.js';
import { diffSpecs } from '../../../src/cli/diff.js';

const dir = mkdtempSync(join(tmpdir(), 'niwa-diff-test-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const write = (name: string, text: string) => { const f = join(dir, name); writeFileSync(f, text); return f; };
const load = (o: object) => loadSpecObject(o, join(dir, 'x.container.yaml'), { hostCgroupControllers: ['memory', 'pids', 'cpu'], exists: () => true });
const base = { name: 'a', process: { args: ['/bin/true'] } };

test('two spellings of the same spec are equal; the name does not count', async () => {
  const a = await load({ ...base, namespaces: ['mount', 'pid'], capabilities: { drop: ['NET_RAW'] }, cgroup: { memory: '32M' } });
  const b = await load({ ...base, name: 'other', namespaces: { mount: {}, pid: true }, capabilities: { drop: ['CAP_NET_RAW'] }, cgroup: { memory: 33554432 } });
  assert.deepEqual(diffSpecs(a, b), []);
});

test('each primitive that differs is named, with what it changes', async () => {
  const a = await load({ ...base, namespaces: ['mount', 'uts', 'pid', 'net'], hostname: 'h', cgroup: { memory: '32M', pids: 10 }, rlimits: { nofile: 64 } });
  const b = await load({ ...base, root: 'chroot', namespaces: ['mount', 'uts', 'net', 'user'], hostname: 'h', cgroup: { pids: 10 }, capabilities: { add: ['CAP_SYS_ADMIN'] }, seccomp: 'unconfined', no_new_privs: false, rlimits: { nofile: 128 } });
  const d = diffSpecs(a, b);
  const by = (f: string) => d.find((x) => x.field === f);
  assert.match(by('namespaces.pid')!.effect, /B has no pid namespace: the process sees every host process/);
  assert.equal(by('namespaces.pid')!.a, 'new');
  assert.equal(by('namespaces.pid')!.b, '—');
  assert.match(by('namespaces.user')!.effect, /uid 0 inside maps to an unprivileged uid/);
  assert.match(by('root')!.effect, /chroot.*escape/);
  assert.match(by('cgroup.memory')!.effect, /no memory limit/);
  assert.ok(!by('cgroup.pids'), 'equal limits are not reported');
  assert.ok(d.some((x) => x.field === 'capabilities.bounding' && x.b === 'CAP_SYS_ADMIN' && /nearly root/.test(x.effect)));
  assert.match(by('seccomp')!.effect, /unconfined/);
  assert.match(by('no_new_privs')!.effect, /setuid/);
  assert.equal(by('rlimits.nofile')!.b, '128/128');
  assert.ok(!by('hostname'));
  assert.deepEqual([...new Set(d.map((x) => x.primitive))], ['namespaces', 'user', 'root', 'capabilities', 'cgroup', 'rlimits', 'seccomp'].filter((p) => d.some((x) => x.primitive === p)));
});

test('mounts by target, and seccomp rules by syscall', async () => {
  const a = await load({ ...base, mounts: [{ type: 'tmpfs', target: '/t' }, { type: 'bind', source: '/etc', target: '/e', readonly: true }], seccomp: { default_action: 'allow', syscalls: [{ names: ['mkdir'], action: 'errno', errno: 'EPERM' }] } });
  const b = await load({ ...base, mounts: [{ type: 'bind', source: '/etc', target: '/e' }], seccomp: { default_action: 'allow', syscalls: [{ names: ['mkdir'], action: 'errno', errno: 'EACCES' }, { names: ['ptrace'], action: 'kill_process' }] } });
  const d = diffSpecs(a, b);
  assert.ok(d.some((x) => x.field === 'mounts[/t]' && /no mount at \/t/.test(x.effect)));
  assert.ok(d.some((x) => x.field === 'mounts[/e]' && /writable/.test(x.effect)));
  assert.ok(d.some((x) => x.field === 'seccomp.syscalls[mkdir]' && x.b === 'errno EACCES'));
  assert.ok(d.some((x) => x.field === 'seccomp.syscalls[ptrace]' && /kill_process/.test(x.effect)));
});

test('CLI: exit 1 and a readable report when different, 0 when equal, --json, 2 on a bad spec', () => {
  const a = write('a.container.yaml', 'name: a\nnamespaces: [mount, uts, pid]\nhostname: x\nprocess: {args: [/bin/true]}\n');
  const b = write('b.container.yaml', 'name: b\nnamespaces: [mount, uts]\nhostname: x\nprocess: {args: [/bin/true]}\n');
  const r = niwa(['diff', a, b]);
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stdout, /namespaces\.pid: A new {2}→ {2}B —/);
  assert.match(r.stdout, /B has no pid namespace/);
  const j = niwa(['diff', '--json', a, b]);
  assert.equal(j.status, 1);
  assert.deepEqual(JSON.parse(j.stdout).map((x: { field: string }) => x.field), ['namespaces.pid']);
  const same = niwa(['diff', a, a]);
  assert.equal(same.status, 0);
  assert.match(same.stdout, /isolate the same way/);
  const bad = write('bad.container.yaml', 'name: bad\nnamespaces: [bogus]\nprocess: {args: [/bin/true]}\n');
  assert.equal(niwa(['diff', a, bad]).status, 2);
  assert.equal(niwa(['diff', a]).status, 2);
  assert.equal(niwa(['diff', example('probe.container.yaml'), example('probe.container.yaml')]).status, 0);
});
