// `npm run soak` (not part of npm test): many runs of each lifecycle, each phase followed by a leak
// check against the host as it was before — mounts, niwa cgroups, network links, network namespaces,
// niwa processes, state directories, listening sockets, and the supervisor's fds, RSS, live heap (after
// a gc) and the containers it still holds — printed as one table. Exit 1 when anything leaked or a run failed.
//
//   node scripts/soak.mjs [--quick] [--fg N] [--detached N] [--parallel N] [--compose N]
//
// Defaults: 1,000 foreground runs, 200 `run -d`/`rm -f` cycles, 50 parallel `run -d` then `rm -f`,
// 30 `compose up -d`/`down` cycles. --quick: 60 / 20 / 10 / 3 (about a minute). Needs root and the
// built stage (npm run build). Uses its own state and data roots under a temp dir, removed at the end.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { bridgeName } = await import(join(root, 'dist', 'src', 'runtime', 'net', 'names.js'));
const { tryRequest } = await import(join(root, 'dist', 'src', 'runtime', 'supervisor', 'client.js'));
const niwaBin = join(root, 'bin', 'niwa.js');
const args = process.argv.slice(2);
const flag = (name, dflt, quick) => {
  const i = args.indexOf(`--${name}`);
  if (i >= 0) return Number(args[i + 1]);
  return args.includes('--quick') ? quick : dflt;
};
const COUNTS = { fg: flag('fg', 1000, 60), detached: flag('detached', 200, 20), parallel: flag('parallel', 50, 10), compose: flag('compose', 30, 3) };
if (process.getuid?.() !== 0) { console.error('soak: needs root'); process.exit(2); }

const dir = mkdtempSync(join(tmpdir(), 'niwa-soak-'));
chmodSync(dir, 0o755);
const state = join(dir, 'state');
const env = { ...process.env, NIWA_STATE_ROOT: state, NIWA_DATA_ROOT: join(dir, 'data'), NIWA_SUPERVISOR_IDLE_MS: '1500' };
const PROJECT = `soak${process.pid.toString(36)}`;

const spec = (name, script) => {
  const f = join(dir, `${name}.container.yaml`);
  writeFileSync(f, `name: ${name}\nnamespaces: [mount, uts, ipc, pid, net]\ncgroup: {memory: 64M, pids: 64}\nprocess:\n  args: [/bin/sh, -c, ${JSON.stringify(script)}]\n`);
  return f;
};
const FG = spec('fg', 'echo ok');
const BG = spec('bg', 'exec sleep 600');
const COMPOSE = join(dir, 'compose.yaml');
writeFileSync(COMPOSE, `name: ${PROJECT}c\nservices:\n  a:\n    command: [/bin/sh, -c, "exec sleep 600"]\n    init: true\n  b:\n    command: [/bin/sh, -c, "exec sleep 600"]\n    init: true\n    depends_on: [a]\n`);

