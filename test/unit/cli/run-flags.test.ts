// `niwa run`'s Docker options without a kernel: argv → RunOverrides → the loader's overrides phase →
// CanonicalSpec (and errors named after the option); what the positional is; Docker's exit codes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { parseArgs } from '../../../src/cli/args.js';
import { imageName, overridesOf, runArgSpec, runSource } from '../../../src/cli/run-flags.js';
import { loadSpec, loadSpecObject } from '../../../src/spec/load/index.js';
import { RuntimeFailure, UserError, passThroughExitCode } from '../../../src/errors.js';
import { optionOf } from '../../../src/plan/format.js';
import { tempTree } from '../spec/spec-helpers.js';

const parse = (argv: string[]) => parseArgs(argv, runArgSpec({ project: '' }, { detach: 'd', verbose: '' }), 'run');
const load = (argv: string[], base: unknown = { name: 'x', process: { args: ['/bin/true'] } }, cwd?: string) => {
  const o = overridesOf(parse(argv));
  if (cwd) o.cwd = cwd;
  o.hostEnv = { FROM_SHELL: 'shell' };
  return loadSpecObject(base, '<inline>', { overrides: o, skipConsistency: true, hostUid: 0, hostGid: 0 });
};
async function problems(argv: string[]): Promise<string[]> {
  try { await load(argv); } catch (e) {
    assert.ok(e instanceof UserError, String(e));
    return e.details.map((d) => `${d.field}: ${d.message}`);
  }
  assert.fail('expected an error');
}

test('-it groups, -e/-v repeat, --verbose is long only (-v is a volume), -- starts the command', () => {
  const a = parse(['-it', '-e', 'A=1', '-e', 'B=2', '-v', '/a:/b', '--verbose', '-d', 'spec.yaml', '--', 'ls', '-h']);
  assert.equal(a.flags.tty, true);
  assert.equal(a.flags.interactive, true);
  assert.deepEqual(a.flags.env, ['A=1', 'B=2']);
  assert.deepEqual(a.flags.volume, ['/a:/b']);
  assert.equal(a.flags.verbose, true);
  assert.deepEqual(a.positionals, ['spec.yaml']);
  assert.deepEqual(a.rest, ['ls', '-h']);
});

test('the positional: a spec file by extension or existence, otherwise an image; nothing → the default root', () => {
  const d = tempTree({ 'Specfile': 'name: x\n' });
  assert.deepEqual(runSource(parse(['web.container.yaml']), 'run'), { kind: 'file', file: 'web.container.yaml' });
  assert.deepEqual(runSource(parse(['app.ts']), 'run'), { kind: 'file', file: 'app.ts' });
  assert.equal(runSource(parse([join(d, 'Specfile')]), 'run').kind, 'file');
  const img = runSource(parse(['docker.io/library/busybox:1.36']), 'run');
  assert.deepEqual(img, { kind: 'inline', what: 'image docker.io/library/busybox:1.36', spec: { name: 'busybox', rootfs: { image: 'docker.io/library/busybox:1.36' }, process: {} } });
  const none = runSource(parse(['--', '/bin/sh']), 'run');
  assert.equal(none.kind, 'inline');
  assert.throws(() => runSource(parse([]), 'run'), /nothing to run/);
  assert.throws(() => runSource(parse(['busybox', 'ls', '/']), 'run'), (e: UserError) => /put the command after --/.test(e.hint ?? ''));
  assert.equal(imageName('127.0.0.1:5000/team/app@sha256:abc'), 'app');
});

