// Is the supervisor's memory growth over `run -d` / `rm -f` cycles a leak? Runs the supervisor with
// --expose-gc, keeps one anchor container up (so the same supervisor lives throughout), and every
// --every cycles asks it (the `debug` request, after a full gc) for heapUsed, RSS, the containers it
// holds, its event sinks and its active handles. A leak shows as heapUsed or held entries that grow
// with the cycles; RSS alone also grows with the allocator's pages and V8's heap reservations.
//
//   node scripts/sup-mem.mjs [--cycles 200] [--every 25] [--snapshots]
//
// --snapshots: heap snapshots at the first sample after warm-up and at the end, and the object
// kinds whose count or size grew between them (what a leak would be made of).
//
// Needs root and a built tree (npm run build). Uses its own state root, removed at the end.
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { tryRequest } = await import(join(root, 'dist', 'src', 'runtime', 'supervisor', 'client.js'));
const niwaBin = join(root, 'bin', 'niwa.js');
const args = process.argv.slice(2);
const opt = (name, dflt) => { const i = args.indexOf(`--${name}`); return i >= 0 ? Number(args[i + 1]) : dflt; };
const CYCLES = opt('cycles', 200);
const EVERY = opt('every', 25);
if (process.getuid?.() !== 0) { console.error('sup-mem: needs root'); process.exit(2); }

const dir = mkdtempSync(join(tmpdir(), 'niwa-supmem-'));
chmodSync(dir, 0o755);
const state = join(dir, 'state');
const env = { ...process.env, NIWA_STATE_ROOT: state, NIWA_DATA_ROOT: join(dir, 'data'), NIWA_SUPERVISOR_IDLE_MS: '1500' };
const project = `supmem${process.pid.toString(36)}`;
const spec = join(dir, 'bg.container.yaml');
writeFileSync(spec, 'name: bg\nnamespaces: [mount, uts, ipc, pid, net]\ncgroup: {memory: 64M, pids: 64}\nprocess:\n  args: [/bin/sh, -c, "exec sleep 600"]\n');
// --expose-gc on the first CLI: the supervisor it starts inherits its execArgv
const cli = (a, node = []) => spawnSync(process.execPath, [...node, niwaBin, ...a], { env, encoding: 'utf8', timeout: 120_000 });
const must = (r, what) => { if (r.status !== 0) throw new Error(`${what}: exit ${r.status}: ${r.stderr}`); };

const SNAPSHOTS = args.includes('--snapshots');
const snaps = [];
const rows = [];
async function sample(cycle) {
  const snapshot = SNAPSHOTS && (cycle === EVERY || cycle === CYCLES);
  const r = await tryRequest({ root: state, project }, { op: 'debug', gc: true, snapshot });
  if (r?.snapshot) snaps.push(kinds(r.snapshot));
  if (!r?.ok) throw new Error(`debug request: ${JSON.stringify(r)}`);
  const mb = (b) => (b / 1048576).toFixed(1);
  rows.push({ cycle, heapUsed: mb(r.memory.heapUsed), heapTotal: mb(r.memory.heapTotal), external: mb(r.memory.external), rss: mb(r.memory.rss), held: r.containers.length, sinks: r.sinks, handles: r.handles });
  process.stderr.write(`sup-mem: ${JSON.stringify(rows.at(-1))}\n`);
}

/** A heap snapshot → {kind: [count, self bytes]}, kind = node type and name (constructor, or string/code/closure name). */
function kinds(file) {
  const h = JSON.parse(readFileSync(file, 'utf8'));
  const f = h.snapshot.meta.node_fields;
  const types = h.snapshot.meta.node_types[0];
  const [T, N, S] = ['type', 'name', 'self_size'].map((x) => f.indexOf(x));
  const out = {};
  for (let i = 0; i < h.nodes.length; i += f.length) {
    const type = types[h.nodes[i + T]];
    const name = type === 'string' || type === 'concatenated string' || type === 'sliced string' ? '(string)' : h.strings[h.nodes[i + N]].slice(0, 60);
    const k = `${type}:${name}`;
    const e = (out[k] ??= [0, 0]);
    e[0]++; e[1] += h.nodes[i + S];
  }
  return out;
}

try {
  must(cli(['run', '-d', '--project', project, '--name', 'anchor', spec], ['--expose-gc']), 'anchor');
  await sample(0);
  for (let i = 1; i <= CYCLES; i++) {
    must(cli(['run', '-d', '--project', project, '--name', `d${i}`, spec]), `run -d ${i}`);
    must(cli(['rm', '-f', '--project', project, `d${i}`]), `rm -f ${i}`);
    if (i % EVERY === 0 || i === CYCLES) await sample(i);
  }
} finally {
  cli(['rm', '-f', '--project', project, 'anchor']);
  spawnSync('umount', ['-R', join(state, 'rootfs-mnt')], { stdio: 'ignore' });
  await new Promise((r) => setTimeout(r, 2000));
  rmSync(dir, { recursive: true, force: true });
}
const header = ['cycle', 'heapUsed', 'heapTotal', 'external', 'rss', 'held', 'sinks', 'handles'];
console.log(header.join('\t') + '\t(MB after gc; held: containers in the supervisor\'s map)');
for (const r of rows) console.log(header.map((h) => r[h]).join('\t'));
if (snaps.length === 2) {
  const [a, b] = snaps;
  const grew = Object.keys(b).map((k) => [k, b[k][0] - (a[k]?.[0] ?? 0), b[k][1] - (a[k]?.[1] ?? 0)]).filter(([, n, bytes]) => n > 0 || bytes > 0).sort((x, y) => y[2] - x[2]).slice(0, 25);
  console.log(`\nheap growth between cycle ${EVERY} and ${CYCLES} (after gc), top kinds by bytes:`);
  for (const [k, n, bytes] of grew) console.log(`  +${String(bytes).padStart(8)} B  +${String(n).padStart(5)}  ${k}`);
}
