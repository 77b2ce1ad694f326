// Benchmarks: median time to run /bin/true in a container, as ratios against /bin/true on the
// host, for `niwa run` (cold CLI), niwa's warm runtime, and — where installed — runc, crun and
// bwrap. Also the memory of the per-container shim. Run as root: `npm run bench`.
import { spawnSync, spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync, symlinkSync, readFileSync, chmodSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const N = Number(process.env.BENCH_N ?? 50);
const dir = mkdtempSync(join(tmpdir(), 'niwa-bench-'));
chmodSync(dir, 0o755);
const state = join(dir, 'state');
const env = { ...process.env, NIWA_STATE_ROOT: state };

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };
function timeCmd(cmd, args, opts = {}) {
  const xs = [];
  for (let i = 0; i < N; i++) {
    const t = process.hrtime.bigint();
    const r = spawnSync(cmd, args, { stdio: 'ignore', env, ...opts });
    const ms = Number(process.hrtime.bigint() - t) / 1e6;
    if (r.status !== 0) return { error: `exit ${r.status ?? r.signal}` };
    xs.push(ms);
  }
  return { ms: median(xs) };
}
const has = (c) => spawnSync('sh', ['-c', `command -v ${c}`], { stdio: 'ignore' }).status === 0;

const results = [];
const add = (name, r, note = '') => results.push({ name, ...r, note });

