// Real-kernel cgroup tests (root): the plan's cgroup steps + the manager on this host's layout (v2, v1 or hybrid).
// Plain child processes (sh/perl) are placed before they proceed; every cgroup is removed afterwards.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync, existsSync, readdirSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { CanonicalSpec } from '../../src/spec/types.js';
import type { CgroupLayout } from '../../src/plan/types.js';
import { needsRoot } from '../helpers.js';
import { detectCgroupLayout } from '../../src/runtime/cgroup/detect.js';
import { cgroupSteps, controllerOwner } from '../../src/plan/steps/cgroup.js';
import { createCgroupManager } from '../../src/runtime/cgroup/manager.js';
import type { CgroupManager } from '../../src/runtime/cgroup/types.js';
import { nodeCgroupFs, removeCgroup } from '../../src/runtime/cgroup/remove.js';
import { v1Freeze } from '../../src/runtime/cgroup/v1.js';
import { dirFor } from '../../src/runtime/cgroup/stats.js';

const ROOT = '/sys/fs/cgroup';
const noRoot = needsRoot();
const layout: CgroupLayout | undefined = noRoot ? undefined : detectCgroupLayout();
const RUN = `niwa-test/${randomBytes(4).toString('hex')}`;
// The plan enables controllers in the v2 root's subtree_control; the tests put back what was there.
const rootSubtree = layout?.unified ? readFileSync(join(layout.unified, 'cgroup.subtree_control'), 'utf8').trim().split(/\s+/).filter(Boolean) : [];
const perl = existsSync('/usr/bin/perl') ? '/usr/bin/perl' : 'perl';
const spec = (cgroup: Partial<CanonicalSpec['cgroup']>): CanonicalSpec =>
  ({ name: 't', file: '<inline>', cgroup: { raw: {}, ...cgroup } }) as unknown as CanonicalSpec;
const missing = (...ctrls: string[]) => {
  if (noRoot) return noRoot;
  const gone = ctrls.filter((c) => !controllerOwner(layout!, c));
  return gone.length ? `this host has no ${gone.join(', ')} controller` : false;
};

interface Placed { child: ChildProcess; exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>; out: () => string }
interface Env { m: CgroupManager; cgroups: string[]; start(cmd: string): Promise<Placed>; warnings: string[] }

/** Create a cgroup for `cg` by running the plan's prepare steps, then hand out placed children; always cleans up. */
async function withCgroup(name: string, cg: Partial<CanonicalSpec['cgroup']>, body: (e: Env) => Promise<void>) {
  const rel = `${RUN}/${name}`;
  const plan = cgroupSteps(spec(cg), layout!, rel);
  const m = createCgroupManager(layout!, plan.cgroups, { relPath: rel });
  const children: ChildProcess[] = [];
  try {
    for (const s of plan.prepare) {
      if (s.op === 'mkdir') nodeCgroupFs.mkdirp(s.path);
      else if (s.op === 'write') m.apply([{ path: s.path, data: s.data, field: s.field }]);
    }
    await body({
      m, cgroups: plan.cgroups, warnings: plan.warnings,
      async start(cmd) {
        // The shell waits on stdin until it is in its cgroups, so no instruction of `cmd` runs unlimited.
        const child = spawn('/bin/sh', ['-c', `read x; exec ${cmd}`], { stdio: ['pipe', 'pipe', 'pipe'] });
        children.push(child);
        let out = '';
        child.stdout!.on('data', (d) => (out += d));
        child.stderr!.on('data', (d) => (out += d));
        const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.on('exit', (code, signal) => r({ code, signal })));
        m.place(child.pid!);
        child.stdin!.write('go\n');
        return { child, exited, out: () => out };
      },
    });
  } finally {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await m.remove();
  }
  for (const c of plan.cgroups) assert.equal(existsSync(c), false, `${c} removed`);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const status = (pid: number, key: string): string => readFileSync(`/proc/${pid}/status`, 'utf8').match(new RegExp(`^${key}:\\s*(.*)$`, 'm'))?.[1] ?? '';
const utime = (pid: number) => Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')[11]);

