// Attack: `niwa compose cp` against a hostile container. The container plants symlinks — to `/`,
// climbing out with `../../..`, through the /proc/self/root magic link, and as the final component
// naming a host file — and the user's paths carry `..`: cp must neither read a host file outside
// the container's root nor write one, whichever direction; a symlink inside a copied directory
// stays a symlink. The container's own files at the same paths are what cp reaches instead.
// Own state and data roots, a unique project; `after` removes every trace.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fixture, niwa, niwaBin, needsRoot, needsStage, type CliResult } from '../helpers.js';
import { ContainerRoot } from '../../src/runtime/copy.js';
import { prepareNative, realSys } from '../../src/runtime/sys/real.js';
import { cgroupsLeft } from '../integration/running.js';
import { tryRequest } from '../../src/runtime/supervisor/client.js';
import { removeProjectNetworks } from '../../src/runtime/net/attach.js';

const skip = needsRoot() || needsStage();
const P = `cpx-${process.pid.toString(36)}${Date.now().toString(36).slice(-4)}`;
const FILE = fixture('compose-verbs', 'compose.yaml');
let dir = '';
let state = '';
let secret = '';
let target = '';
let hostDir = '';

const env = () => ({ ...process.env, NIWA_STATE_ROOT: state, NIWA_DATA_ROOT: join(dir, 'data'), NIWA_SUPERVISOR_IDLE_MS: '300' });
const compose = (args: string[]): CliResult => niwa(['compose', '-f', FILE, '-p', P, ...args], { env: env(), timeout: 90_000 });
const inside = (script: string) => {
  const r = compose(['exec', 'worker', '/bin/sh', '-c', script]);
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
};
const refused = (r: CliResult, what: string) => {
  assert.equal(r.status, 1, `${what}: cp must fail\n${r.stdout}${r.stderr}`);
  assert.match(r.stderr, /^niwa: compose cp /m, what);
  assert.doesNotMatch(r.stderr, /internal error/);
};

before(() => {
  if (skip) return;
  dir = mkdtempSync(join(tmpdir(), 'niwa-cp-escape-'));
  chmodSync(dir, 0o755);
  state = join(dir, 'state');
  mkdirSync(state);
  secret = join(dir, 'host-secret');
  writeFileSync(secret, 'HOST SECRET\n');
  target = join(dir, 'host-target.txt');
  writeFileSync(target, 'original\n');
  hostDir = join(dir, 'hostdir');
  mkdirSync(hostDir);
  const up = compose(['up', '-d', 'worker']);
  assert.equal(up.status, 0, up.stderr);
  // The hostile container: links to the host's root, climbing out, through a magic link, and to host files by name.
  inside([
    'ln -s / /tmp/root', 'ln -s ../../../../../../../.. /tmp/up', 'ln -s /proc/self/root /tmp/magic', 'ln -s /proc/1/root /tmp/magic1',
    `ln -s ${secret} /tmp/final`, `ln -s ${target} /tmp/wfinal`, `ln -s ${hostDir} /tmp/wdir`,
    'mkdir -p /tmp/tree', 'ln -s / /tmp/tree/toroot', `ln -s ${secret} /tmp/tree/tosecret`, 'echo plain > /tmp/tree/plain',
  ].join(' && '));
});

after(async () => {
  if (!dir) return;
  compose(['down', '-v', '-t', '0']);
  await tryRequest({ root: state, project: P }, { op: 'shutdown' }).catch(() => undefined);
  try { process.kill(JSON.parse(readFileSync(join(state, P, '_supervisor.json'), 'utf8')).pid, 'SIGKILL'); } catch { /* gone */ }
  await removeProjectNetworks({ stateRoot: state }, P).catch(() => undefined);
  for (const cg of cgroupsLeft(P)) spawnSync('find', [cg, '-depth', '-type', 'd', '-exec', 'rmdir', '{}', ';']);
  rmSync(dir, { recursive: true, force: true });
});

