// Benchmark: the native stage from a warm Node process. Median of N runs of
//   - spawning /bin/true directly (child_process.spawn, the floor),
//   - the stage running a plan that execs /bin/true (no namespaces), to `exec` and to exit,
//   - the same with new uts, ipc, pid and mount namespaces, and with a new net namespace.
// Usage: node scripts/build.mjs && node bench/stage.mjs [N]   (needs root for the namespaces)
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const mod = join(root, 'dist', 'src', 'runtime', 'launch', 'stage.js');
if (!existsSync(mod)) {
  console.error('bench/stage.mjs: dist/ is missing; run node scripts/build.mjs first');
  process.exit(1);
}
const { startStage } = await import(mod);
const N = Number(process.argv[2] ?? 100);

const plan = (flags) => ({
  version: 1, name: 'bench', id: 'bench', project: 'bench', spec: '', rootDir: '/', cgroups: [], tty: false, warnings: [],
  steps: [
    { op: 'clone', flags, phase: 'clone', index: 0, field: '', why: '' },
    { op: 'execve', path: '/bin/true', argv: ['true'], env: [], phase: 'child', index: 1, field: '', why: '' },
  ],
});

const median = (a) => { const s = [...a].sort((x, y) => x - y); return s[s.length >> 1]; };
const fmt = (ms) => ms.toFixed(2).padStart(7) + ' ms';

async function direct() {
  const t0 = performance.now();
  await new Promise((res, rej) => spawn('/bin/true', [], { stdio: 'ignore' }).on('exit', res).on('error', rej));
  return { exit: performance.now() - t0 };
}

async function staged(p) {
  const t0 = performance.now();
  const h = startStage(p, { stdio: 'ignore' });
  await h.started;
  const exec = performance.now() - t0;
  const ex = await h.exited;
  if (ex.code !== 0) throw new Error(`stage run failed: ${JSON.stringify(ex)}`);
  return { exec, exit: performance.now() - t0 };
}

async function series(name, f) {
  for (let i = 0; i < 5; i++) await f(); // warm up
  const runs = [];
  for (let i = 0; i < N; i++) runs.push(await f());
  const exec = runs.every((r) => r.exec !== undefined) ? `  to exec ${fmt(median(runs.map((r) => r.exec)))}` : ' '.repeat(19);
  console.log(`${name.padEnd(40)}${exec}  to exit ${fmt(median(runs.map((r) => r.exit)))}`);
}

console.log(`median of ${N} runs; node ${process.version}; NODE_EXTRA_CA_CERTS ${process.env.NODE_EXTRA_CA_CERTS ? 'set' : 'not set'} (no effect here: one warm process)`);
await series('spawn /bin/true directly', direct);
await series('stage → /bin/true, no namespaces', () => staged(plan([])));
if (process.getuid?.() === 0) {
  await series('stage → /bin/true, uts+ipc+pid+mount ns', () => staged(plan(['CLONE_NEWUTS', 'CLONE_NEWIPC', 'CLONE_NEWPID', 'CLONE_NEWNS'])));
  await series('stage → /bin/true, + net ns', () => staged(plan(['CLONE_NEWUTS', 'CLONE_NEWIPC', 'CLONE_NEWPID', 'CLONE_NEWNS', 'CLONE_NEWNET'])));
} else {
  console.log('(not root: namespace variants skipped)');
}