const cli = (a, node = []) => spawnSync(process.execPath, [...node, niwaBin, ...a], { env, encoding: 'utf8', timeout: 120_000 });
const cliAsync = (a) => new Promise((resolve) => {
  const c = spawn(process.execPath, [niwaBin, ...a], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  c.stderr.on('data', (d) => { err += d; });
  c.stdout.resume();
  c.on('close', (code) => resolve({ status: code, stderr: err }));
});

// --- what the host has ------------------------------------------------------------------------
const lines = (cmd, a) => { const r = spawnSync(cmd, a, { encoding: 'utf8' }); return r.status === 0 ? r.stdout.split('\n').filter(Boolean) : []; };
function niwaCgroups() {
  const out = [];
  for (const h of readdirSync('/sys/fs/cgroup')) {
    const d = join('/sys/fs/cgroup', h, 'niwa');
    if (!existsSync(d)) continue;
    for (const p of readdirSync(d, { withFileTypes: true })) if (p.isDirectory() && p.name.startsWith(PROJECT)) out.push(join(d, p.name));
  }
  return out;
}
// Other people's containers may run on this host at the same time: only what is this soak's counts —
// processes in its cgroups or started with its state root or project, stages whose parent is one of
// those, its compose project's bridge and the links attached to it, sockets its processes hold.
const read = (f) => { try { return readFileSync(f, 'utf8'); } catch { return ''; } };
function niwaProcs() {
  const mine = new Set();
  const stages = [];
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    const cmd = read(`/proc/${p}/cmdline`);
    if (cmd.includes(dir) || cmd.includes(PROJECT) || read(`/proc/${p}/cgroup`).includes(`/niwa/${PROJECT}`)) mine.add(Number(p));
    else if (read(`/proc/${p}/comm`).trim() === 'niwa-stage') stages.push(Number(p));
  }
  for (const p of stages) if (mine.has(Number(/^\S+ \(.*\) \S (\d+)/.exec(read(`/proc/${p}/stat`))?.[1]))) mine.add(p);
  return [...mine].filter((p) => p !== process.pid);
}
function listeners() {
  const inodes = new Set(niwaProcs().flatMap((p) => { try { return readdirSync(`/proc/${p}/fd`).map((fd) => /^socket:\[(\d+)\]$/.exec(readlinkSafe(`/proc/${p}/fd/${fd}`))?.[1]).filter(Boolean); } catch { return []; } }));
  return ['/proc/net/tcp', '/proc/net/tcp6'].flatMap((f) => read(f).split('\n').slice(1).map((l) => l.trim().split(/\s+/)).filter((c) => c[3] === '0A' && inodes.has(c[9])));
}
const readlinkSafe = (p) => { try { return readlinkSync(p); } catch { return ''; } };
const BRIDGE = bridgeName(`${PROJECT}c`, 'default');
const niwaLinks = () => lines('ip', ['-o', 'link']).filter((l) => l.includes(` ${BRIDGE}:`) || l.includes(`master ${BRIDGE} `));
// the project directories and what is in them, and what networking keeps for this soak's project
const stateDirs = () => [
  ...(existsSync(state) ? readdirSync(state).filter((n) => n !== 'rootfs-mnt' && n !== 'net').flatMap((p) => { try { return readdirSync(join(state, p)).map((n) => `${p}/${n}`); } catch { return [p]; } }) : []),
  ...['ns', 'hosts'].flatMap((d) => { try { return readdirSync(join(state, 'net', d)).filter((n) => n.includes(PROJECT)); } catch { return []; } }),
];
function snapshot() {
  return {
    mounts: readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes(dir)).length,
    cgroups: niwaCgroups().length,
    links: niwaLinks().length,
    netns: lines('ip', ['netns', 'list']).filter((l) => l.includes(PROJECT)).length + (existsSync(join(state, 'net', 'ns')) ? readdirSync(join(state, 'net', 'ns')).length : 0),
    procs: niwaProcs().length,
    state: stateDirs().length,
    listeners: listeners().length,
  };
}
// its fds and RSS from /proc; its live heap (after a gc: the soak starts it with --expose-gc) and the
// containers it still holds from its `debug` request
async function supervisor(project) {
  try {
    const { pid } = JSON.parse(readFileSync(join(state, project, '_supervisor.json'), 'utf8'));
    const rss = Number(/^VmRSS:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);
    const d = await tryRequest({ root: state, project }, { op: 'debug', gc: true }).catch(() => undefined);
    return { pid, fds: readdirSync(`/proc/${pid}/fd`).length, rssKb: rss, heapKb: d?.ok ? Math.round(d.memory.heapUsed / 1024) : undefined, held: d?.ok ? d.containers.length : undefined };
  } catch { return undefined; }
}
async function settle(pred, ms = 15_000) {
  const end = Date.now() + ms;
  while (Date.now() < end && !pred()) await new Promise((r) => setTimeout(r, 100));
}

// --- phases -----------------------------------------------------------------------------------
const rows = [];
const baseline = snapshot();
const pct = (xs, p) => (xs.length ? xs.slice().sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))] : 0);

async function phase(name, n, body, anchor) {
  const times = [];
  const failures = [];
  const sup0 = anchor ? await supervisor(PROJECT) : undefined;
  const t0 = Date.now();
  await body(times, failures);
  const sup1 = anchor ? await supervisor(PROJECT) : undefined;
  // everything the phase made must go; the anchor container (kept to keep the supervisor up) is expected
  await settle(() => { const s = snapshot(); return Object.keys(baseline).every((k) => s[k] - baseline[k] <= (anchor ? anchor[k] ?? 0 : 0)); });
  const s = snapshot();
  const leaks = Object.fromEntries(Object.keys(baseline).map((k) => [k, s[k] - baseline[k] - (anchor ? anchor[k] ?? 0 : 0)]));
  rows.push({ name, n, failures, avg: times.length ? times.reduce((a, b) => a + b, 0) / times.length : 0, p95: pct(times, 0.95), secs: (Date.now() - t0) / 1000, leaks,
    supFds: sup0 && sup1 ? sup1.fds - sup0.fds : undefined, supRss: sup0 && sup1 ? sup1.rssKb - sup0.rssKb : undefined,
    supHeap: sup0?.heapKb !== undefined && sup1?.heapKb !== undefined ? sup1.heapKb - sup0.heapKb : undefined,
    // containers the supervisor still holds beyond the anchor once the phase removed its own
    supHeld: sup1?.held !== undefined ? sup1.held - 1 : undefined });
  process.stderr.write(`soak: ${name} done (${n}, ${failures.length} failed)\n`);
}

