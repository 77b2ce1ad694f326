// UI benchmark: the live Ink view with 20 services and a synthetic stream (~50 events/s plus stats
// every second) rendered for 10 s to a fake 120×40 TTY. Prints the CPU % of one core the view costs
// (process CPU time with the view minus the same stream with no view) and redraws per second.
// Needs a build (npm run build). Usage: node bench/ui.mjs [--services N] [--seconds S] [--fps F]
import { Writable, Readable } from 'node:stream';
import { join, dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const arg = (k, d) => { const i = process.argv.indexOf(`--${k}`); return i > 0 ? Number(process.argv[i + 1]) : d; };
const SERVICES = arg('services', 20);
const SECONDS = arg('seconds', 10);
const FPS = arg('fps', 4);
const WARMUP = 150 * SERVICES + 4000;
const LOG_RATE = 50 / SERVICES; // log lines per service per second → ~50 events/s in all
delete process.env.CI; // Ink draws nothing live in CI mode

const { createDemo } = await import(pathToFileURL(join(root, 'dist/src/ui/demo.js')).href);
const { loadLiveView } = await import(pathToFileURL(join(root, 'dist/src/ui/progress.js')).href);
const { startLiveView } = await loadLiveView(); // as the CLI loads it (React's production build)

function fakeTty() {
  let writes = 0, bytes = 0;
  const out = new Writable({ write(chunk, _enc, cb) { writes++; bytes += chunk.length; cb(); } });
  Object.assign(out, { isTTY: true, columns: 120, rows: 40 });
  const stdin = new Readable({ read() {} });
  stdin.isTTY = false;
  return { out, stdin, stats: () => ({ writes, bytes }) };
}

const cpuMs = (u) => (u.user + u.system) / 1000;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function measure(withView, viewOpts = {}) {
  const demo = createDemo({ services: SERVICES, logRate: LOG_RATE, speed: 1 });
  const tty = fakeTty();
  let events = 0;
  const unsubCount = demo.source.subscribe(() => { events++; });
  let view;
  let poll;
  if (withView) {
    view = startLiveView(demo.source, demo.controls, { fps: FPS, stats: demo.stats, stdout: tty.out, stdin: tty.stdin, handleSigint: false, title: 'bench', ...viewOpts });
    if (viewOpts.openPane) view.dispatch({ type: 'ui:action', action: { type: 'toggleLogs', name: 'web' } });
  } else {
    poll = setInterval(() => { void demo.stats(); }, 1000);
  }
  demo.start();
  await sleep(WARMUP); // let every service start and turn healthy; measure the steady state
  const e0 = events, c0 = process.cpuUsage(), t0 = performance.now(), r0 = view?.redraws ?? 0, w0 = tty.stats().writes;
  await sleep(SECONDS * 1000);
  const cpu = cpuMs(process.cpuUsage(c0)), wall = performance.now() - t0;
  const res = { cpuPct: (cpu / wall) * 100, eventsPerSec: ((events - e0) * 1000) / wall, redrawsPerSec: (((view?.redraws ?? 0) - r0) * 1000) / wall, writesPerSec: ((tty.stats().writes - w0) * 1000) / wall, kbPerSec: tty.stats().bytes / 1024 / (wall / 1000) };
  unsubCount();
  if (view) { view.close(); await view.waitUntilExit(); }
  clearInterval(poll);
  demo.dispose();
  return res;
}

const base = await measure(false);
const scenarios = [
  ['rows only (logs hidden)', await measure(true)],
  ['log pane open on web', await measure(true, { openPane: true })],
  ['all logs written above', await measure(true, { attachLogs: true })],
];
const f = (n, d = 1) => n.toFixed(d);
console.log(`niwa live view: ${SERVICES} services, ~${f(scenarios[0][1].eventsPerSec)} events/s + stats every 1 s, ${SECONDS} s steady state each, fps cap ${FPS}`);
console.log(`  event stream alone, no view     ${f(base.cpuPct, 2)} % of one core`);
let ok = true;
for (const [name, r] of scenarios) {
  const cost = r.cpuPct - base.cpuPct;
  ok &&= cost < 5 && r.redrawsPerSec <= FPS + 0.5;
  console.log(`  ${name.padEnd(31)} view costs ${f(cost, 2).padStart(5)} % of one core · ${f(r.redrawsPerSec, 2)} redraws/s · ${f(r.writesPerSec, 1)} writes/s · ${f(r.kbPerSec, 1)} KiB/s`);
}
console.log(`  budget: < 5 % of one core, <= ${FPS} redraws/s · NODE_EXTRA_CA_CERTS ${process.env.NODE_EXTRA_CA_CERTS ? 'set' : 'not set'} · node ${process.version}`);
process.exit(ok ? 0 : 1);