test('cp out: no symlink or `..` reads a host file outside the container root', { skip, timeout: 120_000 }, () => {
  const out = join(dir, 'stolen');
  for (const src of [`/tmp/root${secret}`, `/tmp/up${secret}`, `../../../../..${secret}`, `/tmp/final`, `/tmp/magic${secret}`, `/tmp/magic1${secret}`, `/tmp/up/../../..${secret}`]) {
    refused(compose(['cp', `worker:${src}`, out]), src);
    assert.equal(existsSync(out), false, `${src}: nothing was written on the host`);
  }
  // The same links lead to the container's own file at that path, once it has one.
  inside(`mkdir -p ${dir} && echo container copy > ${secret}`);
  for (const src of [`/tmp/root${secret}`, `/tmp/up${secret}`, '/tmp/final']) {
    const r = compose(['cp', `worker:${src}`, out]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(readFileSync(out, 'utf8'), 'container copy\n', src);
    rmSync(out);
  }
  inside(`rm -rf ${dir}`);
});

test('cp out of a directory: its symlinks are copied as symlinks, never followed on the host', { skip, timeout: 60_000 }, () => {
  const out = join(dir, 'tree-out');
  const r = compose(['cp', 'worker:/tmp/tree', out]);
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(readdirSync(out).sort(), ['plain', 'toroot', 'tosecret']);
  assert.ok(lstatSync(join(out, 'toroot')).isSymbolicLink());
  assert.equal(readlinkSync(join(out, 'toroot')), '/');
  assert.ok(lstatSync(join(out, 'tosecret')).isSymbolicLink());
  assert.equal(readFileSync(join(out, 'plain'), 'utf8'), 'plain\n');
});

test('cp in: no symlink or `..` writes a host file outside the container root', { skip, timeout: 120_000 }, () => {
  const src = join(dir, 'payload');
  writeFileSync(src, 'PAYLOAD\n');
  const tree = join(dir, 'payload-tree');
  mkdirSync(tree);
  writeFileSync(join(tree, 'f'), 'PAYLOAD\n');
  const dests = [`/tmp/wfinal`, `/tmp/root${target}`, `/tmp/up${target}`, `../../../../..${target}`, `/tmp/magic${target}`, `/tmp/magic1${target}`];
  for (const d of dests) {
    compose(['cp', src, `worker:${d}`]); // fails (no such directory inside) or writes inside: either way not on the host
    assert.equal(readFileSync(target, 'utf8'), 'original\n', `${d}: the host file is untouched`);
  }
  for (const d of ['/tmp/wdir', `/tmp/root${hostDir}`, `/tmp/up${hostDir}/`]) {
    compose(['cp', tree, `worker:${d}`]);
    compose(['cp', src, `worker:${d}`]);
    assert.deepEqual(readdirSync(hostDir), [], `${d}: nothing created in the host directory`);
  }
  // With the path present inside the container, the write lands there (and only there).
  inside(`mkdir -p ${dir} ${hostDir}`);
  const w = compose(['cp', src, 'worker:/tmp/wfinal']);
  assert.equal(w.status, 0, w.stderr);
  assert.equal(inside(`cat ${target}`), 'PAYLOAD\n');
  assert.equal(readFileSync(target, 'utf8'), 'original\n');
  const t = compose(['cp', tree, 'worker:/tmp/wdir']);
  assert.equal(t.status, 0, t.stderr);
  assert.equal(inside(`cat ${hostDir}/payload-tree/f`), 'PAYLOAD\n');
  assert.deepEqual(readdirSync(hostDir), []);
  // magic links are refused outright
  refused(compose(['cp', src, `worker:/tmp/magic${target}`]), 'through /proc/self/root');
});

test('a race: the container swaps a directory for a symlink to / while cp reads through it — never the host file', { skip, timeout: 120_000 }, async () => {
  // inside: /tmp/r/d<dir>/host-secret holds the container's own text; a loop keeps replacing /tmp/r/d by a link to /
  inside(`mkdir -p /tmp/r/d${dir} && echo inside > /tmp/r/d${secret}`);
  const loop = 'end=$(( $(date +%s) + 10 )); while [ $(date +%s) -lt $end ]; do mv /tmp/r/d /tmp/r/real; ln -s / /tmp/r/d; rm /tmp/r/d; mv /tmp/r/real /tmp/r/d; done';
  const swapper = spawn(process.execPath, [niwaBin, 'compose', '-f', FILE, '-p', P, 'exec', 'worker', '/bin/sh', '-c', loop], { env: env(), stdio: 'ignore' });
  const ended = new Promise((r) => swapper.once('exit', r));
  await prepareNative();
  const pid = (JSON.parse(readFileSync(join(state, P, 'worker-1', 'state.json'), 'utf8')) as { pid: number }).pid;
  const root = ContainerRoot.open(realSys, pid);
  const out = join(dir, 'raced');
  const seen = { inside: 0, refused: 0 };
  try {
    let done = false;
    void ended.then(() => { done = true; });
    // until the loop ends, or both outcomes have been seen many times
    for (let i = 0; !done && !(seen.inside >= 200 && seen.refused >= 200); i++) {
      if (i % 100 === 0) await new Promise((r) => setImmediate(r)); // let the exit event through
      try { root.copyOut(`/tmp/r/d${secret}`, out); } catch { seen.refused++; continue; }
      const text = readFileSync(out, 'utf8');
      assert.notEqual(text, 'HOST SECRET\n', `attempt ${i}: cp read the host file`);
      assert.equal(text, 'inside\n');
      seen.inside++;
      rmSync(out);
    }
  } finally {
    root.close();
    await ended;
  }
  assert.ok(seen.inside > 0, 'some copies went through the real directory');
  assert.ok(seen.refused > 0, `some copies met the symlink and failed inside the root (${JSON.stringify(seen)})`);
});
