// Benchmark: pulling a multi-layer image (~30 MB of gzip layers) from a loopback registry.
// `niwa pull` (download + verify + unpack into the store, cold CLI) against `skopeo copy` to a dir:
// (download only) and `podman pull` (download + unpack into overlay storage, temp --root), in turn
// in the same run, each into a fresh empty store; medians and ratios; then a second `niwa pull` of the
// image already present against `node -e 0` (start-up cost); written to bench/RESULTS.md in place of
// the previous pull section.
// Run as root after a build: `node bench/pull.mjs` (BENCH_N runs each, default 7).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const N = Number(process.env.BENCH_N ?? 7);
const has = (c) => spawnSync('sh', ['-c', `command -v ${c}`], { stdio: 'ignore' }).status === 0;
if (process.getuid() !== 0) { console.error('bench: needs root'); process.exit(2); }
for (const c of ['docker-registry', 'skopeo']) if (!has(c)) { console.error(`bench: ${c} is not installed`); process.exit(2); }

const { startRegistry } = await import(join(root, 'dist/test/registry.js'));
const { writeOciLayout, shellImageEntries } = await import(join(root, 'dist/test/image-fixtures.js'));

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };
const dir = mkdtempSync(join(tmpdir(), 'niwa-bench-pull-'));
const reg = await startRegistry();
try {
  // Text-like layers (base64 of random bytes: gzip gets them to ~75 %), plus a small shell layer.
  const text = (mb) => randomBytes(Math.round(mb * 0.75 * 1e6)).toString('base64');
  const layers = [
    shellImageEntries(),
    [{ name: 'data/', type: 'dir' }, { name: 'data/a.txt', content: text(10) }, { name: 'data/b.txt', content: text(3) }],
    [{ name: 'opt/', type: 'dir' }, ...Array.from({ length: 200 }, (_, i) => ({ name: `opt/f${i}.txt`, content: text(0.05) }))],
    [{ name: 'srv/', type: 'dir' }, { name: 'srv/c.txt', content: text(12) }],
  ];
  const lay = await writeOciLayout(join(dir, 'layout'), { layers, compression: 'gzip' });
  reg.push(lay.dir, 'latest', 'bench/img:1');
  const ref = `${reg.host}/bench/img:1`;
  const compressed = lay.images[0].layers.reduce((s, l) => s + l.size, 0);

  const tools = [
    {
      name: 'niwa pull (CLI: download, verify, unpack)',
      run(t) { return spawnSync(process.execPath, [join(root, 'bin', 'niwa.js'), 'pull', '-q', ref], { stdio: 'ignore', env: { ...process.env, NIWA_DATA_ROOT: join(t, 'data') } }); },
    },
    {
      name: 'skopeo copy to dir: (download only)',
      run(t) { return spawnSync('skopeo', ['copy', '-q', '--src-tls-verify=false', `docker://${ref}`, `dir:${join(t, 'dir')}`], { stdio: 'ignore' }); },
    },
  ];
  if (has('podman')) {
    const podArgs = (t) => ['--root', join(t, 'root'), '--runroot', join(t, 'run'), '--storage-driver', 'overlay', '--events-backend', 'file', '--cgroup-manager', 'cgroupfs'];
    tools.push({
      name: 'podman pull (download, unpack to overlay storage)',
      run(t) { return spawnSync('podman', [...podArgs(t), 'pull', '-q', '--tls-verify=false', ref], { stdio: 'ignore' }); },
      clean(t) { spawnSync('podman', [...podArgs(t), 'system', 'reset', '-f'], { stdio: 'ignore' }); },
    });
  }
  const times = tools.map(() => []);
  // In turn, so that the machine's state drifts alike for every tool.
  for (let i = 0; i < N; i++) {
    tools.forEach((tool, k) => {
      const t = mkdtempSync(join(dir, 'run-'));
      spawnSync('sync');
      const t0 = process.hrtime.bigint();
      const r = tool.run(t);
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      tool.clean?.(t);
      rmSync(t, { recursive: true, force: true });
      if (r.status !== 0) throw new Error(`${tool.name} failed (exit ${r.status ?? r.signal})`);
      times[k].push(ms);
    });
  }
  const niwa = median(times[0]);
  const rows = tools.map((tool, k) => ({ name: tool.name, ms: median(times[k]), ratio: median(times[k]) / niwa }));

  // A second pull of an image already present (what `niwa pull` costs when nothing changed: one
  // manifest request), against starting Node itself; in turn, like the tools above.
  const present = mkdtempSync(join(dir, 'present-'));
  const niwaPull = () => spawnSync(process.execPath, [join(root, 'bin', 'niwa.js'), 'pull', '-q', ref], { stdio: 'ignore', env: { ...process.env, NIWA_DATA_ROOT: join(present, 'data') } });
  if (niwaPull().status !== 0) throw new Error('niwa pull (first, for the second-pull row) failed');
  const timed = (f) => { const t0 = process.hrtime.bigint(); const r = f(); const ms = Number(process.hrtime.bigint() - t0) / 1e6; if (r.status !== 0) throw new Error(`exit ${r.status ?? r.signal}`); return ms; };
  const again = [];
  const nodeTimes = [];
  for (let i = 0; i < Math.max(N, 5); i++) {
    again.push(timed(niwaPull));
    nodeTimes.push(timed(() => spawnSync(process.execPath, ['-e', '0'])));
  }
  const nodeStart = median(nodeTimes);
  const second = median(again);
  const md = [
    '',
    `## Pull from a loopback registry (${new Date().toISOString().slice(0, 10)}, bench/pull.mjs)`,
    '',
    `${lay.images[0].layers.length} gzip layers, ${(compressed / 1e6).toFixed(1)} MB compressed; docker-registry 2.8 on 127.0.0.1; each run into an empty store;`,
    `median of ${N} runs per tool, tools in turn; ${cpus().length} CPUs; node -e 0 takes ${nodeStart.toFixed(0)} ms here${process.env.NODE_EXTRA_CA_CERTS ? ' (NODE_EXTRA_CA_CERTS set)' : ''}.`,
    '',
    '| tool | median | vs niwa |',
    '| --- | ---: | ---: |',
    ...rows.map((r) => `| ${r.name} | ${r.ms.toFixed(0)} ms | ${r.ratio.toFixed(2)}× |`),
    '',
    `Second pull of the image, already present (\`niwa pull\`, policy always: one manifest request, nothing written), against \`node -e 0\`; median of ${again.length}, in turn:`,
    '',
    '| command | median | vs node -e 0 |',
    '| --- | ---: | ---: |',
    `| niwa pull (image present) | ${second.toFixed(0)} ms | ${(second / nodeStart).toFixed(2)}× (+${(second - nodeStart).toFixed(0)} ms) |`,
    `| node -e 0 | ${nodeStart.toFixed(0)} ms | 1.00× |`,
    '',
  ].join('\n');
  process.stdout.write(md + '\n');
  // This section replaces the previous run's (up to the next `## ` heading); the other sections stay.
  const file = join(root, 'bench', 'RESULTS.md');
  const old = existsSync(file) ? readFileSync(file, 'utf8') : '# Benchmark results\n';
  const kept = old.replace(/\n## Pull from a loopback registry[\s\S]*?(?=\n## |$)/g, '').replace(/\n*$/, '\n');
  writeFileSync(file, kept + md);
} finally {
  await reg.stop();
  rmSync(dir, { recursive: true, force: true });
}
