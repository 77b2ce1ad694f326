// "The plan is what runs": strace -f of a real `niwa run` compared with `niwa plan --json` of the
// same spec. Every namespace, mount, root switch and privilege syscall of the stage and the
// container comes from a plan step, in the plan's order, with the plan's arguments. With -p, every
// ip command (logged by wrappers on PATH) and the network namespace file are the plan's too.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { niwa, niwaBin, needsRoot, needsStage } from '../helpers.js';
import type { LaunchPlan, Step } from '../../src/plan/types.js';

const hasStrace = spawnSync('strace', ['-V']).status === 0;
const skip = needsRoot() || needsStage() || (hasStrace ? false : 'strace not installed');
const dir = skip ? '' : mkdtempSync(join(tmpdir(), 'niwa-strace-'));
after(() => { if (dir) rmSync(dir, { recursive: true, force: true }); });

interface Call { pid: number; name: string; args: string; ret: string }

/**
 * Calls of the stage and its descendants (the container). strace -ff writes one file per process,
 * so no call is split into "unfinished"/"resumed" halves by another process's; the stage's file
 * comes first, then each child's, in the order the stage created them.
 */
function stageCalls(prefix: string): Call[] {
  const dirOf = dirname(prefix);
  const base = basename(prefix);
  const files = new Map<number, Call[]>();
  for (const f of readdirSync(dirOf)) {
    const m = new RegExp(`^${base}\\.(\\d+)$`).exec(f);
    if (!m) continue;
    const pid = Number(m[1]);
    const calls: Call[] = [];
    for (const line of readFileSync(join(dirOf, f), 'utf8').split('\n')) {
      const c = /^(\w+)\((.*)\) += (.+)$/.exec(line);
      if (c) calls.push({ pid, name: c[1], args: c[2], ret: c[3] });
    }
    files.set(pid, calls);
  }
  const stage = [...files.entries()].find(([, cs]) => cs.some((c) => c.name === 'execve' && c.args.includes('niwa-stage')));
  assert.ok(stage, 'the stage was traced');
  const out: Call[] = [];
  const walk = (pid: number) => {
    for (const c of files.get(pid) ?? []) {
      out.push(c);
      if ((c.name === 'clone' || c.name === 'clone3') && /^\d+$/.test(c.ret)) walk(Number(c.ret));
    }
  };
  walk(stage![0]);
  return out;
}

const SPEC = `name: traced
namespaces: [mount, uts, ipc, pid, net, cgroup]
hostname: traced-box
cgroup: {pids: 32}
capabilities: {drop: [CAP_NET_RAW, CAP_MKNOD]}
rlimits: {nofile: 256}
mounts:
  - {type: tmpfs, target: /scratch, size: 1M}
process:
  args: [/bin/sh, -c, 'echo inside']
  cwd: /scratch
`;

