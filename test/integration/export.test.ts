// The exports run the same container: for each spec, `niwa run`, the `niwa plan --shell` script
// and `runc run` on the `niwa plan --oci-bundle` output each run one probe, which reports from
// inside the container what it sees (hostname, which namespaces differ from the host's,
// capability sets, no_new_privs, seccomp mode, mount points, cgroup limits, ids, rlimits, a
// read-only bind). The three reports must be equal, except for differences listed (with the
// reason) in INTENTIONAL below. Every run must leave no cgroup, mount, process or runc state.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { niwa, needsRoot, needsStage } from '../helpers.js';

const which = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
const skip = needsRoot() || needsStage();
const skipRunc = skip || (which('runc') ? false : 'runc is not installed (apt-get install runc)');
const skipShell = skip || (which('capsh') && which('unshare') ? false : 'capsh/unshare missing (apt-get install libcap2-bin util-linux)');

const project = `export-test-${process.pid}`;
let dir = '';
let state = '';
let runcRoot = '';
let data = '';

before(() => {
  if (skip) return;
  dir = mkdtempSync(join(tmpdir(), 'niwa-export-test-'));
  chmodSync(dir, 0o755);
  state = join(dir, 'state');
  runcRoot = join(dir, 'runc');
  data = join(dir, 'data');
  mkdirSync(data);
  writeFileSync(join(data, 'hello.txt'), 'from host\n');
});

after(() => {
  if (!dir) return;
  // runc state of any container a failed test left behind.
  if (existsSync(runcRoot)) for (const id of readdirSync(runcRoot)) spawnSync('runc', ['--root', runcRoot, 'delete', '-f', id]);
  removeProjectCgroups();
  rmSync(dir, { recursive: true, force: true });
});

/** The cgroups of this test's project in every hierarchy (runc creates one in each v1 controller). */
function projectCgroups(): string[] {
  const out: string[] = [];
  for (const h of readdirSync('/sys/fs/cgroup')) {
    const p = join('/sys/fs/cgroup', h, 'niwa', project);
    if (existsSync(p)) out.push(p, ...readdirSync(p, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => join(p, d.name)));
  }
  return out;
}
function removeProjectCgroups(): void {
  for (const h of readdirSync('/sys/fs/cgroup')) {
    const base = join('/sys/fs/cgroup', h, 'niwa');
    const p = join(base, project);
    if (!existsSync(p)) continue;
    for (const d of readdirSync(p, { withFileTypes: true })) if (d.isDirectory()) spawnSync('rmdir', [join(p, d.name)]);
    spawnSync('rmdir', [p]);
    spawnSync('rmdir', [base]); // only if no other niwa cgroup is there (rmdir fails on a non-empty dir)
  }
}

// ------------------------------------------------------------------------------------------
// The probe: one `key=value` per line.

const PROBE = [
  'echo hostname=$(hostname)',
  'echo pid=$$',
  'for n in cgroup ipc mnt net pid user uts; do echo ns.$n=$(readlink /proc/self/ns/$n); done',
  "grep -E '^(Cap(Inh|Prm|Eff|Bnd|Amb)|NoNewPrivs|Seccomp):' /proc/self/status | sed 's/:[[:space:]]*/=/'",
  'echo uid=$(id -u) gid=$(id -g) groups=$(id -G | tr " " ,)',
  'echo nofile=$(ulimit -n)',
  "echo mounts=$(awk '{print $5}' /proc/self/mountinfo | sort -u | tr '\\n' ' ')",
  "echo rootopts=$(awk '$5==\"/\"{print $6}' /proc/self/mountinfo | tail -1)",
  "m=$(awk -F: '$2==\"memory\"{print $3}' /proc/self/cgroup); p=$(awk -F: '$2==\"pids\"{print $3}' /proc/self/cgroup); u=$(awk -F: '$1==\"0\"{print $3}' /proc/self/cgroup)",
  'if [ -n "$m" ]; then echo memory=$(cat /hostcg/memory$m/memory.limit_in_bytes); else echo memory=$(cat /hostcg$u/memory.max); fi',
  'if [ -n "$p" ]; then echo pids=$(cat /hostcg/pids$p/pids.max); else echo pids=$(cat /hostcg$u/pids.max); fi',
  'cat /data/hello.txt >/dev/null && echo data.read=yes || echo data.read=no',
  'touch /data/x 2>/dev/null && echo data.write=yes || echo data.write=no',
  'touch /scratch/x 2>/dev/null && echo scratch.write=yes || echo scratch.write=no',
  'mkdir /tmp/probe-dir 2>/dev/null && echo mkdir=ok || echo mkdir=denied',
  'echo cwd=$(pwd)',
  'echo env.GREETING=$GREETING',
].join('\n');

