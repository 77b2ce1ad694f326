// The live view in a real terminal: tmux runs COMMAND, we send keys and read the screen.
// Rows appear, states change, ↓ selects, `l` shows logs, `q` brings everything down and the program exits.
// COMMAND is the one line to change to drive `niwa compose up` once orchestration exists.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { niwaBin, repoRoot } from '../helpers.js';

/** The command under test (argv after `niwa`), and what it must leave behind (nothing, for the demo). */
const COMMAND = ['__ui-demo', '--services', '6'];
const leftovers = (): string[] => [];

const hasTmux = spawnSync('tmux', ['-V']).status === 0;
const socket = `niwa-ui-test-${process.pid}`;
const session = 'ui';
const dir = mkdtempSync(join(tmpdir(), 'niwa-ui-tmux-'));
const exitFile = join(dir, 'exit');

const tmux = (...args: string[]) => spawnSync('tmux', ['-L', socket, ...args], { encoding: 'utf8' });
const screen = () => tmux('capture-pane', '-p', '-t', session).stdout;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(what: RegExp | ((s: string) => boolean), ms = 10_000): Promise<string> {
  const ok = typeof what === 'function' ? what : (s: string) => what.test(s);
  const end = Date.now() + ms;
  let s = '';
  while (Date.now() < end) {
    s = screen();
    if (ok(s)) return s;
    await sleep(100);
  }
  assert.fail(`timed out waiting for ${what}; the screen was:\n${s}`);
}

/** A process that exists and is not a zombie (an exited pane can linger as one under a non-reaping pid 1). */
function alive(pid: number): boolean {
  try { return readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '')[0] !== 'Z'; } catch { return false; }
}

after(() => {
  tmux('kill-server');
  rmSync(dir, { recursive: true, force: true });
});