try {
  if (process.getuid() !== 0) { console.error('bench: needs root'); process.exit(2); }
  const spec = join(dir, 'true.container.yaml');
  writeFileSync(spec, 'name: bench\nprocess: {args: [/bin/true]}\n');

  add('host /bin/true', timeCmd('/bin/true', []));
  add('node -e 0 (Node start-up alone)', timeCmd(process.execPath, ['-e', '0']));
  add('niwa run (CLI, cold Node)', timeCmd(process.execPath, [join(root, 'bin', 'niwa.js'), 'run', spec]));
  add('niwa validate (CLI)', timeCmd(process.execPath, [join(root, 'bin', 'niwa.js'), 'validate', spec]));
  // A network of its own: the bridge's lease, a netns, a veth pair, addresses and a route (the `ip` steps of
  // one namespace run as one `ip -batch` process); -p also listens on a host port chosen by the kernel.
  add('niwa run --network bridge (CLI)', timeCmd(process.execPath, [join(root, 'bin', 'niwa.js'), 'run', '--network', 'bridge', spec]));
  add('niwa run -p 80 (CLI)', timeCmd(process.execPath, [join(root, 'bin', 'niwa.js'), 'run', '-p', '80', spec]));

  // Warm runtime: the same plan executed from a process that is already running (a supervisor).
  {
    const { loadSpec } = await import(join(root, 'dist/src/spec/load/index.js'));
    const { compile } = await import(join(root, 'dist/src/plan/compile.js'));
    const { probeHost } = await import(join(root, 'dist/src/validate/host.js'));
    const { runPlan } = await import(join(root, 'dist/src/runtime/launch/run.js'));
    const { realSys } = await import(join(root, 'dist/src/runtime/sys/real.js'));
    const s = await loadSpec(spec);
    const host = probeHost({ stateRoot: state });
    const xs = [];
    for (let i = 0; i < N; i++) {
      const plan = compile(s, host, { id: `b${i}`, project: 'bench' });
      const t = process.hrtime.bigint();
      await runPlan(plan, { sys: realSys, spec: s, stdio: 'ignore' });
      xs.push(Number(process.hrtime.bigint() - t) / 1e6);
    }
    add('niwa runtime (warm, in-process)', { ms: median(xs) }, 'same plan: cgroups, namespaces, tmpfs root, seccomp');

    // The same with a network of its own (--network bridge): lease, bridge, netns, veth, addresses, route,
    // hosts. The `ip` steps of one namespace run as one `ip -batch` process each.
    {
      const { loadSpecObject } = await import(join(root, 'dist/src/spec/load/index.js'));
      const { netFactsFor } = await import(join(root, 'dist/src/runtime/net/facts.js'));
      const ns = await loadSpecObject({ name: 'benchnet', process: { args: ['/bin/true'] }, network: { mode: 'bridge' } }, spec, {});
      const ys = [];
      for (let i = 0; i < N; i++) {
        const plan = compile(ns, host, { id: `n${i}`, project: 'bench', ...netFactsFor(ns, state) });
        const t = process.hrtime.bigint();
        await runPlan(plan, { sys: realSys, spec: ns, stdio: 'ignore' });
        ys.push(Number(process.hrtime.bigint() - t) / 1e6);
      }
      add('niwa runtime --network bridge (warm, in-process)', { ms: median(ys) }, 'the same plus its own bridge network (made and removed each run)');
    }

    // Memory of the shim that stays behind per container, vs a Node process.
    const plan = compile({ ...s, process: { ...s.process, args: ['/bin/sleep', '1'] } }, host, { id: 'mem', project: 'bench' });
    let rss = '';
    await runPlan(plan, {
      sys: realSys, spec: s, stdio: 'ignore',
      onStarted: (h) => { rss = readFileSync(`/proc/${h.process.pid}/status`, 'utf8').match(/VmRSS:\s+(\d+ kB)/)?.[1] ?? '?'; },
    });
    add('shim memory (stage RSS while running)', { text: rss }, `Node itself: ${Math.round(process.memoryUsage().rss / 1024)} kB`);
  }

  // An OCI bundle for runc/crun with the same shape: /usr read-only, merged-/usr symlinks.
  const bundle = join(dir, 'bundle');
  const rootfs = join(bundle, 'rootfs');
  mkdirSync(join(rootfs, 'usr'), { recursive: true });
  for (const d of ['proc', 'dev', 'tmp']) mkdirSync(join(rootfs, d));
  for (const l of ['bin', 'lib', 'lib64', 'sbin']) if (existsSync('/' + l)) symlinkSync(`usr/${l}`, join(rootfs, l));
  writeFileSync(join(bundle, 'config.json'), JSON.stringify({
    ociVersion: '1.0.2',
    process: { terminal: false, user: { uid: 0, gid: 0 }, args: ['/bin/true'], env: ['PATH=/usr/bin:/bin'], cwd: '/', noNewPrivileges: true },
    root: { path: 'rootfs', readonly: true },
    hostname: 'bench',
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc' },
      { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
      { destination: '/usr', type: 'bind', source: '/usr', options: ['rbind', 'ro'] },
    ],
    linux: { namespaces: ['pid', 'ipc', 'uts', 'mount', 'network'].map((type) => ({ type })), resources: { pids: { limit: 64 } } },
  }, null, 2));
  let n = 0;
  for (const rt of ['runc', 'crun']) {
    if (!has(rt)) { add(`${rt} run`, { error: 'not installed' }); continue; }
    const xs = [];
    let err;
    for (let i = 0; i < N && !err; i++) {
      const t = process.hrtime.bigint();
      const r = spawnSync(rt, ['run', '--bundle', bundle, `niwa-bench-${process.pid}-${n++}`], { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
      if (r.status !== 0) err = (r.stderr || `exit ${r.status}`).trim().split('\n').pop();
      xs.push(Number(process.hrtime.bigint() - t) / 1e6);
    }
    add(`${rt} run`, err ? { error: err } : { ms: median(xs) });
  }
  if (has('bwrap')) {
    add('bwrap --unshare-all', timeCmd('bwrap', ['--unshare-all', '--ro-bind', '/usr', '/usr', '--symlink', 'usr/bin', '/bin', '--symlink', 'usr/lib', '/lib', '--symlink', 'usr/lib64', '/lib64', '--proc', '/proc', '--dev', '/dev', '/bin/true']));
  } else add('bwrap --unshare-all', { error: 'not installed' });

  const base = results[0].ms;
  console.log(`niwa bench: median of ${N} runs each; NODE_EXTRA_CA_CERTS ${process.env.NODE_EXTRA_CA_CERTS ? 'is SET (adds ~47 ms to every Node start)' : 'not set'}`);
  const w = Math.max(...results.map((r) => r.name.length));
  for (const r of results) {
    const val = r.error ? `failed: ${r.error}` : r.text ? r.text : `${r.ms.toFixed(2)} ms   ×${(r.ms / base).toFixed(1)} host`;
    console.log(`  ${r.name.padEnd(w)}  ${val}${r.note ? `   (${r.note})` : ''}`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