type Facts = Record<string, string>;

function parseFacts(out: string): Facts {
  const f: Facts = {};
  for (const line of out.split('\n')) {
    for (const part of line.includes(' uid=') || line.startsWith('uid=') ? line.split(' ') : [line]) {
      const eq = part.indexOf('=');
      if (eq > 0) f[part.slice(0, eq)] = part.slice(eq + 1).trim();
    }
  }
  // Namespaces: which ones differ from the host's (the inode numbers themselves differ per run).
  const host = (n: string) => readlinkSync(`/proc/self/ns/${n}`);
  const fresh: string[] = [];
  for (const k of Object.keys(f).filter((k) => k.startsWith('ns.'))) {
    const n = k.slice(3);
    if (f[k] !== host(n)) fresh.push(n);
    delete f[k];
  }
  f.namespaces = fresh.sort().join(',');
  return f;
}

/** Spec text for a probe run; the bind of /sys/fs/cgroup lets the probe read its own limits. */
function specYaml(name: string, body: string): string {
  return [
    `name: ${name}`,
    body.trim(),
    'process:',
    `  args: [/bin/sh, -c, ${JSON.stringify(PROBE)}]`,
    '  env: {GREETING: hello}',
  ].join('\n') + '\n';
}
const PROBE_MOUNTS = (extra = '') => `mounts:
  - {type: tmpfs, target: /scratch, size: 8M}
  - {type: bind, source: ${'DATA'}, target: /data, readonly: true}
  - {type: bind, source: /sys/fs/cgroup, target: /hostcg, readonly: true}
${extra}`;

function writeSpec(name: string, body: string): string {
  const file = join(dir, `${name}.container.yaml`);
  writeFileSync(file, specYaml(name, body.replace('DATA', data)));
  return file;
}

const env = () => ({ ...process.env, NIWA_STATE_ROOT: state });

function assertClean(what: string): void {
  assert.deepEqual(projectCgroups().filter((p) => !p.endsWith(project)), [], `${what}: no container cgroup left behind`);
  assert.equal(readFileSync('/proc/self/mountinfo', 'utf8').includes(dir), false, `${what}: no mount left on the host`);
}

function viaNiwa(file: string, name: string): Facts {
  const r = niwa(['run', '--project', project, '--name', name, file], { env: env() });
  assert.equal(r.status, 0, `niwa run: ${r.stderr}`);
  assertClean('niwa run');
  return parseFacts(r.stdout);
}

function viaShell(file: string, name: string): { facts: Facts; script: string } {
  const p = niwa(['plan', '--shell', '--project', project, '--id', `${name}-sh`, file], { env: env() });
  assert.equal(p.status, 0, p.stderr);
  const script = join(dir, `${name}.sh`);
  writeFileSync(script, p.stdout);
  const r = spawnSync('bash', [script], { encoding: 'utf8', timeout: 60_000, stdio: ['ignore', 'pipe', 'pipe'] });
  assert.equal(r.status, 0, `shell script: ${r.stderr}`);
  assertClean('shell script');
  return { facts: parseFacts(r.stdout), script: p.stdout };
}

