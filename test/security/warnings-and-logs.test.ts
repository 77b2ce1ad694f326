// Finding 6: loosenings that take isolation away (root: chroot, the host's pid or net namespace)
// get one warning line from validate and run unless the spec marks them intended. Finding 7: a
// container that prints terminal escape sequences (retitle, clear, OSC 52 clipboard) cannot reach
// the user's terminal through `niwa logs`; `--raw` gives the bytes.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { niwa, niwaBin, needsRoot, needsStage } from '../helpers.js';
import { tryRequest } from '../../src/runtime/supervisor/client.js';

const skip = needsRoot() || needsStage();
const P = `sec-logs-${process.pid.toString(36)}`;
let dir = '';
let state = '';
const env = () => ({ ...process.env, NIWA_STATE_ROOT: state, NIWA_SUPERVISOR_IDLE_MS: '300' });

before(() => {
  if (skip) return;
  dir = mkdtempSync(join(tmpdir(), 'niwa-sec-logs-'));
  chmodSync(dir, 0o755);
  state = join(dir, 'state');
  mkdirSync(join(dir, 'root'), { mode: 0o755 });
});
after(async () => {
  if (!dir) return;
  niwa(['rm', '--project', P, '-f', 'esc'], { env: env() });
  await tryRequest({ root: state, project: P }, { op: 'shutdown' }).catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
});

const warnings = (stderr: string) => stderr.split('\n').filter((l) => /warning: /.test(l));

test('chroot, host pid and host net namespaces: one warning line each from validate and run, none when marked intended', { skip }, () => {
  const f = join(dir, 'loose.container.yaml');
  writeFileSync(f, `name: loose\nroot: chroot\nrootfs: ${join(dir, 'root')}\nnamespaces: [mount]\nprocess:\n  args: [/nonexistent]\n`);
  const v = niwa(['validate', f], { env: env() });
  assert.equal(v.status, 0, v.stderr);
  const w = warnings(v.stderr);
  assert.equal(w.length, 3, v.stderr);
  assert.match(w[0], /root: chroot .*chroot escape.*niwa\.intended: chroot/);
  assert.match(w[1], /host's pid namespace/);
  assert.match(w[2], /host's network namespace/);
  const r = niwa(['run', '--project', P, f], { env: env() });
  assert.equal(warnings(r.stderr).filter((l) => /chroot escape|host's pid|host's network/.test(l)).length, 3, r.stderr);

  writeFileSync(f, `name: loose\nroot: chroot\nrootfs: ${join(dir, 'root')}\nnamespaces: [mount]\nannotations: {niwa.intended: "chroot, host-pid, host-net"}\nprocess:\n  args: [/nonexistent]\n`);
  const quiet = niwa(['validate', f], { env: env() });
  assert.equal(quiet.status, 0);
  assert.deepEqual(warnings(quiet.stderr), []);
  assert.deepEqual(warnings(niwa(['run', '--project', P, f], { env: env() }).stderr), []);
  // A joined namespace of the host by path counts too.
  writeFileSync(f, 'name: joined\nnamespaces: {mount: {}, pid: {}, net: {path: /proc/self/ns/net}}\nprocess:\n  args: [/bin/true]\n');
  assert.match(niwa(['validate', f], { env: env() }).stderr, /host's network namespace/);
});

test('niwa logs on a terminal shows escape sequences as text; --raw and a pipe give the bytes', { skip }, () => {
  const f = join(dir, 'esc.container.yaml');
  // retitle the window, clear the screen, set the clipboard (OSC 52), a C1 CSI, a bell
  const evil = String.raw`printf "\033]0;pwned\007\033[2J\033]52;c;cm0gLXJmIH4K\007\302\23331mC1\007done\n"; exec sleep 60`;
  writeFileSync(f, `name: esc\nprocess:\n  args: [/bin/sh, -c, ${JSON.stringify(evil)}]\n`);
  const r = niwa(['run', '-d', '--project', P, f], { env: env() });
  assert.equal(r.status, 0, r.stderr);
  const log = join(state, P, 'esc', 'container.log');
  for (let i = 0; i < 100 && !(existsSync(log) && readFileSync(log, 'utf8').includes('done')); i++) spawnSync('sleep', ['0.05']);

  // On a terminal (script(1) gives the command a pty): no ESC, BEL or C1 byte reaches it.
  const onTty = (extra: string[]) => {
    const cmd = [process.execPath, niwaBin, 'logs', '--project', P, ...extra, 'esc'].map((x) => `'${x}'`).join(' ');
    const s = spawnSync('script', ['-qec', cmd, '/dev/null'], { env: env(), encoding: 'latin1', timeout: 30_000 });
    return s.stdout;
  };
  const shown = onTty([]);
  assert.match(shown, /done/);
  assert.doesNotMatch(shown, /[\x1b\x07]|\xc2\x9b/, JSON.stringify(shown));
  assert.match(shown, /\\u009b31mC1/, 'a C1 CSI (UTF-8 U+009B) is shown as text');
  assert.match(shown, /\^\[\]0;pwned\^G/);
  assert.match(shown, /\^\[\]52;c;/);
  // --raw: the bytes, on purpose
  assert.match(onTty(['--raw']), /\x1b\]0;pwned\x07/);
  // piped (not a terminal): the bytes, as Docker does
  const piped = spawnSync(process.execPath, [niwaBin, 'logs', '--project', P, 'esc'], { env: env(), encoding: 'latin1' });
  assert.match(piped.stdout, /\x1b\[2J/);
  assert.equal(niwa(['rm', '--project', P, '-f', 'esc'], { env: env() }).status, 0);
});