after(async () => {
  if (noRoot) return;
  // Prune our own top-level test cgroups if empty, then check nothing named niwa-test* is left anywhere.
  for (const mount of new Set([...Object.values(layout!.v1), ...(layout!.unified ? [layout!.unified] : [])])) {
    await removeCgroup(join(mount, RUN), { bestEffort: true });
    await removeCgroup(join(mount, 'niwa-test'), { bestEffort: true });
  }
  if (layout!.unified) {
    const f = join(layout!.unified, 'cgroup.subtree_control');
    const added = readFileSync(f, 'utf8').trim().split(/\s+/).filter((c) => c && !rootSubtree.includes(c));
    for (const c of added) { try { nodeCgroupFs.write(f, `-${c}`); } catch { /* another cgroup uses it now */ } }
  }
  const left = spawnSync('find', [ROOT, '-name', 'niwa-test*'], { encoding: 'utf8' }).stdout.trim();
  assert.equal(left, '', `cgroups left behind:\n${left}`);
});

test('layout detected', { skip: noRoot }, () => {
  console.log(`# cgroup layout: ${layout!.kind}; unified=${layout!.unified}; v2 controllers=[${layout!.v2Controllers}]; v1=[${Object.keys(layout!.v1)}]`);
  assert.ok(['v1', 'v2', 'hybrid'].includes(layout!.kind));
});

test('a process allocating past its memory limit is OOM-killed and oomKilled() says so', { skip: missing('memory'), timeout: 30000 }, async () => {
  await withCgroup('oom', { memory: 32 << 20, memorySwap: 32 << 20 }, async ({ m, start }) => {
    assert.equal(m.oomKilled(), false);
    const p = await start(`${perl} -e '$x = "x" x (200*1024*1024); print "survived\\n"'`);
    const r = await p.exited;
    const s = m.stats();
    console.log(`# oom: exit ${JSON.stringify(r)}, oomKills=${s.oomKills}, peak=${s.memory.peak}, limit=${s.memory.limit}`);
    assert.equal(r.signal, 'SIGKILL');
    assert.doesNotMatch(p.out(), /survived/);
    assert.equal(m.oomKilled(), true);
    assert.ok(s.oomKills >= 1);
    assert.equal(s.memory.limit, 32 << 20);
    if (s.memory.peak !== undefined) assert.ok(s.memory.peak <= (32 << 20) + (1 << 20) && s.memory.peak > 16 << 20, `peak ${s.memory.peak}`);
  });
});

test('a fork loop stops at the pids limit', { skip: missing('pids'), timeout: 30000 }, async () => {
  await withCgroup('pids', { pids: 20 }, async ({ m, start }) => {
    // At most 200 forks; each child sleeps 2 s and exits, so the loop ends by itself either way.
    const p = await start(`${perl} -e 'my $n = 0; for (1..200) { my $p = fork(); last unless defined $p; if (!$p) { sleep 2; exit 0 } $n++ } print "forked $n\\n"; 1 while wait() > 0'`);
    const r = await p.exited;
    const n = Number(/forked (\d+)/.exec(p.out())?.[1]);
    const ev = m.events();
    console.log(`# pids: ${p.out().trim()} (limit 20 incl. the parent), pids.events max=${ev.pidsMax}`);
    assert.equal(r.code, 0);
    assert.ok(n >= 10 && n <= 19, `forked ${n}`);
    assert.ok(ev.pidsMax >= 1);
    assert.equal(m.stats().pids.limit, 20);
  });
});

test('a cpu quota of 0.2 holds a busy loop near 20 %', { skip: missing('cpu'), timeout: 30000 }, async () => {
  await withCgroup('cpu', { cpus: 0.2 }, async ({ m, start }) => {
    await start(`${perl} -e '1 while 1'`);
    await sleep(300);
    const u0 = m.stats().cpu.usageNs, t0 = process.hrtime.bigint();
    await sleep(2000);
    const u1 = m.stats().cpu.usageNs, t1 = process.hrtime.bigint();
    assert.ok(u0 !== undefined && u1 !== undefined, 'cpu usage readable');
    const share = (u1! - u0!) / Number(t1 - t0);
    console.log(`# cpu: busy loop used ${(share * 100).toFixed(1)} % of one CPU over ${(Number(t1 - t0) / 1e9).toFixed(2)} s with cpus 0.2 (throttled periods ${m.stats().cpu.nrThrottled})`);
    assert.ok(share > 0.1 && share < 0.3, `share ${share}`);
  });
});

test('cpuset pins the process', { skip: missing('cpuset'), timeout: 30000 }, async () => {
  const cpus = readFileSync('/proc/self/status', 'utf8').match(/^Cpus_allowed_list:\s*(.*)$/m)![1];
  const last = cpus.split(/[,-]/).at(-1)!;
  await withCgroup('cpuset', { cpusetCpus: last }, async ({ start }) => {
    const p = await start('sleep 30');
    await sleep(100);
    const allowed = status(p.child.pid!, 'Cpus_allowed_list');
    console.log(`# cpuset: host ${cpus} → container Cpus_allowed_list ${allowed}`);
    assert.equal(allowed, last);
  });
});

