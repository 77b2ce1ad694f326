// Benchmark: the native stage as its own executable (startStage, what niwa uses) against the
// EXPERIMENTAL in-process launch through koffi (src/runtime/launch/inproc.ts, native/lib/), on the
// same compiled plan: new mount+uts+ipc+pid+net namespaces, the default tmpfs root with /usr bound
// read-only, pivot_root, niwa's default capabilities/seccomp, execve /bin/true; no cgroups.
// Reports, from one warm Node process, median and p95 of N launches (start → execve confirmed, and
// start → exit seen by Node), the event-loop delay while launching, Node's own CPU time and minor
// page faults per launch, RSS, and one run of each printing the container's hostname and pid.
// Usage (root): node scripts/build.mjs && node bench/inproc.mjs [N=200]
import { mkdtempSync, mkdirSync, writeFileSync, readFileSync, openSync, closeSync, rmSync, existsSync, chmodSync } from 'node:fs';
import { tmpdir, cpus, loadavg, release } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { monitorEventLoopDelay } from 'node:perf_hooks';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = (p) => join(root, 'dist', 'src', p);
if (!existsSync(dist('runtime/launch/inproc.js'))) { console.error('bench/inproc.mjs: run node scripts/build.mjs first'); process.exit(1); }
if (process.getuid() !== 0) { console.error('bench/inproc.mjs: needs root (namespaces, mounts)'); process.exit(2); }
const N = Number(process.argv[2] ?? 200);

const kB = () => Math.round(process.memoryUsage().rss / 1024);
const rss0 = kB();
const { loadSpec } = await import(dist('spec/load/index.js'));
const { compile } = await import(dist('plan/compile.js'));
const { probeHost } = await import(dist('validate/host.js'));
const { startStage } = await import(dist('runtime/launch/stage.js'));
const { launchInProcess, inProcessLibPath } = await import(dist('runtime/launch/inproc.js'));
if (!existsSync(inProcessLibPath())) { console.error(`bench/inproc.mjs: ${inProcessLibPath()} was not built`); process.exit(1); }