function viaRunc(file: string, name: string): Facts {
  const bundle = join(dir, `${name}-bundle`);
  const id = `${name}-oci-${process.pid}`;
  const p = niwa(['plan', '--oci-bundle', bundle, '--project', project, '--id', id, file], { env: env() });
  assert.equal(p.status, 0, p.stderr);
  try {
    const r = spawnSync('runc', ['--root', runcRoot, 'run', id], { cwd: bundle, encoding: 'utf8', timeout: 60_000, stdio: ['ignore', 'pipe', 'pipe'] });
    assert.equal(r.status, 0, `runc run: ${r.stderr}`);
    return parseFacts(r.stdout);
  } finally {
    spawnSync('runc', ['--root', runcRoot, 'delete', '-f', id]);
    removeProjectCgroups();
    assertClean('runc');
  }
}

/**
 * Known differences, each with its reason; everything else must be equal.
 *  - rootopts (runc only): the embedded default root is a tmpfs (nosuid,nodev) in niwa and in
 *    the shell script, but a directory on the host's file system (the bundle's rootfs) with runc,
 *    since an OCI root must be a path. The shell script's root options must equal niwa's.
 */
const INTENTIONAL: Record<'shell' | 'runc', string[]> = { shell: [], runc: ['rootopts'] };

function compare(name: string, niwaF: Facts, other: Facts, who: 'shell' | 'runc'): void {
  if (process.env.NIWA_EXPORT_DEBUG) process.stderr.write(JSON.stringify({ name, who, niwa: niwaF, other }, null, 1) + '\n');
  const a = { ...niwaF };
  const b = { ...other };
  for (const k of INTENTIONAL[who]) { delete a[k]; delete b[k]; }
  assert.deepEqual(b, a, `${name}: ${who} sees the same container as niwa run`);
}

// ------------------------------------------------------------------------------------------

const SPECS: Record<string, string> = {
  // probe.container.yaml's primitives: five namespaces, hostname, a dropped capability, memory
  // and pids limits, a tmpfs and a read-only bind; plus an rlimit, a cwd and the default seccomp.
  probe: `namespaces: [mount, uts, ipc, pid, net]
hostname: probe-box
cgroup: {memory: 32M, pids: 64}
capabilities: {drop: [CAP_NET_RAW]}
rlimits: {nofile: 256}
${PROBE_MOUNTS()}`,
  // A custom seccomp profile, a read-only root, fewer namespaces (the host's /sys bound read-only).
  seccomp: `namespaces: [mount, uts, pid]
hostname: filtered
cgroup: {memory: 16M}
rootfs: {readonly: true}
seccomp:
  default_action: allow
  syscalls:
    - {names: [mkdir, mkdirat], action: errno, errno: EACCES}
${PROBE_MOUNTS()}`,
  // A non-root user with an ambient capability, supplementary groups, no_new_privs off, and a
  // cgroup namespace (the container's cgroup is its /).
  user: `namespaces: [mount, uts, ipc, pid, net, cgroup]
hostname: nobody-box
no_new_privs: false
capabilities:
  sets:
    bounding: [CAP_NET_BIND_SERVICE, CAP_KILL]
    permitted: [CAP_NET_BIND_SERVICE]
    effective: [CAP_NET_BIND_SERVICE]
    inheritable: [CAP_NET_BIND_SERVICE]
    ambient: [CAP_NET_BIND_SERVICE]
${PROBE_MOUNTS()}`,
  // A user namespace: container root is host uid 100000.
  userns: `namespaces: [user, mount, uts, ipc, pid, net]
uid_map: [{container_id: 0, host_id: 100000, size: 65536}]
gid_map: [{container_id: 0, host_id: 100000, size: 65536}]
hostname: userns-box
cgroup: {pids: 32}
${PROBE_MOUNTS()}`,
};
const USER_PROCESS = { user: "  user: 65534\n  group: 65534\n  groups: [65534]\n  cwd: /tmp\n" };