test('v2 core files on the cgroup2 mount: freeze stops a busy loop, cgroup.kill kills it, hugetlb limit written', { skip: noRoot || (!layout?.unified && 'no cgroup2 mount'), timeout: 30000 }, async () => {
  const hug = layout!.v2Controllers.includes('hugetlb') && layout!.hugepageSizes?.includes('2MB') ? { '2MB': 4 << 20 } : undefined;
  await withCgroup('v2core', { hugetlb: hug }, async ({ m, cgroups, start }) => {
    const u = cgroups.find((c) => c.startsWith(layout!.unified + '/'))!;
    if (hug) assert.equal(readFileSync(join(u, 'hugetlb.2MB.max'), 'utf8').trim(), String(4 << 20));
    const p = await start(`${perl} -e '1 while 1'`);
    const pid = p.child.pid!;
    await sleep(200);
    await m.freeze();
    assert.match(readFileSync(join(u, 'cgroup.events'), 'utf8'), /^frozen 1$/m);
    const state = status(pid, 'State');
    const a = utime(pid); await sleep(400); const b = utime(pid);
    console.log(`# v2 freeze: State while frozen "${state}", utime ${a} → ${b} ticks`);
    assert.equal(b, a, 'no CPU time while frozen');
    assert.doesNotMatch(state, /^R/);
    await m.thaw();
    await sleep(300);
    assert.ok(utime(pid) > b, 'runs again after thaw');
    assert.ok(existsSync(join(u, 'cgroup.kill')), 'kernel has cgroup.kill');
    await m.kill();
    const r = await p.exited;
    assert.equal(r.signal, 'SIGKILL');
    assert.equal(m.events().populated, false);
  });
});

test('v1 freezer freezes, and remove() kills what is left before rmdir', { skip: missing('freezer') || (controllerOwner(layout!, 'freezer')?.version !== 'v1' ? 'freezer is not on v1 here' : false), timeout: 30000 }, async () => {
  let placed: Placed | undefined;
  await withCgroup('v1freeze', {}, async ({ cgroups, start }) => {
    const f = dirFor(cgroups, layout!, 'freezer')!.dir;
    placed = await start(`${perl} -e '1 while 1'`);
    const pid = placed.child.pid!;
    await sleep(200);
    await v1Freeze(nodeCgroupFs, f, true);
    const a = utime(pid); await sleep(400); const b = utime(pid);
    console.log(`# v1 freezer: freezer.state ${readFileSync(join(f, 'freezer.state'), 'utf8').trim()}, State "${status(pid, 'State')}", utime ${a} → ${b}`);
    assert.equal(b, a);
    await v1Freeze(nodeCgroupFs, f, false);
    // leave it running: withCgroup's m.remove() must kill it
    assert.ok(readdirSync(f).includes('cgroup.procs'));
  });
  assert.equal((await placed!.exited).signal, 'SIGKILL');
});

test('without cgroup.kill (v1 paths only): remove() freezes, SIGKILLs each pid and thaws', { skip: missing('freezer', 'memory') || (controllerOwner(layout!, 'freezer')?.version !== 'v1' ? 'freezer is not on v1 here' : false), timeout: 30000 }, async () => {
  const rel = `${RUN}/v1kill`;
  const plan = cgroupSteps(spec({}), layout!, rel);
  const v1Paths = plan.cgroups.filter((c) => !layout!.unified || !c.startsWith(layout!.unified + '/'));
  const m = createCgroupManager(layout!, v1Paths, { relPath: rel });
  m.create();
  const child = spawn('/bin/sh', ['-c', `read x; exec ${perl} -e 'fork() for 1..3; sleep 60'`], { stdio: ['pipe', 'ignore', 'ignore'] });
  try {
    m.place(child.pid!);
    child.stdin!.write('go\n');
    await sleep(300);
    const before = m.pids().length;
    await m.remove();
    console.log(`# v1 kill: ${before} processes killed via freezer + SIGKILL; cgroups removed`);
    assert.equal(before, 8, 'perl forked 3 times: 8 processes');
    for (const p of v1Paths) assert.equal(existsSync(p), false);
  } finally {
    child.kill('SIGKILL');
    await m.remove();
  }
});
