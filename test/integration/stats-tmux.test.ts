// The live view's keys in a real terminal (tmux), against real containers and against the demo:
//  - `niwa stats`: l shows the container's log, r restarts it (the row says "stopping (Ns)" until the
//    new run is up, the view keeps redrawing), q leaves the view saying the containers keep running,
//    exits 0 with the terminal back in its normal mode, and the container is still running;
//  - `niwa __ui-demo` (compose-style view): r then q, and the terminal is back in its normal mode.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { niwa, niwaBin, needsRoot, needsStage, repoRoot } from '../helpers.js';
import { tryRequest } from '../../src/runtime/supervisor/client.js';

const hasTmux = spawnSync('tmux', ['-V']).status === 0;
const skipReal = !hasTmux ? 'tmux not installed' : needsRoot() || needsStage();
const socket = `niwa-stats-test-${process.pid}`;
const project = `stats-tmux-${process.pid}`;
let dir = '';
let state = '';

const tmux = (...args: string[]) => spawnSync('tmux', ['-L', socket, ...args], { encoding: 'utf8' });
const screen = (s: string) => tmux('capture-pane', '-p', '-t', s).stdout;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
const env = () => ({ ...process.env, NIWA_STATE_ROOT: state, NIWA_SUPERVISOR_IDLE_MS: '300' });

async function waitFor(session: string, what: RegExp | ((s: string) => boolean), ms = 15_000): Promise<string> {
  const ok = typeof what === 'function' ? what : (s: string) => what.test(s);
  const end = Date.now() + ms;
  let s = '';
  while (Date.now() < end) {
    s = screen(session);
    if (ok(s)) return s;
    await sleep(100);
  }
  assert.fail(`timed out waiting for ${what}; the screen was:\n${s}`);
}

/** Start `argv` (after niwa) in a tmux session; afterwards the pane records its exit status and `stty -a`. */
function startInTmux(session: string, argv: string[]): { exitFile: string; sttyFile: string } {
  const exitFile = join(dir, `${session}.exit`);
  const sttyFile = join(dir, `${session}.stty`);
  const cmd = `cd ${q(repoRoot)} && env -u CI NIWA_STATE_ROOT=${q(state)} TERM=xterm-256color ${q(process.execPath)} ${q(niwaBin)} ${argv.map(q).join(' ')}; echo $? > ${q(exitFile)}; stty -a > ${q(sttyFile)}; sleep 5`;
  const r = tmux('new-session', '-d', '-s', session, '-x', '120', '-y', '30', cmd);
  assert.equal(r.status, 0, r.stderr);
  return { exitFile, sttyFile };
}

async function exitedNormally(files: { exitFile: string; sttyFile: string }): Promise<void> {
  const end = Date.now() + 15_000;
  while (Date.now() < end && !(existsSync(files.exitFile) && existsSync(files.sttyFile) && readFileSync(files.sttyFile, 'utf8'))) await sleep(100);
  assert.equal(readFileSync(files.exitFile, 'utf8').trim(), '0');
  // The terminal is back in its normal (cooked) mode: line editing and echo on, not raw.
  const stty = readFileSync(files.sttyFile, 'utf8');
  assert.match(stty, /(^|\s)icanon(\s|$)/m, stty);
  assert.match(stty, /(^|\s)echo(\s|$)/m, stty);
}

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'niwa-stats-tmux-'));
  chmodSync(dir, 0o755);
  state = join(dir, 'state');
});

after(async () => {
  tmux('kill-server');
  if (existsSync(join(state, project))) {
    for (const n of readdirSync(join(state, project)).filter((x) => !x.startsWith('_'))) niwa(['rm', '-f', '--project', project, n], { env: env() });
    await tryRequest({ root: state, project }, { op: 'shutdown' }).catch(() => undefined);
  }
  rmSync(dir, { recursive: true, force: true });
});

test('niwa stats in tmux: l shows the log, r restarts with "stopping (Ns)", q leaves the container running', { skip: skipReal, timeout: 90_000 }, async () => {
  const spec = join(dir, 'ticker.container.yaml');
  // PID 1 ignores SIGTERM here, so a stop waits out the grace period: the view must say so meanwhile.
  writeFileSync(spec, `name: ticker\nnamespaces: [mount, pid]\nstop_grace_period: 3s\nannotations: {niwa.intended: host-net}\nprocess:\n  args: [/bin/sh, -c, 'trap "" TERM; n=0; while :; do n=$((n+1)); echo "tick $n"; sleep 1; done']\n`);
  const r = niwa(['run', '-d', '--project', project, spec], { env: env() });
  assert.equal(r.status, 0, r.stderr);
  const files = startInTmux('stats', ['stats', '--project', project]);
  const s1 = await waitFor('stats', /› ticker\s+running\s+\d+/);
  const pid1 = Number(/› ticker\s+running\s+(\d+)/.exec(s1)![1]);

  tmux('send-keys', '-t', 'stats', 'l');
  await waitFor('stats', /── logs: ticker[\s\S]*ticker\s+[|!] tick \d+/);
  assert.match(screen('stats'), /q quit \(the containers keep running\)/);
  tmux('send-keys', '-t', 'stats', 'l');
  await waitFor('stats', (s) => !/── logs/.test(s));

  tmux('send-keys', '-t', 'stats', 'r');
  await waitFor('stats', /restart requested/);
  await waitFor('stats', /› ticker\s+stopping \([1-9]\d*s\)/, 10_000); // counts up: the view is not frozen
  const s2 = await waitFor('stats', (s) => { const m = /› ticker\s+running\s+(\d+)/.exec(s); return Boolean(m && Number(m[1]) !== pid1); }, 20_000);
  const pid2 = Number(/› ticker\s+running\s+(\d+)/.exec(s2)![1]);

  tmux('send-keys', '-t', 'stats', 'q');
  await waitFor('stats', /leaving the view: the containers keep running/);
  await exitedNormally(files);
  const ps = niwa(['ps', '--json', '--project', project], { env: env() });
  const rows = JSON.parse(ps.stdout) as { name: string; status: string; pid: number }[];
  assert.deepEqual(rows.map((x) => [x.name, x.status, x.pid]), [['ticker', 'running', pid2]], 'q left it running');
});

test('the compose-style live view (demo) in tmux: r restarts a service, q stops all, the terminal is normal again', { skip: hasTmux ? false : 'tmux not installed', timeout: 60_000 }, async () => {
  const files = startInTmux('demo', ['__ui-demo', '--services', '3']);
  await waitFor('demo', (s) => /3\/3 running/.test(s) && /› web\s+running/.test(s));
  tmux('send-keys', '-t', 'demo', 'r');
  await waitFor('demo', /web\s+restart requested/);
  await waitFor('demo', /web\s+running pid \d+[\s\S]*web\s+restart requested[\s\S]*web\s+running pid \d+/, 15_000);
  await waitFor('demo', /3\/3 running/);
  tmux('send-keys', '-t', 'demo', 'q');
  await waitFor('demo', /stopping every container/);
  await exitedNormally(files);
});