function specFile(name: string): string {
  let body = SPECS[name];
  const file = writeSpec(name, body);
  if (name === 'user') writeFileSync(file, readFileSync(file, 'utf8') + USER_PROCESS.user);
  return file;
}

for (const name of Object.keys(SPECS)) {
  test(`${name}: niwa run, the --shell script and runc with the --oci bundle see the same container`, { skip }, async (t) => {
    const file = specFile(name);
    const n = viaNiwa(file, name);
    // Sanity: the probe really ran inside a container (so equal facts mean something).
    assert.equal(n.pid, '1');
    assert.ok(n.namespaces.includes('mnt') && n.namespaces.includes('pid'), n.namespaces);
    assert.equal(n['data.read'], 'yes');
    assert.equal(n['data.write'], 'no');
    assert.equal(n['scratch.write'], 'yes');
    if (name === 'probe') {
      assert.equal(n.hostname, 'probe-box');
      assert.equal(n.namespaces, 'ipc,mnt,net,pid,uts');
      assert.equal(n.memory, String(32 * 1024 * 1024));
      assert.equal(n.pids, '64');
      assert.equal(n.nofile, '256');
      assert.equal(n.Seccomp, '2');
      assert.equal(BigInt('0x' + n.CapEff) & (1n << 13n), 0n, 'CAP_NET_RAW dropped');
    }
    if (name === 'seccomp') {
      assert.equal(n.mkdir, 'denied');
      assert.equal(n.memory, String(16 * 1024 * 1024));
      assert.equal(n.namespaces, 'mnt,pid,uts');
      assert.match(n.rootopts, /^ro,/);
    }
    if (name === 'user') {
      assert.equal(n.uid, '65534');
      assert.equal(n.CapAmb, '0000000000000400');
      assert.equal(n.CapEff, '0000000000000400');
      assert.equal(n.NoNewPrivs, '0');
      assert.equal(n.cwd, '/tmp');
      assert.equal(n.namespaces, 'cgroup,ipc,mnt,net,pid,uts');
      assert.equal(n.memory, '9223372036854771712', 'in a cgroup namespace the probe reads the hierarchy root');
    }
    if (name === 'userns') {
      assert.equal(n.namespaces, 'ipc,mnt,net,pid,user,uts');
      assert.equal(n.uid, '0');
      assert.equal(n.pids, '32');
    }
    await t.test('shell', { skip: skipShell }, () => {
      const { facts } = viaShell(file, name);
      assert.equal(facts.rootopts, n.rootopts, 'the shell script mounts the same kind of root');
      compare(name, n, facts, 'shell');
    });
    await t.test('runc', { skip: skipRunc }, () => {
      const facts = viaRunc(file, name);
      compare(name, n, facts, 'runc');
    });
  });
}

test('the --shell script is commented with every step\'s why, and cleans up after a failure', { skip: skipShell }, () => {
  const file = writeSpec('failing', `namespaces: [mount, uts, pid, net]\ncgroup: {pids: 16}\nsysctls: {net.ipv4.no_such_setting: 1}\n${PROBE_MOUNTS()}`);
  const p = niwa(['plan', '--shell', '--project', project, '--id', 'failing-sh', file], { env: env() });
  assert.equal(p.status, 0, p.stderr);
  for (const why of ['make every mount private first', 'swap the root mount', 'Caps the number of processes']) assert.ok(p.stdout.includes(why), why);
  const script = join(dir, 'failing.sh');
  writeFileSync(script, p.stdout);
  const r = spawnSync('bash', [script], { encoding: 'utf8', timeout: 60_000, stdio: ['ignore', 'pipe', 'pipe'] });
  assert.notEqual(r.status, 0, 'the sysctl fails, so the script fails');
  assert.doesNotMatch(r.stdout, /hostname=/, 'the probe never ran');
  assertClean('failed shell script');
  assert.deepEqual(projectCgroups(), [], 'the trap removed the cgroup');
});
