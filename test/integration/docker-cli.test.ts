// Docker habits on `niwa run` (issue 15): every option checked from inside a real container, exit
// codes 125/126/127, and a one-off that needs no spec file. Each test uses its own state root and
// project; nothing is left behind (cgroups under niwa/<project>, state, temp files).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { example, niwa, needsRoot, needsStage } from '../helpers.js';

const skip = needsRoot() || needsStage();
const dir = skip ? '' : mkdtempSync(join(tmpdir(), 'niwa-docker-'));
if (dir) chmodSync(dir, 0o755);
const project = `dk${process.pid}`;
const env = { ...process.env, NIWA_STATE_ROOT: join(dir, 'state') };
const cgroupsLeft = () => readdirSync('/sys/fs/cgroup').filter((c) => existsSync(join('/sys/fs/cgroup', c, 'niwa', project)) && readdirSync(join('/sys/fs/cgroup', c, 'niwa', project)).length > 0);
after(() => {
  if (!dir) return;
  niwa(['rm', '-f', '--project', project, ...listed()], { env });
  rmSync(dir, { recursive: true, force: true });
});
const listed = () => { try { return (JSON.parse(niwa(['ps', '--json', '--project', project], { env }).stdout) as { name: string }[]).map((r) => r.name); } catch { return []; } };

/** `niwa run --project P OPTIONS -- /bin/sh -c SCRIPT` */
const run = (opts: string[], script?: string, input?: string) => niwa(['run', '--project', project, ...opts, ...(script === undefined ? [] : ['--', '/bin/sh', '-c', script])], { env, input, timeout: 60_000 });
const ok = (r: { status: number; stdout: string; stderr: string }) => { assert.equal(r.status, 0, r.stderr); return r.stdout; };

test('a one-off needs no spec file: --ns and --hostname on the embedded default root', { skip }, () => {
  const out = ok(run(['--ns', 'pid,uts,mount', '--hostname', 'box'], 'hostname; echo $$; readlink /proc/self/ns/net'));
  const [host, pid, netns] = out.trim().split('\n');
  assert.equal(host, 'box');
  assert.equal(pid, '1', 'a new pid namespace');
  assert.equal(netns, readlinkSync('/proc/self/ns/net'), 'no net in --ns: the host\'s network namespace');
  assert.deepEqual(cgroupsLeft(), []);
});

test('-e, --env-file, -w, -u USER:GROUP: seen from inside', { skip }, () => {
  const envFile = join(dir, 'app.env');
  writeFileSync(envFile, 'FROM_FILE=file\nBOTH=file\n');
  const out = ok(run(['-e', 'GREETING=hello world', '--env-file', envFile, '-e', 'BOTH=flag', '-w', '/tmp', '-u', '1000:1000'],
    'cat /proc/self/environ | tr "\\0" "\\n" | grep -E "^(GREETING|FROM_FILE|BOTH)=" | sort; pwd; grep -E "^(Uid|Gid):" /proc/self/status'));
  const lines = out.trim().split('\n');
  assert.deepEqual(lines.slice(0, 3), ['BOTH=flag', 'FROM_FILE=file', 'GREETING=hello world'], '-e wins over --env-file');
  assert.equal(lines[3], '/tmp');
  assert.match(lines[4], /^Uid:\s+1000\s+1000\s+1000\s+1000$/);
  assert.match(lines[5], /^Gid:\s+1000\s+1000\s+1000\s+1000$/);
});

test('-v SRC:DST is visible and writable, :ro is read-only, --tmpfs has its size, --read-only root refuses writes', { skip }, () => {
  const data = join(dir, 'data');
  mkdirSync(data, { recursive: true });
  writeFileSync(join(data, 'in.txt'), 'from the host\n');
  const out = ok(run(['-v', `${data}:/data`, '-v', `${data}:/ro:ro`, '--tmpfs', '/scratch:size=1m', '--read-only'],
    'cat /data/in.txt; echo written > /data/out.txt && echo rw-ok; (echo x > /ro/x) 2>/dev/null || echo ro-refused; ' +
    'grep " /scratch " /proc/mounts; (touch /newfile) 2>/dev/null || echo root-refused; echo y > /scratch/y && echo tmpfs-ok'));
  assert.match(out, /^from the host$/m);
  assert.match(out, /^rw-ok$/m);
  assert.equal(readFileSync(join(data, 'out.txt'), 'utf8'), 'written\n', 'the write reached the host');
  assert.match(out, /^ro-refused$/m);
  assert.equal(existsSync(join(data, 'x')), false);
  assert.match(out, /^tmpfs \/scratch tmpfs .*size=1024k/m);
  assert.match(out, /^root-refused$/m, '--read-only');
  assert.match(out, /^tmpfs-ok$/m, 'a tmpfs stays writable under --read-only');
});