const dir = mkdtempSync(join(tmpdir(), 'niwa-inproc-bench-'));
chmodSync(dir, 0o755);
try {
  // The plan, compiled from a spec like any other, on this host but without a cgroup hierarchy
  // (no cgroup steps: both variants would do the same writes, and cleanup would need rmdirs).
  const host = { ...probeHost({ stateRoot: join(dir, 'state') }), cgroup: { kind: 'v1', v2Controllers: [], v1: {} } };
  const planFor = async (name, args) => {
    const file = join(dir, `${name}.container.yaml`);
    writeFileSync(file, `name: ${name}\nhostname: ${name}-box\nnamespaces: [mount, uts, ipc, pid, net]\nprocess:\n  args: ${JSON.stringify(args)}\n`);
    const plan = compile(await loadSpec(file), host, { id: name, project: 'bench' });
    // its only prepare step is the empty directory the tmpfs root is mounted on
    for (const s of plan.steps.filter((s) => s.phase === 'prepare')) {
      if (s.op !== 'mkdir') throw new Error(`unexpected prepare step ${s.op}`);
      mkdirSync(s.path, { recursive: true, mode: s.mode });
    }
    if (plan.steps.some((s) => s.phase === 'cleanup')) throw new Error('unexpected cleanup steps');
    return plan;
  };
  const plan = await planFor('bench', ['/bin/true']);

  const variants = {
    'executable (startStage)': async () => {
      const t0 = performance.now();
      const h = startStage(plan, { stdio: 'ignore' });
      await h.started;
      const exec = performance.now() - t0;
      const ex = await h.exited;
      if (ex.code !== 0) throw new Error(`executable: ${JSON.stringify(ex)}`);
      return { exec, exit: performance.now() - t0 };
    },
    'in-process, koffi async': async () => {
      const t0 = performance.now();
      const c = await launchInProcess(plan, { mode: 'async' });
      const exec = performance.now() - t0;
      const ex = await c.exited;
      if (ex.code !== 0) throw new Error(`in-process: ${JSON.stringify(ex)}`);
      return { exec, exit: performance.now() - t0 };
    },
    'in-process, koffi sync': async () => {
      const t0 = performance.now();
      const c = await launchInProcess(plan, { mode: 'sync' });
      const exec = performance.now() - t0;
      const ex = await c.exited;
      if (ex.code !== 0) throw new Error(`in-process: ${JSON.stringify(ex)}`);
      return { exec, exit: performance.now() - t0 };
    },
  };

  // Loading koffi and the library: what the in-process variant adds to Node once.
  const rssBeforeLib = kB();
  await variants['in-process, koffi async']();
  const rssAfterLib = kB();

  const q = (xs, p) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(p * s.length))]; };
  const ms = (x) => `${x.toFixed(2).padStart(6)} ms`;
  console.log(`niwa stage: executable vs in-process (koffi); ${N} launches each (interleaved rounds of 20, after 10 warm-up); ${plan.steps.length} plan steps`);
  console.log(`  node ${process.version}, Linux ${release()}, ${cpus().length} CPUs, load average ${loadavg()[0].toFixed(2)} (other work on the machine shows in p95)`);
  console.log(`  ${''.padEnd(26)}  start→execve  median     p95   start→exit  median     p95   loop delay max   Node CPU/launch  minflt/launch`);
  const rows = [];
  // Interleaved rounds (A B C, A B C, ...) so drift on the machine hits every variant alike.
  const res = Object.fromEntries(Object.keys(variants).map((k) => [k, { runs: [], cpu: 0, flt: 0, delay: 0 }]));
  for (const f of Object.values(variants)) for (let i = 0; i < 10; i++) await f();
  const rssBeforeRuns = kB();
  const ROUND = 20;
  for (let done = 0; done < N; done += ROUND) {
    for (const [name, f] of Object.entries(variants)) {
      const r = res[name];
      const h = monitorEventLoopDelay({ resolution: 1 });
      h.enable();
      const cpu0 = process.cpuUsage();
      const flt0 = process.resourceUsage().minorPageFault;
      for (let i = 0; i < Math.min(ROUND, N - done); i++) r.runs.push(await f());
      const cpu = process.cpuUsage(cpu0);
      r.cpu += (cpu.user + cpu.system) / 1000;
      r.flt += process.resourceUsage().minorPageFault - flt0;
      h.disable();
      r.delay = Math.max(r.delay, h.max / 1e6);
    }
  }
  for (const [name, r] of Object.entries(res)) {
    const e = r.runs.map((x) => x.exec);
    const x = r.runs.map((x) => x.exit);
    rows.push(name);
    console.log(`  ${name.padEnd(26)}  ${' '.repeat(12)}${ms(q(e, 0.5))} ${ms(q(e, 0.95))}  ${' '.repeat(10)}${ms(q(x, 0.5))} ${ms(q(x, 0.95))}   ${ms(r.delay)}        ${ms(r.cpu / r.runs.length)}      ${String(Math.round(r.flt / r.runs.length)).padStart(6)}`);
  }
  const rssAfterRuns = kB();

  // Memory: the executable leaves a shim process per running container; in-process, Node is the parent.
  const sleeper = await planFor('sleeper', ['/bin/sleep', '0.3']);
  const h = startStage(sleeper, { stdio: 'ignore' });
  await h.started;
  const shimRss = readFileSync(`/proc/${h.process.pid}/status`, 'utf8').match(/VmRSS:\s+(\d+) kB/)?.[1];
  await h.exited;
  console.log(`  RSS: Node at start ${rss0} kB; before loading koffi + the library ${rssBeforeLib} kB, after ${rssAfterLib} kB (+${rssAfterLib - rssBeforeLib} kB, once);`);
  console.log(`       Node before the ${3 * N} measured launches ${rssBeforeRuns} kB, after ${rssAfterRuns} kB;`);
  console.log(`       per running container: executable → one shim process of ${shimRss} kB RSS; in-process → no extra process (Node is the parent and reaper)`);

  // Correctness: one run of each, printed from inside the container.
  const idPlan = await planFor('ident', ['/bin/sh', '-c', 'echo "hostname=$(hostname) pid=$$ ppid=$PPID fds=$(ls /proc/self/fd | tr "\\n" " ")"']);
  {
    const h = startStage(idPlan, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    h.stdout.setEncoding('utf8').on('data', (d) => { out += d; });
    const ex = await h.exited;
    await new Promise((r) => (h.stdout.readableEnded ? r() : h.stdout.once('close', r)));
    console.log(`  from inside, executable:  ${out.trim()}  (exit ${ex.code})`);
  }
  {
    const file = join(dir, 'ident.out');
    const fd = openSync(file, 'w');
    const c = await launchInProcess(idPlan, { stdio: [-1, fd, 2] });
    closeSync(fd);
    const ex = await c.exited;
    console.log(`  from inside, in-process:  ${readFileSync(file, 'utf8').trim()}  (exit ${ex.code})`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
