// Benchmark: starting a container from an image against starting it from a directory root, in the
// same run. The same files (a shell image of three layers) as: the image (overlay of its layers +
// a private upper dir, created and removed per run), the copy snapshotter (layers copied per run),
// and a directory rootfs holding the merged files. Warm runtime (a plan run from a live process, as
// the supervisor does) and cold CLI (`niwa run`). Medians, ratios to the directory root; appended
// to bench/RESULTS.md. Run as root after a build: `node bench/image-start.mjs` (BENCH_N, default 30).
import { spawnSync } from 'node:child_process';
import { appendFileSync, chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, cpus } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const N = Number(process.env.BENCH_N ?? 30);
if (process.getuid() !== 0) { console.error('bench: needs root'); process.exit(2); }
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };

const dir = mkdtempSync(join(tmpdir(), 'niwa-bench-img-'));
chmodSync(dir, 0o711);
const data = join(dir, 'data');
const state = join(dir, 'state');
process.env.NIWA_DATA_ROOT = data;
process.env.NIWA_STATE_ROOT = state;
const niwa = (args, env = {}) => spawnSync(process.execPath, [join(root, 'bin', 'niwa.js'), ...args], { encoding: 'utf8', env: { ...process.env, ...env } });

try {
  const { writeOciLayout, shellImageEntries } = await import(join(root, 'dist/test/image-fixtures.js'));
  const layers = [shellImageEntries(), [{ name: 'srv/', type: 'dir' }, { name: 'srv/a', content: 'a\n' }], [{ name: 'opt/', type: 'dir' }, { name: 'opt/b', content: 'b\n' }]];
  await writeOciLayout(join(dir, 'layout'), { layers, tag: '1' });
  const imp = niwa(['image', 'import', join(dir, 'layout'), 'bench/start:1']);
  if (imp.status !== 0) throw new Error(imp.stderr);
  // the same files as a directory root: the merged view of the layers
  const merged = join(dir, 'rootfs');
  const { openStore } = await import(join(root, 'dist/src/image/store.js'));
  const { copyLayers } = await import(join(root, 'dist/src/runtime/rootfs/copy.js'));
  const { realSys, prepareNative } = await import(join(root, 'dist/src/runtime/sys/real.js'));
  await prepareNative();
  const store = openStore(data);
  const img = store.resolve('docker.io/bench/start:1');
  copyLayers(img.layers.map((l) => store.layerDir(l.diffId)), merged, realSys);

  const ns = 'namespaces: [mount, pid, uts, ipc, net]\nprocess: {args: [/bin/sh, -c, ":"]}\n';
  const specs = {
    'image (overlay)': ['image', `name: bi\n${ns}rootfs: {image: bench/start:1}\n`, {}],
    'image (copy snapshotter)': ['copy', `name: bc\n${ns}rootfs: {image: bench/start:1}\n`, { NIWA_SNAPSHOTTER: 'copy' }],
    'directory root': ['dir', `name: bd\n${ns}rootfs: ${merged}\n`, {}],
  };
  for (const [, [f, text]] of Object.entries(specs)) writeFileSync(join(dir, `${f}.container.yaml`), text);

  const { loadSpec } = await import(join(root, 'dist/src/spec/load/index.js'));
  const { imageResolver } = await import(join(root, 'dist/src/image/resolve.js'));
  const { compile } = await import(join(root, 'dist/src/plan/compile.js'));
  const { probeHost } = await import(join(root, 'dist/src/validate/host.js'));
  const { runPlan } = await import(join(root, 'dist/src/runtime/launch/run.js'));

  const rows = [];
  for (const [name, [f, , env]] of Object.entries(specs)) {
    Object.assign(process.env, env);
    const host = probeHost({ stateRoot: state });
    const spec = await loadSpec(join(dir, `${f}.container.yaml`), { image: imageResolver({ root: data }) });
    const warm = [];
    for (let i = 0; i < N; i++) {
      const plan = compile(spec, host, { id: `${f}${i}`, project: 'bench' });
      const t = process.hrtime.bigint();
      const r = await runPlan(plan, { sys: realSys, spec, stdio: 'ignore' });
      warm.push(Number(process.hrtime.bigint() - t) / 1e6);
      if (r.status !== 0) throw new Error(`${name}: exit ${r.status}`);
    }
    const cold = [];
    for (let i = 0; i < Math.min(N, 15); i++) {
      const t = process.hrtime.bigint();
      const r = niwa(['run', '-q', join(dir, `${f}.container.yaml`)], env);
      cold.push(Number(process.hrtime.bigint() - t) / 1e6);
      if (r.status !== 0) throw new Error(`${name} (CLI): ${r.stderr}`);
    }
    for (const k of Object.keys(env)) delete process.env[k];
    rows.push({ name, warm: median(warm), cold: median(cold) });
  }
  const base = rows.find((r) => r.name === 'directory root');
  const md = [
    '',
    `## Container start: image vs directory root — ${new Date().toISOString().slice(0, 10)} (${cpus().length} cores, N=${N}${process.env.NODE_EXTRA_CA_CERTS ? ', NODE_EXTRA_CA_CERTS set' : ''})`,
    '',
    '| root | warm runtime (median) | × dir | `niwa run` CLI (median) | × dir |',
    '|---|---|---|---|---|',
    ...rows.map((r) => `| ${r.name} | ${r.warm.toFixed(1)} ms | ${(r.warm / base.warm).toFixed(2)} | ${r.cold.toFixed(0)} ms | ${(r.cold / base.cold).toFixed(2)} |`),
    '',
    'The image rows include creating and removing the container\'s upper dir (or copied root) each run; the layers are already in the store.',
    '',
  ].join('\n');
  process.stdout.write(md);
  const out = join(root, 'bench', 'RESULTS.md');
  appendFileSync(out, (existsSync(out) ? '' : '# Benchmark results\n') + md);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