test('--cap-drop ALL empties every set; --cap-drop ALL --cap-add X leaves exactly X; --cap-drop one', { skip }, () => {
  const caps = (opts: string[]) => ok(run(opts, 'grep -E "^Cap(Eff|Bnd):" /proc/self/status')).trim().split('\n').map((l) => l.split(/\s+/)[1]);
  assert.deepEqual(caps(['--cap-drop', 'ALL']), ['0000000000000000', '0000000000000000']);
  assert.deepEqual(caps(['--cap-drop', 'ALL', '--cap-add', 'NET_BIND_SERVICE']), ['0000000000000400', '0000000000000400'], 'CAP_NET_BIND_SERVICE is bit 10');
  const [eff] = caps(['--cap-drop', 'CAP_CHOWN']);
  assert.equal(BigInt('0x' + eff) & 1n, 0n, 'CAP_CHOWN (bit 0) dropped');
  assert.notEqual(BigInt('0x' + eff), 0n, 'the others kept');
});

test('--hostname, --ulimit, --sysctl, --init, --entrypoint, --security-opt seccomp=unconfined', { skip }, () => {
  const out = ok(run(['--hostname', 'h1', '--ulimit', 'nofile=512:1024', '--sysctl', 'net.ipv4.ip_forward=1', '--security-opt', 'seccomp=unconfined'],
    'hostname; grep "Max open files" /proc/self/limits; cat /proc/sys/net/ipv4/ip_forward; grep Seccomp: /proc/self/status'));
  const l = out.trim().split('\n');
  assert.equal(l[0], 'h1');
  assert.match(l[1], /^Max open files\s+512\s+1024\s/);
  assert.equal(l[2], '1');
  assert.match(l[3], /^Seccomp:\s+0$/, 'unconfined');
  assert.match(ok(run([], 'grep Seccomp: /proc/self/status')), /^Seccomp:\s+2$/m, 'the default filter');
  const init = ok(run(['--init'], 'cat /proc/1/cmdline | tr "\\0" " "; echo; echo $$'));
  const [pid1, self] = init.trim().split('\n');
  assert.doesNotMatch(pid1, /^\/bin\/sh/, 'with --init, PID 1 is the init, not the program');
  assert.notEqual(self, '1');
  assert.equal(ok(niwa(['run', '--project', project, '--entrypoint', '/bin/echo', '--', 'from', 'entrypoint'], { env })).trim(), 'from entrypoint');
});