test('strace of niwa run matches niwa plan: namespaces, mounts, root switch, privileges, execve', { skip, timeout: 60_000 }, () => {
  chmodSync(dir, 0o755);
  const spec = join(dir, 'traced.container.yaml');
  writeFileSync(spec, SPEC);
  const env = { ...process.env, NIWA_STATE_ROOT: join(dir, 'state') };
  const p = niwa(['plan', '--json', spec], { env });
  assert.equal(p.status, 0, p.stderr);
  const plan = JSON.parse(p.stdout) as LaunchPlan;
  const out = join(dir, 'trace');
  const r = spawnSync('strace', ['-ff', '-qq', '-s', '256', '-o', out, '-e',
    'trace=execve,clone,clone3,unshare,setns,mount,umount2,pivot_root,chroot,chdir,sethostname,setrlimit,prlimit64,prctl,setgroups,setresgid,setresuid,capset,seccomp',
    process.execPath, niwaBin, 'run', spec], { env, encoding: 'utf8', timeout: 50_000 });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^inside$/m);
  const calls = stageCalls(out);
  const child = plan.steps.filter((s) => s.phase === 'child');
  const of = <K extends Step['op']>(op: K) => child.filter((s) => s.op === op) as Extract<Step, { op: K }>[];

  // clone: exactly the plan's namespace flags (the cgroup namespace is unshared later, in the child)
  const clone = plan.steps.find((s) => s.op === 'clone') as Extract<Step, { op: 'clone' }>;
  const cl = calls.find((c) => c.name === 'clone3' || (c.name === 'clone' && c.args.includes('CLONE_NEW')));
  assert.ok(cl, 'the stage cloned the container');
  const flags = new Set(cl!.args.match(/CLONE_NEW\w+/g));
  assert.deepEqual([...flags].sort(), [...clone.flags].sort());
  const uns = calls.filter((c) => c.name === 'unshare').map((c) => c.args);
  assert.deepEqual(uns, of('unshare').map((s) => s.flags.join('|')));

  // mounts before the root switch: one call per plan mount step, same source / type / flags, same order
  const pivotAt = calls.findIndex((c) => c.name === 'pivot_root');
  assert.ok(pivotAt > 0);
  assert.equal(calls[pivotAt].args, '".", "."');
  assert.deepEqual(calls[pivotAt + 1] && [calls[pivotAt + 1].name, calls[pivotAt + 1].args], ['umount2', '".", MNT_DETACH']);
  const q = (s: string | null) => (s === null ? 'NULL' : JSON.stringify(s));
  const planned = child.slice(0, child.findIndex((s) => s.op === 'pivot_root')).filter((s): s is Extract<Step, { op: 'mount' }> => s.op === 'mount');
  const traced = calls.slice(0, pivotAt).filter((c) => c.name === 'mount');
  assert.equal(traced.length, planned.length, 'one mount(2) per planned mount step');
  planned.forEach((s, i) => {
    const [src, , fstype, fl] = traced[i].args.split(', ');
    assert.equal(src, q(s.source), `mount ${i}: source`);
    assert.equal(fstype, q(s.fstype), `mount ${i}: type`);
    // keepLocked steps may add the flags the mount already had (e.g. MS_RELATIME), never drop one
    for (const f of s.flags) assert.ok(fl.includes(f), `mount ${i} (${s.target}): ${f} in ${fl}`);
  });
  // after the switch: only masked / read-only paths are mounted on
  const allowed = new Set([...plan.steps.filter((s) => s.op === 'mask' || s.op === 'readonly').map((s) => (s as { path: string }).path)]);
  for (const c of calls.slice(pivotAt + 2).filter((x) => x.name === 'mount')) {
    const target = JSON.parse(c.args.split(', ')[1]);
    assert.ok(allowed.has(target), `unplanned mount on ${target}`);
  }

  // identity and privileges, in plan order
  const seq = (names: string[]) => calls.filter((c) => names.includes(c.name) && !(c.name === 'execve' && c.args.includes('niwa-stage'))).map((c) => c.name);
  assert.deepEqual(calls.filter((c) => c.name === 'sethostname').map((c) => c.args), [`"traced-box", 10`]);
  const dropped = calls.filter((c) => c.name === 'prctl' && c.args.startsWith('PR_CAPBSET_DROP')).map((c) => c.args.split(', ')[1]);
  assert.deepEqual(dropped, of('capbset_drop')[0].caps);
  assert.ok(!dropped.includes('CAP_CHOWN') && dropped.includes('CAP_NET_RAW') && dropped.includes('CAP_MKNOD'));
  assert.ok(calls.some((c) => c.name === 'prlimit64' && c.args.includes('RLIMIT_NOFILE, {rlim_cur=256, rlim_max=256}')) ||
    calls.some((c) => c.name === 'setrlimit' && c.args.includes('RLIMIT_NOFILE, {rlim_cur=256, rlim_max=256}')), 'the rlimit');
  const seccomp = calls.find((c) => c.name === 'seccomp');
  assert.match(seccomp!.args, new RegExp(`len=${of('seccomp')[0].filter.length}\\b`), 'the planned BPF program');
  const order = seq(['setgroups', 'setresgid', 'setresuid', 'capset', 'seccomp', 'execve']);
  const expected = child.map((s) => s.op).filter((o) => ['setgroups', 'setresgid', 'setresuid', 'capset', 'seccomp', 'execve'].includes(o));
  assert.deepEqual(order, expected, 'privilege drop in the plan\'s order');
  assert.ok(calls.some((c) => c.name === 'chdir' && c.args === '"/scratch"'), 'cwd');
  const exec = calls.filter((c) => c.name === 'execve').at(-1)!;
  assert.match(exec.args, /^"\/bin\/sh", \["\/bin\/sh", "-c", "echo inside"\]/);
  // nothing the plan does not have: no setns (no joins planned), one pivot_root, no chroot
  assert.equal(calls.filter((c) => c.name === 'setns').length, plan.steps.filter((s) => s.op === 'setns').length);
  assert.equal(calls.filter((c) => c.name === 'chroot').length, 0);
  assert.equal(calls.filter((c) => c.name === 'pivot_root').length, 1);
});