test('options land on the canonical spec, and each field remembers its option', async () => {
  const d = tempTree({ 'e.env': 'FILE=f\nBOTH=file\n' });
  const s = await load(['--name', 'n1', '-e', 'BOTH=flag', '-e', 'FROM_SHELL', '--env-file', 'e.env', '-w', '/srv', '-u', '1000:1000',
    '-v', './data:/data:ro', '--tmpfs', '/scratch:size=1m,mode=700', '-m', '64m', '--cpus', '0.5', '--pids-limit', '20',
    '--cap-drop', 'NET_RAW', '--cap-add', 'SYS_TIME', '--init', '--read-only', '--hostname', 'h', '--ulimit', 'nofile=10:20',
    '--sysctl', 'net.ipv4.ip_forward=1', '--security-opt', 'no-new-privileges=false', '--root', 'chroot', '-t', '--', '/bin/sh'], undefined, d);
  assert.equal(s.name, 'n1');
  assert.deepEqual(s.process.args, ['/bin/sh']);
  assert.equal(s.process.env.BOTH, 'flag');
  assert.equal(s.process.env.FILE, 'f');
  assert.equal(s.process.env.FROM_SHELL, 'shell');
  assert.equal(s.process.cwd, '/srv');
  assert.deepEqual([s.process.uid, s.process.gid], [1000, 1000]);
  assert.equal(s.process.init, true);
  assert.equal(s.process.tty, true);
  const bind = s.mounts.find((m) => m.target === '/data')!;
  assert.deepEqual([bind.type, bind.source, bind.readonly], ['bind', join(d, 'data'), true]);
  const tmp = s.mounts.find((m) => m.target === '/scratch')!;
  assert.deepEqual([tmp.type, tmp.size, tmp.mode], ['tmpfs', 1024 * 1024, 0o700]);
  assert.equal(s.cgroup.memory, 64 * 1024 * 1024);
  assert.equal(s.cgroup.cpus, 0.5);
  assert.equal(s.cgroup.pids, 20);
  assert.ok(!s.capabilities.bounding.includes('CAP_NET_RAW'));
  assert.ok(s.capabilities.bounding.includes('CAP_SYS_TIME'));
  assert.equal(s.readonlyRoot, true);
  assert.equal(s.hostname, 'h');
  assert.deepEqual(s.rlimits.find((r) => r.type === 'RLIMIT_NOFILE'), { type: 'RLIMIT_NOFILE', soft: 10, hard: 20 });
  assert.equal(s.sysctls['net.ipv4.ip_forward'], '1');
  assert.equal(s.noNewPrivs, false);
  assert.equal(s.root, 'chroot');
  assert.equal(optionOf(s.fromFlags, 'cgroup.memory'), '--memory');
  assert.equal(optionOf(s.fromFlags, 'mounts.0'), '-v');
  assert.equal(optionOf(s.fromFlags, 'rlimits.nofile'), '--ulimit');
  assert.equal(optionOf(s.fromFlags, 'process.args'), '--');
  assert.equal(optionOf(s.fromFlags, 'namespaces.pid'), undefined);
});

test('--cap-drop ALL (--cap-add X) is exactly X; --ns and --network shape the namespaces; seccomp=unconfined', async () => {
  const s = await load(['--cap-drop', 'ALL', '--cap-add', 'CAP_CHOWN', '--ns', 'pid,mount,net', '--network', 'host', '--security-opt', 'seccomp=unconfined']);
  assert.deepEqual(s.capabilities.bounding, ['CAP_CHOWN']);
  assert.deepEqual(Object.keys(s.namespaces).sort(), ['mount', 'pid']);
  assert.equal(s.annotations['niwa.intended'], 'host-net');
  assert.equal(s.seccomp, null);
  const none = await load(['--network', 'none']);
  assert.deepEqual(none.namespaces.net, { mode: 'new' });
  const all = await load(['--cap-drop', 'ALL']);
  assert.deepEqual(all.capabilities.bounding, []);
});

test('-p publishes from a bridge network (niwa\'s own unless --network NAME); --network none|host with -p is an error', async () => {
  const p = await load(['-p', '8080:80', '-p', '127.0.0.1:5353:53/udp']);
  assert.deepEqual(p.network, { name: 'bridge', ports: [
    { hostIp: '0.0.0.0', hostPort: 8080, containerPort: 80, protocol: 'tcp' },
    { hostIp: '127.0.0.1', hostPort: 5353, containerPort: 53, protocol: 'udp' },
  ] });
  assert.deepEqual(p.namespaces.net, { mode: 'new' });
  assert.equal(optionOf(p.fromFlags, 'network.ports'), '-p');
  assert.equal(optionOf(p.fromFlags, 'network'), '-p');
  const named = await load(['--network', 'demo_default', '-p', '80']);
  assert.deepEqual(named.network, { name: 'demo_default', ports: [{ hostIp: '0.0.0.0', hostPort: 0, containerPort: 80, protocol: 'tcp' }] });
  assert.equal(optionOf(named.fromFlags, 'network'), '--network');
  assert.deepEqual((await load(['--network', 'bridge'])).network, { name: 'bridge', ports: [] });
  // the spec's own network, and --network none over it
  const spec = { name: 'x', process: { args: ['/bin/true'] }, network: { ports: ['8080:80'] } };
  assert.equal((await load([], spec)).network?.ports[0].hostPort, 8080);
  assert.equal((await load(['--network', 'none'], spec)).network, undefined);
  assert.deepEqual(await problems(['--network', 'host', '-p', '80:80']), ['-p: ports are published from a bridge network, not with --network host']);
  await assert.rejects(load([], { name: 'x', process: { args: ['/bin/true'] }, network: { mode: 'host', ports: ['80'] } }), (e: UserError) => e.details.some((d) => d.field === 'network.ports' && /not with mode host/.test(d.message)));
  await assert.rejects(load([], { name: 'x', process: { args: ['/bin/true'] }, network: { ports: ['80:x'] } }), (e: UserError) => e.details.some((d) => d.field === 'network.ports.0'));
});