test('--network none has only lo; --network host sees the host\'s interfaces, without a warning', { skip }, () => {
  const ifaces = (opts: string[]) => { const r = run(opts, 'tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d " "'); assert.equal(r.status, 0, r.stderr); return r; };
  assert.deepEqual(ifaces(['--network', 'none']).stdout.trim().split('\n'), ['lo']);
  const host = ifaces(['--network', 'host']);
  assert.ok(host.stdout.trim().split('\n').length > 1, host.stdout);
  assert.doesNotMatch(host.stderr, /shares the host's network/, 'asked for by name: no warning');
});

test('--memory, --cpus and --pids-limit are in the container\'s cgroup (read through niwa inspect)', { skip, timeout: 60_000 }, () => {
  const id = ok(niwa(['run', '-d', '--project', project, '--name', 'lim', '--memory', '48m', '--cpus', '0.5', '--pids-limit', '20', '--', '/bin/sleep', '60'], { env })).trim();
  try {
    const paths = JSON.parse(ok(niwa(['inspect', '-f', 'cgroup.paths', id], { env }))) as string[];
    // v1: the file in the controller's own hierarchy; v2: in the one unified cgroup
    const file = (...names: string[]) => {
      for (const p of paths) for (const n of names) if (existsSync(join(p, n))) return readFileSync(join(p, n), 'utf8').trim();
      return undefined;
    };
    assert.equal(file('memory.limit_in_bytes', 'memory.max'), String(48 * 1024 * 1024));
    const quota = file('cpu.cfs_quota_us');
    const max = file('cpu.max');
    assert.ok(quota === '50000' || max?.startsWith('50000 '), `cpu quota ${quota ?? max}`);
    assert.equal(file('pids.max'), '20');
  } finally {
    ok(niwa(['rm', '-f', id], { env }));
  }
  assert.deepEqual(cgroupsLeft(), []);
});

test('bad option values are niwa errors naming the option, all at once, and exit 125', { skip }, () => {
  const r = run(['--memory', '12x', '--cpus', 'lots', '--ns', 'pid,utz', '--cap-add', 'CAP_NET_RAWW', '--ulimit', 'nofile'], 'true');
  assert.equal(r.status, 125, r.stderr);
  assert.doesNotMatch(r.stderr, /internal error/);
  assert.match(r.stderr, /^niwa: the command line: \d+ problems in the spec$/m, 'a one-off has no file: the command line has the problems');
  assert.match(r.stderr, /--memory: "12x" is not a size/);
  assert.match(r.stderr, /--cpus: "lots" is not a number of CPUs/);
  assert.match(r.stderr, /--ns: unknown namespace "utz"\n\s+hint: did you mean 'uts'/);
  assert.match(r.stderr, /--ulimit: "nofile" is not NAME=SOFT\[:HARD\]/);
  const cap = run(['--cap-add', 'CAP_NET_RAWW'], 'true');
  assert.equal(cap.status, 125);
  assert.match(cap.stderr, /--cap-add \(capabilities\.add\.0\): 'CAP_NET_RAWW' is not known/, 'a later phase still names the option');
  const p = run(['-p', '8080:80', '--network', 'none'], 'true');
  assert.equal(p.status, 125);
  assert.match(p.stderr, /-p: ports are published from a bridge network, not with --network none/);
  const net = run(['--network', 'mynet'], 'true');
  assert.equal(net.status, 125);
  assert.match(net.stderr, /network mynet does not exist\n\s+hint: networks: bridge \(niwa's own\)/);
});

test('exit codes: the container\'s status, 127 not found, 126 not executable, 125 niwa\'s own failure; run -- ls -h is not help', { skip }, () => {
  assert.equal(run([], 'exit 7').status, 7);
  const nf = niwa(['run', '--project', project, '--', '/no/such/program'], { env });
  assert.equal(nf.status, 127, nf.stderr);
  assert.match(nf.stderr, /execve `\/no\/such\/program`: ENOENT/);
  const nx = niwa(['run', '--project', project, '--', '/etc/passwd'], { env });
  assert.equal(nx.status, 126, nx.stderr);
  const usage = niwa(['run', '--project', project, 'a.yaml', 'b', 'c'], { env });
  assert.equal(usage.status, 125);
  assert.match(usage.stderr, /put the command after --/);
  assert.equal(niwa(['run', '--project', project, '--no-such-option'], { env }).status, 125);
  assert.equal(niwa(['run', '--project', project], { env }).status, 125, 'nothing to run');
  const ls = niwa(['run', '--project', project, '--', '/bin/ls', '-h', '/'], { env });
  assert.equal(ls.status, 0, ls.stderr);
  assert.doesNotMatch(ls.stdout, /^usage:/);
  // exec passes the command's status through too
  const id = ok(niwa(['run', '-d', '--project', project, '--name', 'ex', '--', '/bin/sleep', '60'], { env })).trim();
  try {
    assert.equal(niwa(['exec', id, '--', '/bin/sh', '-c', 'exit 3'], { env }).status, 3);
    assert.equal(niwa(['exec', id, '--', '/no/such'], { env }).status, 127);
    assert.equal(niwa(['exec', id, '--', '/etc/passwd'], { env }).status, 126);
    assert.equal(niwa(['exec', 'no-such-container', '--', 'true'], { env }).status, 125);
  } finally {
    ok(niwa(['rm', '-f', id], { env }));
  }
});

test('stdin only with -i: without it the container reads /dev/null (run and exec)', { skip, timeout: 90_000 }, () => {
  const plain = run([], 'cat; readlink /proc/self/fd/0', 'hi\n');
  assert.equal(plain.status, 0, plain.stderr);
  assert.equal(plain.stdout, '/dev/null\n', 'nothing read: stdin is /dev/null');
  const withI = run(['-i'], 'cat', 'hi\n');
  assert.equal(withI.status, 0, withI.stderr);
  assert.equal(withI.stdout, 'hi\n');
  const id = ok(niwa(['run', '-d', '--project', project, '--name', 'stdin', '--', '/bin/sleep', '60'], { env })).trim();
  try {
    assert.equal(ok(niwa(['exec', id, '--', '/bin/cat'], { env, input: 'hi\n' })), '');
    assert.equal(ok(niwa(['exec', '-i', id, '--', '/bin/cat'], { env, input: 'hi\n' })), 'hi\n');
  } finally {
    ok(niwa(['rm', '-f', id], { env }));
  }
});

test('niwa plan takes the same options and shows the option as the source of a step', { skip }, () => {
  const text = ok(niwa(['plan', '--memory', '64m', '--root', 'chroot', '--', '/bin/true'], { env }));
  assert.match(text, /\[cgroup\.memory ← --memory\]/);
  assert.match(text, /chroot\(/);
  const ex = ok(niwa(['plan', '--explain', '--cap-drop', 'ALL', '--', '/bin/true'], { env }));
  assert.match(ex, /from: option --cap-drop \(spec field capabilities/);
  const json = JSON.parse(ok(niwa(['plan', '--json', '-e', 'A=1', example('hello.container.ts')], { env })));
  assert.equal(json.fromFlags['process.env'], '-e');
});

test('the README\'s niwa run examples/hello.container.ts still works', { skip }, () => {
  const out = ok(niwa(['run', '--project', project, example('hello.container.ts')], { env }));
  assert.match(out, /hello/);
  assert.deepEqual(cgroupsLeft(), []);
});