const timed = async (times, failures, what, f) => {
  const t = performance.now();
  const r = await f();
  times.push(performance.now() - t);
  if (r.status !== 0) failures.push(`${what}: exit ${r.status}: ${r.stderr.trim().split('\n')[0]}`);
};

try {
  await phase('foreground run', COUNTS.fg, async (times, failures) => {
    for (let i = 0; i < COUNTS.fg; i++) await timed(times, failures, `run ${i}`, () => cli(['run', '--project', PROJECT, FG]));
  });

  // one long-lived container keeps the supervisor up across the detached phases, so its fds and RSS can be compared
  const a = cli(['run', '-d', '--project', PROJECT, '--name', 'anchor', BG], ['--expose-gc']); // the supervisor it starts inherits --expose-gc
  if (a.status !== 0) throw new Error(`anchor: ${a.stderr}`);
  await settle(() => existsSync(join(state, PROJECT, '_supervisor.json')));
  const withAnchor = snapshot();
  const anchor = Object.fromEntries(Object.keys(baseline).map((k) => [k, withAnchor[k] - baseline[k]]));

  await phase('run -d / rm -f', COUNTS.detached, async (times, failures) => {
    for (let i = 0; i < COUNTS.detached; i++) {
      await timed(times, failures, `run -d ${i}`, () => cli(['run', '-d', '--project', PROJECT, '--name', `d${i}`, BG]));
      await timed([], failures, `rm -f ${i}`, () => cli(['rm', '-f', '--project', PROJECT, `d${i}`]));
    }
  }, anchor);

  await phase(`${COUNTS.parallel} parallel run -d, rm -f`, COUNTS.parallel, async (times, failures) => {
    const names = Array.from({ length: COUNTS.parallel }, (_, i) => `p${i}`);
    await Promise.all(names.map((n) => timed(times, failures, `run -d ${n}`, () => cliAsync(['run', '-d', '--project', PROJECT, '--name', n, BG]))));
    await Promise.all(names.map((n) => timed([], failures, `rm -f ${n}`, () => cliAsync(['rm', '-f', '--project', PROJECT, n]))));
  }, anchor);

  cli(['rm', '-f', '--project', PROJECT, 'anchor']);

  await phase('compose up -d / down', COUNTS.compose, async (times, failures) => {
    for (let i = 0; i < COUNTS.compose; i++) {
      await timed(times, failures, `up ${i}`, () => cli(['compose', '-f', COMPOSE, 'up', '-d']));
      await timed([], failures, `down ${i}`, () => cli(['compose', '-f', COMPOSE, 'down']));
    }
  });
} finally {
  // whatever is left: removed, so the host is as it was even after a failed soak
  for (const p of existsSync(state) ? readdirSync(state) : []) {
    if (p === 'rootfs-mnt') continue;
    for (const n of existsSync(join(state, p)) ? readdirSync(join(state, p)).filter((x) => !x.startsWith('_')) : []) cli(['rm', '-f', '--project', p, n]);
  }
  cli(['compose', '-f', COMPOSE, 'down']);
  await settle(() => niwaProcs().length === 0, 5_000);
  for (const pid of niwaProcs()) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
  spawnSync('umount', ['-R', join(state, 'rootfs-mnt')], { stdio: 'ignore' });
  rmSync(dir, { recursive: true, force: true });
}

// --- report -----------------------------------------------------------------------------------
const keys = Object.keys(baseline);
const header = ['phase', 'n', 'failed', 'avg ms', 'p95 ms', 'secs', ...keys.map((k) => `+${k}`), 'sup fds Δ', 'sup RSS Δ kB', 'sup heap Δ kB', 'sup held'];
const table = [header, ...rows.map((r) => [r.name, r.n, r.failures.length, r.avg.toFixed(0), r.p95.toFixed(0), r.secs.toFixed(1), ...keys.map((k) => r.leaks[k]), r.supFds ?? '-', r.supRss ?? '-', r.supHeap ?? '-', r.supHeld ?? '-'].map(String))];
const widths = header.map((_, i) => Math.max(...table.map((row) => row[i].length)));
for (const row of table) console.log(row.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  '));
for (const r of rows) for (const f of r.failures.slice(0, 5)) console.log(`  ${r.name}: ${f}`);
const bad = rows.some((r) => r.failures.length || keys.some((k) => r.leaks[k] !== 0) || (r.supHeld ?? 0) !== 0);
console.log(bad ? 'soak: FAILED (see above)' : 'soak: ok — nothing leaked');
process.exit(bad ? 1 : 0);
