// Benchmark: rebuilding an image. One Dockerfile and context (FROM a small base served by a loopback
// registry, a RUN, a COPY of a directory of 200 files, a RUN that reads them, metadata) built by
// `niwa build` and `podman build` (when installed; temporary --root, its own layer cache) in turn in
// the same run: first the cold build once each, then BENCH_N times each an unchanged rebuild (every
// step from the cache) and a one-file-changed rebuild (the COPY and the RUN after it run again).
// Medians and ratios, written to bench/RESULTS.md in place of the previous build section.
// Run as root after a build: `node bench/build.mjs` (BENCH_N runs each, default 7).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const N = Number(process.env.BENCH_N ?? 7);
const has = (c) => spawnSync('sh', ['-c', `command -v ${c}`], { stdio: 'ignore' }).status === 0;
if (process.getuid() !== 0) { console.error('bench: needs root'); process.exit(2); }
for (const c of ['docker-registry', 'skopeo']) if (!has(c)) { console.error(`bench: ${c} is not installed`); process.exit(2); }
const podman = has('podman');

const { startRegistry } = await import(join(root, 'dist/test/registry.js'));
const { writeOciLayout, shellImageEntries, hostFiles } = await import(join(root, 'dist/test/image-fixtures.js'));

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };
const dir = mkdtempSync(join(tmpdir(), 'niwa-bench-build-'));
const reg = await startRegistry();
try {
  // one entry per path (podman refuses a layer that names a path twice)
  const entries = [...new Map([...shellImageEntries(), ...hostFiles(['/bin/mkdir'])].map((e) => [e.name, e])).values()];
  const base = await writeOciLayout(join(dir, 'base'), { layers: [entries], compression: 'gzip', tag: '1' });
  reg.push(base.dir, '1', 'bench/base:1');
  const ctx = join(dir, 'ctx');
  mkdirSync(join(ctx, 'src'), { recursive: true });
  for (let i = 0; i < 200; i++) writeFileSync(join(ctx, 'src', `f${i}.txt`), `file ${i}\n`.repeat(50));
  writeFileSync(join(ctx, 'Dockerfile'), [
    `FROM ${reg.host}/bench/base:1`,
    'ENV APP=/app',
    'RUN mkdir -p /app && echo prepared > /app/prepared',
    'COPY src/ /app/src/',
    'RUN cat /app/src/*.txt > /app/all.txt',
    'WORKDIR /app',
    'CMD ["/bin/cat", "/app/all.txt"]',
  ].join('\n') + '\n');
  const data = join(dir, 'niwa-data');
  const proot = join(dir, 'podman-root');
  const prun = join(dir, 'podman-run');
  const tools = {
    niwa: () => ['node', [join(root, 'bin/niwa.js'), 'build', '-q', '-t', 'bench/app:1', ctx], { ...process.env, NIWA_DATA_ROOT: data, NIWA_STATE_ROOT: join(dir, 'niwa-state') }],
    podman: () => ['podman', ['--root', proot, '--runroot', prun, '--storage-driver', 'overlay', 'build', '-q', '--tls-verify=false', '--network', 'host', '-t', 'bench/app:1', ctx], process.env],
  };
  const names = podman ? ['niwa', 'podman'] : ['niwa'];
  const time = (name) => {
    const [cmd, args, env] = tools[name]();
    const t0 = performance.now();
    const r = spawnSync(cmd, args, { env, encoding: 'utf8', timeout: 300_000 });
    const ms = performance.now() - t0;
    if (r.status !== 0) throw new Error(`${name} build failed (${r.status}): ${r.stderr}`);
    return ms;
  };
  const cold = Object.fromEntries(names.map((n) => [n, time(n)]));
  const unchanged = Object.fromEntries(names.map((n) => [n, []]));
  const changed = Object.fromEntries(names.map((n) => [n, []]));
  for (let i = 0; i < N; i++) {
    for (const n of names) unchanged[n].push(time(n));
    writeFileSync(join(ctx, 'src', 'f7.txt'), `changed ${i}\n`); // both tools see the same change in turn
    for (const n of names) changed[n].push(time(n));
  }
  // the result runs and is what the Dockerfile says
  const spec = join(dir, 'app.container.yaml');
  writeFileSync(spec, 'name: app\nnamespaces: [mount, pid, uts, ipc, net]\nrootfs: {image: bench/app:1, pull: never}\n');
  const check = spawnSync('node', [join(root, 'bin/niwa.js'), 'run', spec], { env: { ...process.env, NIWA_DATA_ROOT: data, NIWA_STATE_ROOT: join(dir, 'niwa-state') }, encoding: 'utf8' });
  if (check.status !== 0 || !check.stdout.includes(`changed ${N - 1}`)) throw new Error(`the built image does not hold the last change: ${check.stderr}`);

  const ms = (x) => `${Math.round(x)} ms`;
  const row = (what, m) => `| ${what} | ${ms(median(m.niwa))} | ${podman ? ms(median(m.podman)) : 'n/a'} | ${podman ? (median(m.niwa) / median(m.podman)).toFixed(2) : 'n/a'} |`;
  const when = new Date().toISOString().slice(0, 16).replace('T', ' ');
  const section = [
    '## Build (bench/build.mjs)',
    '',
    `${when} UTC, ${cpus().length} cores, load ${loadavg()[0].toFixed(1)}, medians of ${N} runs each (in turn, same machine, same context); NODE_EXTRA_CA_CERTS ${process.env.NODE_EXTRA_CA_CERTS ? 'set' : 'unset'}.`,
    `Dockerfile: FROM a ${Math.round(base.images[0].layers[0].size / 1e6 * 10) / 10} MB base from a loopback registry, ENV, RUN, COPY of 200 files, RUN reading them, WORKDIR, CMD.`,
    `podman ${podman ? spawnSync('podman', ['--version'], { encoding: 'utf8' }).stdout.trim().replace(/^podman version /, '') : 'not installed'} with a temporary --root (overlay), --network host (niwa's RUN uses the host's network too).`,
    '',
    '| rebuild | niwa build | podman build | niwa ÷ podman |',
    '| --- | ---: | ---: | ---: |',
    `| cold (once; base pulled, every step run) | ${ms(cold.niwa)} | ${podman ? ms(cold.podman) : 'n/a'} | ${podman ? (cold.niwa / cold.podman).toFixed(2) : 'n/a'} |`,
    row('unchanged (every step cached)', unchanged),
    row('one file changed (COPY + the RUN after it)', changed),
    '',
  ].join('\n');
  const file = join(root, 'bench/RESULTS.md');
  const old = existsSync(file) ? readFileSync(file, 'utf8') : '# Benchmarks\n';
  const rest = old.replace(/\n## Build \(bench\/build\.mjs\)\n[\s\S]*?(?=\n## |$)/, '\n');
  writeFileSync(file, rest.trimEnd() + '\n\n' + section);
  console.log(section);
} finally {
  await reg.stop();
  if (podman) spawnSync('podman', ['--root', join(dir, 'podman-root'), '--runroot', join(dir, 'podman-run'), 'system', 'reset', '-f'], { stdio: 'ignore' });
  spawnSync('umount', ['-R', join(dir, 'podman-root', 'overlay')], { stdio: 'ignore' });
  rmSync(dir, { recursive: true, force: true });
}