const tool = (t: string) => ['/usr/sbin', '/sbin', '/usr/bin', '/bin'].map((d) => join(d, t)).find((p) => existsSync(p));

test('niwa plan -p is what niwa run -p does: every ip command in the plan\'s order, the namespace file, the join', { skip: skip || (tool('ip') && tool('nsenter') ? false : 'ip / nsenter not found'), timeout: 60_000 }, () => {
  chmodSync(dir, 0o755);
  const bin = join(dir, 'bin');
  const log = join(dir, 'ip.log');
  mkdirSync(bin, { recursive: true });
  // wrappers: nsenter passes the namespace it enters to ip through the environment; ip logs each batch line
  writeFileSync(join(bin, 'nsenter'), `#!/bin/sh\nNIWA_TEST_NETNS="\${1#--net=}" exec ${tool('nsenter')} "$@"\n`, { mode: 0o755 });
  writeFileSync(join(bin, 'ip'), `#!/bin/sh\nif [ "$1" = "-batch" ] || [ "$2" = "-batch" ]; then\n  in=$(cat)\n  printf '%s\\n' "$in" | sed "s|^|$NIWA_TEST_NETNS\\t|" >> ${log}\n  printf '%s\\n' "$in" | exec ${tool('ip')} "$@"\nfi\nexec ${tool('ip')} "$@"\n`, { mode: 0o755 });
  const env = { ...process.env, PATH: `${bin}:${process.env.PATH ?? ''}`, NIWA_STATE_ROOT: join(dir, 'state-net') };
  const args = ['--name', 'traced-net', '-p', '127.0.0.1:0:8000', '--', '/bin/sh', '-c', 'cat /sys/class/net/eth0/operstate'];
  const p = niwa(['plan', '--json', ...args], { env });
  assert.equal(p.status, 0, p.stderr);
  const plan = JSON.parse(p.stdout) as LaunchPlan;
  const out = join(dir, 'trace-net');
  const r = spawnSync('strace', ['-f', '-qq', '-s', '256', '-o', out, '-e', 'trace=mount,setns', process.execPath, niwaBin, 'run', ...args], { env, encoding: 'utf8', timeout: 50_000 });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, 'up\n');
  // every ip command of the plan (and the bridge its release removes, the last one out), in order
  const planned = plan.steps.flatMap((s) => (s.op === 'ip' ? [`${s.netns ?? ''}\t${s.args.join(' ')}`] : s.op === 'release' && s.bridge ? [`\tlink del ${s.bridge}`] : []));
  const ran = readFileSync(log, 'utf8').split('\n').filter(Boolean);
  // (the subnet is the first free one at each moment: another test's bridge may take one in between)
  const subnet = (l: string) => l.replace(/\b10\.89\.\d+\./g, '10.89.N.');
  assert.deepEqual(ran.map(subnet), planned.map(subnet), 'the same ip commands, in the same order');
  assert.ok(planned.some((l) => l.includes('type veth')) && planned.some((l) => l.includes('route add default')));
  // the namespace file: one nsfs bind mount, at the planned path, and the stage joins it
  const netns = plan.steps.find((s) => s.op === 'netns' && s.action === 'add') as Extract<Step, { op: 'netns' }>;
  const calls = readFileSync(out, 'utf8').split('\n');
  const nsMounts = calls.filter((l) => /mount\("\/proc\/(self|\d+)\/ns\/net", /.test(l)).map((l) => JSON.parse(/mount\([^,]+, ("[^"]+")/.exec(l)![1]) as string);
  assert.deepEqual(nsMounts, [netns.path]);
  // one join per run of consecutive ip steps inside it (one nsenter + `ip -batch` each), and the stage's own (the plan's setns step)
  const joins = calls.filter((l) => /setns\(\d+(<[^>]*>)?, CLONE_NEWNET\)\s+= 0/.test(l));
  const batches = plan.steps.filter((s, i) => s.op === 'ip' && s.netns && !(plan.steps[i - 1]?.op === 'ip' && (plan.steps[i - 1] as Extract<Step, { op: 'ip' }>).netns === s.netns)).length;
  assert.ok(batches >= 1 && batches < plan.steps.filter((s) => s.op === 'ip' && s.netns).length, 'the ip steps inside the namespace run as one batch');
  assert.equal(joins.length, batches + plan.steps.filter((s) => s.op === 'setns').length);
  assert.equal(plan.steps.filter((s) => s.op === 'setns' && s.path === netns.path).length, 1);
  assert.ok(!existsSync(netns.path), 'the namespace file is gone after the run');
});