test('live view in tmux: rows, state changes, selection, logs, q exits cleanly', { skip: hasTmux ? false : 'tmux not installed', timeout: 60_000 }, async () => {
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const cmd = `cd ${q(repoRoot)} && env -u CI TERM=xterm-256color ${q(process.execPath)} ${q(niwaBin)} ${COMMAND.map(q).join(' ')}; echo $? > ${q(exitFile)}; sleep 2`; // the pane outlives the program briefly, so its last frame can be read
  const r = tmux('new-session', '-d', '-s', session, '-x', '120', '-y', '40', cmd);
  assert.equal(r.status, 0, r.stderr);
  const panePid = Number(tmux('display-message', '-p', '-t', session, '#{pane_pid}').stdout.trim());

  // Rows appear while services start, showing the launch step they are on.
  await waitFor(/starting\s+\d+\/12 \w+/);
  // States change: every service ends up running and healthy, with a pid and a published port for web.
  const s1 = await waitFor((s) => /6\/6 running/.test(s) && (s.match(/running\s+healthy\s+\d+/g) ?? []).length === 6);
  assert.match(s1, /› web\s+running\s+healthy\s+\d+\s+\d+s\s+\S+\s+.*8080→80\/tcp/);
  assert.match(s1, /web\s+running pid \d+ \(started in [\d.]+ ms\)/, 'finished lines above the rows');
  // The scripted crash: worker exits with code 1 and is restarted (RST column 1).
  await waitFor(/worker\s+restarting \(restart 1/, 15_000);
  await waitFor(/^ {2}worker\s+running\s+healthy\s+\d+.*\s1\s*$/m, 10_000);

  // ↓ ↓ selects worker; l opens its logs below the table.
  tmux('send-keys', '-t', session, 'Down', 'Down');
  await waitFor(/› worker/);
  assert.doesNotMatch(screen(), /── logs/);
  tmux('send-keys', '-t', session, 'l');
  const s2 = await waitFor(/── logs: worker[\s\S]*\nworker [|!] worker: /);
  assert.match(s2, /↑\/↓ select · l logs/, 'help bar stays at the bottom');
  tmux('send-keys', '-t', session, 'l');
  await waitFor((s) => !/── logs/.test(s));

  // q stops everything; the view shows it and the program exits 0 with nothing left.
  tmux('send-keys', '-t', session, 'q');
  await waitFor(/stopping every container/);
  const s3 = await waitFor((s) => (s.match(/^. \S+\s+exited\s+code 0/gm) ?? []).length === 6);
  assert.match(s3, /0\/6 running/);
  const end = Date.now() + 10_000;
  while (Date.now() < end && tmux('has-session', '-t', session).status === 0) await sleep(100);
  assert.notEqual(tmux('has-session', '-t', session).status, 0, 'the tmux session ended with the program');
  assert.ok(existsSync(exitFile), 'the program exited');
  assert.equal(readFileSync(exitFile, 'utf8').trim(), '0');
  assert.ok(!alive(panePid), 'the pane process is gone');
  assert.deepEqual(leftovers(), []);
});

test('live view in tmux: Ctrl-C stops gracefully, a second Ctrl-C forces (signal 9), and the program exits', { skip: hasTmux ? false : 'tmux not installed', timeout: 60_000 }, async () => {
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const exit2 = join(dir, 'exit2');
  const cmd = `cd ${q(repoRoot)} && env -u CI TERM=xterm-256color ${q(process.execPath)} ${q(niwaBin)} ${[...COMMAND, '--speed', '3', '--grace', '30'].map(q).join(' ')}; echo $? > ${q(exit2)}; sleep 2`; // the last frame stays readable briefly
  assert.equal(tmux('new-session', '-d', '-s', 'ui2', '-x', '120', '-y', '40', cmd).status, 0);
  await waitForOn('ui2', (s) => /6\/6 running/.test(s));
  tmux('send-keys', '-t', 'ui2', 'C-c');
  await waitForOn('ui2', /stopping everything… \(Ctrl-C again to force\)/);
  const forcedAt = Date.now();
  tmux('send-keys', '-t', 'ui2', 'C-c');
  // The graceful stop would take 30 s (÷3); the forced one kills at once. Read the screen until
  // the program has exited (the pane outlives it by 2 s), keeping the last frame it drew.
  let last = '';
  for (let until = Date.now() + 15_000; Date.now() < until && !existsSync(exit2);) {
    const x = tmux('capture-pane', '-p', '-t', 'ui2').stdout;
    if (x.trim()) last = x;
    await sleep(100);
  }
  const x = tmux('capture-pane', '-p', '-t', 'ui2').stdout;
  if (x.trim()) last = x;
  assert.ok(existsSync(exit2), `the program exited; the last screen was:\n${last}`);
  assert.ok(Date.now() - forcedAt < 8_000, 'forced, not the 10 s graceful stop');
  assert.equal(readFileSync(exit2, 'utf8').trim(), '0');
  assert.match(last, /forcing: killing every container now/);
  assert.match(last, /0\/6 running/);
  // every row ended; those still running at the second Ctrl-C were killed (the scripted worker may be between runs)
  assert.doesNotMatch(last, /^. \S+\s+(running|starting|restarting)\b/m, last);
  assert.ok((last.match(/^. \S+\s+exited\s+signal 9/gm) ?? []).length >= 5, last);
  const gone = Date.now() + 10_000;
  while (Date.now() < gone && tmux('has-session', '-t', 'ui2').status === 0) await sleep(100);
  assert.notEqual(tmux('has-session', '-t', 'ui2').status, 0, 'the session ended with the program');
});

async function waitForOn(target: string, what: RegExp | ((s: string) => boolean), ms = 10_000): Promise<string> {
  const ok = typeof what === 'function' ? what : (s: string) => what.test(s);
  const end = Date.now() + ms;
  let s = '';
  let seen = '';
  while (Date.now() < end) {
    s = tmux('capture-pane', '-p', '-t', target).stdout;
    if (s.trim()) seen = s;
    if (ok(s)) return s;
    await sleep(100);
  }
  assert.fail(`timed out waiting for ${what}; the last screen seen was:\n${seen}`);
}

// The same view driving a real project: `niwa compose up` of the integration fixture in tmux.
const COMPOSE_FILE = join(repoRoot, 'test', 'fixtures', 'compose-up', 'compose.yaml');
const isRoot = process.getuid?.() === 0;

test('compose up in tmux: rows appear, states change, l shows a service\'s logs, q stops everything', {
  skip: !hasTmux ? 'tmux not installed' : !isRoot ? 'needs root (real containers)' : false, timeout: 90_000,
}, async () => {
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const project = `uit${process.pid}`;
  const root = join(dir, 'compose');
  const port = 19000 + (process.pid % 1000);
  const env = { NIWA_STATE_ROOT: join(root, 'state'), NIWA_DATA_ROOT: join(root, 'data'), PORT: String(port) };
  spawnSync('mkdir', ['-p', '-m', '755', root]);
  spawnSync('chmod', ['755', dir]);
  const exit3 = join(dir, 'exit3');
  const envArgs = Object.entries(env).map(([k, v]) => `${k}=${q(v)}`).join(' ');
  const cmd = `cd ${q(repoRoot)} && env -u CI TERM=xterm-256color ${envArgs} ${q(process.execPath)} ${q(niwaBin)} compose -f ${q(COMPOSE_FILE)} -p ${project} up; echo $? > ${q(exit3)}; sleep 20`; // the pane stays so the last frame can be read
  const down = () => spawnSync(process.execPath, [niwaBin, 'compose', '-f', COMPOSE_FILE, '-p', project, 'down', '-v', '-t', '1'], { env: { ...process.env, ...env }, encoding: 'utf8' });
  const cgroups = () => readdirSync('/sys/fs/cgroup').filter((c) => existsSync(join('/sys/fs/cgroup', c, 'niwa', project)) && readdirSync(join('/sys/fs/cgroup', c, 'niwa', project)).length > 0);
  try {
    assert.equal(tmux('new-session', '-d', '-s', 'ui3', '-x', '130', '-y', '40', cmd).status, 0);
    // Rows for the three services; the one-shot seed ends with code 0, then server turns healthy and client runs.
    const s1 = await waitForOn('ui3', (s) => /seed-1\s+exited\s+code 0/.test(s) && /server-1\s+running\s+healthy\s+\d+/.test(s) && /client-1\s+running\s+\d+/.test(s), 30_000);
    assert.match(s1, new RegExp(`server-1\\s+running.*127\\.0\\.0\\.1:${port}→8000/tcp`));
    assert.match(s1, /2\/3 running/);
    // ↓ ↓ selects client-1; l shows its log: the page it fetched from `server` by name.
    tmux('send-keys', '-t', 'ui3', 'Down', 'Down');
    await waitForOn('ui3', /› client-1/);
    tmux('send-keys', '-t', 'ui3', 'l');
    await waitForOn('ui3', /── logs: client-1[\s\S]*client-1 \| fetched: hello from niwa/);
    // q stops every container (in reverse dependency order) and the program exits 0.
    tmux('send-keys', '-t', 'ui3', 'q');
    await waitForOn('ui3', /0\/3 running/, 20_000);
    const end = Date.now() + 15_000;
    while (Date.now() < end && !existsSync(exit3)) await sleep(100);
    assert.equal(readFileSync(exit3, 'utf8').trim(), '0');
    // Nothing runs any more: no cgroup of the project holds anything.
    assert.deepEqual(cgroups(), []);
  } finally {
    tmux('kill-session', '-t', 'ui3');
    const d = down();
    assert.equal(d.status, 0, d.stderr);
    assert.deepEqual(cgroups(), []);
    assert.equal(spawnSync('ip', ['-o', 'link'], { encoding: 'utf8' }).stdout.includes(`nw-`) && existsSync(join(root, 'state', project)), false, 'down removed the project');
    rmSync(root, { recursive: true, force: true });
  }
});
