// `niwa run -it` in a real terminal (tmux): the container gets a tty of its own, the terminal's
// TERM and window size, and job control; `exit 5` ends niwa with status 5 and no error line.
// `niwa exec -it` passes TERM too.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { niwa, niwaBin, needsRoot, needsStage, repoRoot } from '../helpers.js';
import { tryRequest } from '../../src/runtime/supervisor/client.js';

const hasTmux = spawnSync('tmux', ['-V']).status === 0;
const skip = needsRoot() || needsStage() || (hasTmux ? false : 'tmux not installed');
const socket = `niwa-it-test-${process.pid}`;
const session = 'it';
const dir = mkdtempSync(join(tmpdir(), 'niwa-it-'));
chmodSync(dir, 0o755);
const state = join(dir, 'state');
const project = `it${process.pid}`;
const exitFile = join(dir, 'exit');
const errFile = join(dir, 'stderr');

const tmux = (...args: string[]) => spawnSync('tmux', ['-L', socket, ...args], { encoding: 'utf8' });
const screen = () => tmux('capture-pane', '-p', '-t', session).stdout;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const type = (line: string) => { tmux('send-keys', '-t', session, '-l', line); tmux('send-keys', '-t', session, 'Enter'); };
async function waitFor(what: RegExp, ms = 15_000): Promise<string> {
  const end = Date.now() + ms;
  let s = '';
  while (Date.now() < end) {
    s = screen();
    if (what.test(s)) return s;
    await sleep(100);
  }
  assert.fail(`timed out waiting for ${what}; the screen was:\n${s}`);
}
const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

after(async () => {
  tmux('kill-server');
  if (existsSync(join(state, project))) for (const n of readdirSync(join(state, project)).filter((x) => !x.startsWith('_'))) niwa(['rm', '-f', '--project', project, n], { env: { ...process.env, NIWA_STATE_ROOT: state } });
  await tryRequest({ root: state, project }, { op: 'shutdown' }).catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
});

test('run -it: a real tty with TERM and the window size; exit 5 → 5 with no error line', { skip, timeout: 60_000 }, async () => {
  const cmd = `cd ${q(repoRoot)} && env NIWA_STATE_ROOT=${q(state)} TERM=screen-256color ${q(process.execPath)} ${q(niwaBin)} run -it --project ${project} --hostname itbox -- /bin/sh 2> ${q(errFile)}; echo $? > ${q(exitFile)}; sleep 5`;
  const r = tmux('new-session', '-d', '-s', session, '-x', '100', '-y', '30', cmd);
  assert.equal(r.status, 0, r.stderr);
  await waitFor(/^[#$] ?$/m);
  type('tty; echo "T=$TERM"; stty size; hostname');
  const s = await waitFor(/^itbox$/m); // hostname: the last of the four, so the others are on screen too
  assert.match(s, /^\/dev\/pts\/\d+$/m, 'stdin is a terminal');
  assert.match(s, /^T=screen-256color$/m, 'TERM passed through');
  assert.match(s, /^30 100$/m, 'the window size of the terminal');
  assert.match(s, /^itbox$/m);
  // job control: a background job and fg
  type('sleep 30 & jobs');
  await waitFor(/\[1\][ +]*Running/);
  type('kill %1; exit 5');
  for (let i = 0; i < 150 && !existsSync(exitFile); i++) await sleep(100);
  assert.equal(readFileSync(exitFile, 'utf8').trim(), '5');
  assert.equal(readFileSync(errFile, 'utf8'), '', 'no error line');
});

test('exec -it sets TERM from the terminal', { skip, timeout: 60_000 }, async () => {
  const env = { ...process.env, NIWA_STATE_ROOT: state };
  const id = niwa(['run', '-d', '--project', project, '--name', 'ex', '--', '/bin/sleep', '60'], { env }).stdout.trim();
  assert.match(id, /^ex-/);
  try {
    const out = join(dir, 'exec-out');
    const cmd = `env NIWA_STATE_ROOT=${q(state)} TERM=xterm-kitty ${q(process.execPath)} ${q(niwaBin)} exec -it ${id} -- /bin/sh -c 'echo "T=$TERM"; tty' > ${q(out)} 2>&1; echo $? >> ${q(out)}`;
    tmux('new-session', '-d', '-s', 'ex', '-x', '80', '-y', '24', cmd);
    for (let i = 0; i < 150 && !/^\d+\s*$/m.test(existsSync(out) ? readFileSync(out, 'utf8') : ''); i++) await sleep(100);
    const text = readFileSync(out, 'utf8');
    assert.match(text, /T=xterm-kitty/);
    assert.match(text, /\/dev\/pts\/\d+/);
  } finally {
    niwa(['rm', '-f', id], { env });
  }
});