test('--entrypoint: the whole command without an image; with -- it gets the arguments', async () => {
  assert.deepEqual((await load(['--entrypoint', '/bin/echo', '--', 'a', 'b'])).process.args, ['/bin/echo', 'a', 'b']);
  assert.deepEqual((await load(['--entrypoint', '/bin/date'])).process.args, ['/bin/date']);
});

test('bad values: every problem at once, each named after its option, with a hint', async () => {
  const p = await problems(['--memory', '12x', '--cpus', '0', '--pids-limit', 'x', '--ns', 'pid,utz', '-e', '=v', '-w', 'rel', '-v', 'name:/data',
    '--tmpfs', 'rel', '--ulimit', 'nofile', '--sysctl', 'novalue', '--root', 'jail', '--security-opt', 'apparmor=x', '-p', '80:x', '--network', 'no/such']);
  for (const want of ['--memory: "12x" is not a size', '--cpus: "0" is not a number of CPUs', '--pids-limit: "x" is not a whole number', '--ns: unknown namespace "utz"',
    '-e: "=v" is not NAME=VALUE', '-w: "rel" is not an absolute path', '-v: "name:/data": named and anonymous volumes', '--tmpfs: "rel" is not an absolute path',
    '--ulimit: "nofile" is not NAME=SOFT[:HARD]', '--sysctl: "novalue" is not NAME=VALUE', '--root: "jail" is not pivot_root or chroot',
    '--security-opt: "apparmor=x" is not supported', '-p: ', '--network: "no/such" is not a network name']) {
    assert.ok(p.some((l) => l.startsWith(want)), `${want}\n in ${p.join('\n')}`);
  }
  // a problem found by a later phase (the schema here) still names the option
  const later = await problems(['--cap-add', 'CAP_NET_RAWW']);
  assert.match(later[0], /^--cap-add \(capabilities\.add\.0\): 'CAP_NET_RAWW' is not known/);
});

test('options apply over a spec file too, and its own problems keep file:line', async () => {
  const d = tempTree({ 's.container.yaml': 'name: s\nhostname: from-file\nprocess: {args: [/bin/true]}\ncgroup: {memory: 32M}\n' });
  const o = overridesOf(parse(['--hostname', 'from-flag']));
  const s = await loadSpec(join(d, 's.container.yaml'), { overrides: o, skipConsistency: true });
  assert.equal(s.hostname, 'from-flag');
  assert.equal(s.cgroup.memory, 32 * 1024 * 1024, 'what no option touches stays');
  assert.equal(s.fromFlags?.hostname, '--hostname');
});

test('Docker\'s exit codes for niwa\'s own failures', () => {
  assert.equal(passThroughExitCode(new RuntimeFailure('E_STEP', 'x', { op: 'execve', errno: 'ENOENT' })), 127);
  assert.equal(passThroughExitCode(new RuntimeFailure('E_STEP', 'x', { op: 'execve', errno: 'EACCES' })), 126);
  assert.equal(passThroughExitCode(new RuntimeFailure('E_STEP', 'x', { op: 'execve', errno: 'ENOEXEC' })), 126);
  assert.equal(passThroughExitCode(new RuntimeFailure('E_STEP', 'x', { op: 'mount', errno: 'ENOENT' })), 125);
  assert.equal(passThroughExitCode(new UserError('E_USAGE', 'x')), 125);
  assert.equal(passThroughExitCode(new Error('bug')), 125);
});

test('--help says so: niwa --help and niwa run --help name 125, 126 and 127', async () => {
  const { niwa } = await import('../../helpers.js');
  for (const args of [['--help'], ['run', '--help'], ['exec', '--help']]) {
    const r = niwa(args);
    assert.equal(r.status, 0, r.stderr);
    for (const code of ['125', '126', '127']) assert.match(r.stdout, new RegExp(`\\b${code}\\b`), `${args.join(' ')}: ${code}`);
  }
  assert.match(niwa(['run', '--help']).stdout, /--cap-drop CAP \(ALL too\)/);
  assert.match(niwa(['plan', '--help']).stdout, /--memory 64m/, 'plan takes the same options');
});
