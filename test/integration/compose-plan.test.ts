// "The project plan is what runs": a real `compose up -d` of a two-service project, traced, against
// `compose plan --json` of the same project made just before. Every `ip` command (logged by a
// wrapper on PATH, with the namespace it ran in) is one of the plan's, in the plan's order per
// namespace, and none is missing; the network namespace bind mounts (strace of mount(2)) are the
// plan's netns steps; each container's stage makes the mounts of its launch plan, in order.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { niwa, niwaBin, needsRoot, needsStage, repoRoot } from '../helpers.js';
import type { ProjectPlan, ProjectStep } from '../../src/plan/project/types.js';
import type { Step } from '../../src/plan/types.js';

const tool = (t: string) => ['/usr/sbin', '/sbin', '/usr/bin', '/bin'].map((d) => join(d, t)).find((p) => existsSync(p));
const hasStrace = spawnSync('strace', ['-V']).status === 0;
const skip = needsRoot() || needsStage() || (hasStrace ? false : 'strace not installed') || (tool('ip') && tool('nsenter') ? false : 'ip / nsenter not found');
const dir = skip ? '' : mkdtempSync(join(tmpdir(), 'niwa-cplan-'));
const project = `cp${process.pid}`;
const bin = join(dir, 'bin');
const log = join(dir, 'ip.log');
const env = () => ({ ...process.env, PATH: `${bin}:${process.env.PATH ?? ''}`, NIWA_STATE_ROOT: join(dir, 'state'), NIWA_DATA_ROOT: join(dir, 'data') });
const compose = (args: string[]) => niwa(['compose', '-f', join(dir, 'compose.yaml'), '-p', project, ...args], { env: env(), timeout: 90_000 });

after(() => {
  if (!dir) return;
  compose(['down', '-v', '-t', '1']);
  rmSync(dir, { recursive: true, force: true });
});

interface Call { pid: number; name: string; args: string; ret: string }
function traceFiles(prefix: string): Map<number, Call[]> {
  const files = new Map<number, Call[]>();
  for (const f of readdirSync(dir)) {
    const m = new RegExp(`^${prefix}\\.(\\d+)$`).exec(f);
    if (!m) continue;
    const calls: Call[] = [];
    for (const line of readFileSync(join(dir, f), 'utf8').split('\n')) {
      const c = /^(\w+)\((.*)\) += (.+)$/.exec(line);
      if (c) calls.push({ pid: Number(m[1]), name: c[1], args: c[2], ret: c[3] });
    }
    files.set(Number(m[1]), calls);
  }
  return files;
}

test('strace of compose up matches compose plan: ip commands, network namespace mounts, each container\'s mounts', { skip, timeout: 150_000 }, async () => {
  chmodSync(dir, 0o755);
  mkdirSync(bin);
  // wrappers: nsenter passes the namespace it enters to ip through the environment; ip logs each batch line
  writeFileSync(join(bin, 'nsenter'), `#!/bin/sh\nNIWA_TEST_NETNS="\${1#--net=}" exec ${tool('nsenter')} "$@"\n`, { mode: 0o755 });
  writeFileSync(join(bin, 'ip'), `#!/bin/sh\nif [ "$1" = "-batch" ] || [ "$2" = "-batch" ]; then\n  in=$(cat)\n  printf '%s\\n' "$in" | sed "s|^|$NIWA_TEST_NETNS\\t|" >> ${log}\n  printf '%s\\n' "$in" | exec ${tool('ip')} "$@"\nfi\nexec ${tool('ip')} "$@"\n`, { mode: 0o755 });
  writeFileSync(join(dir, 'compose.yaml'), [
    'services:',
    '  a:',
    '    command: ["/bin/sh", "-c", "trap \'exit 0\' TERM; while :; do sleep 0.2; done"]',
    '    volumes: ["vol:/data"]',
    '    stop_grace_period: 1s',
    '  b:',
    '    command: ["/bin/sh", "-c", "trap \'exit 0\' TERM; while :; do sleep 0.2; done"]',
    '    depends_on: [a]',
    '    networks: [default, back]',
    '    stop_grace_period: 1s',
    'networks:',
    '  back: {}',
    'volumes:',
    '  vol: {}',
    '',
  ].join('\n'));
  const p = compose(['plan', '--json']);
  assert.equal(p.status, 0, p.stderr);
  const plan = JSON.parse(p.stdout) as ProjectPlan;

  // strace follows the supervisor up starts too, so it ends only after `down`
  const strace = spawn('strace', ['-ff', '-qq', '-s', '512', '-o', join(dir, 'trace'), '-e', 'trace=execve,clone,clone3,mount,sethostname,pivot_root',
    process.execPath, niwaBin, 'compose', '-f', join(dir, 'compose.yaml'), '-p', project, 'up', '-d'], { env: env(), cwd: repoRoot, stdio: 'ignore' });
  const ended = new Promise((r) => strace.on('exit', r));
  const t0 = Date.now();
  for (;;) {
    const rows = compose(['ps', '--json']);
    const live = rows.status === 0 ? (JSON.parse(rows.stdout) as { state: string }[]).filter((r) => r.state === 'running').length : 0;
    if (live === 2) break;
    assert.ok(Date.now() - t0 < 60_000, 'both services running');
    await new Promise((r) => setTimeout(r, 300));
  }
  await new Promise((r) => setTimeout(r, 500));
  const ipLines = readFileSync(log, 'utf8').split('\n').filter(Boolean);
  assert.equal(compose(['down', '-v', '-t', '1']).status, 0);
  await Promise.race([ended, new Promise((r) => setTimeout(r, 30_000))]);

  // every ip command of the plan ran, and nothing else, in the plan's order within each namespace
  const ipSteps = plan.steps.filter((s): s is Extract<ProjectStep, { op: 'ip' }> => s.op === 'ip');
  const planned = ipSteps.map((s) => `${s.netns ?? ''}\t${s.args.join(' ')}`);
  const ran = ipLines;
  assert.deepEqual([...ran].sort(), [...planned].sort(), 'the same ip commands');
  for (const ns of new Set(planned.map((l) => l.split('\t')[0]))) {
    assert.deepEqual(ran.filter((l) => l.split('\t')[0] === ns), planned.filter((l) => l.split('\t')[0] === ns), `order in namespace '${ns || 'host'}'`);
  }
  assert.ok(ipSteps.some((s) => s.args[0] === 'link' && s.args.includes('veth')), 'veths were planned');
  assert.ok(ipSteps.some((s) => s.args[0] === 'addr'), 'addresses were planned');

  const files = traceFiles('trace');
  const all = [...files.values()].flat();
  // the network namespace files: one nsfs bind mount per planned netns step
  const nsMounts = all.filter((c) => c.name === 'mount' && /^"\/proc\/(self|\d+)\/ns\/net", /.test(c.args)).map((c) => JSON.parse(c.args.split(', ')[1]) as string);
  const nsPlanned = plan.steps.filter((s) => s.op === 'netns' && s.action === 'add').map((s) => (s as { path: string }).path);
  assert.deepEqual(nsMounts.sort(), nsPlanned.sort());
  // each container: the mounts before its root switch are its launch plan's, in order
  for (const l of plan.steps.filter((s): s is Extract<ProjectStep, { op: 'launch' }> => s.op === 'launch')) {
    const hostname = l.spec!.hostname!;
    const child = [...files.values()].find((cs) => cs.some((c) => c.name === 'sethostname' && c.args.startsWith(JSON.stringify(hostname))));
    assert.ok(child, `the container of ${l.service} was traced`);
    const pivot = child!.findIndex((c) => c.name === 'pivot_root');
    const traced = child!.slice(0, pivot).filter((c) => c.name === 'mount');
    const steps = l.plan!.steps.filter((s) => s.phase === 'child');
    const mounts = steps.slice(0, steps.findIndex((s) => s.op === 'pivot_root')).filter((s): s is Extract<Step, { op: 'mount' }> => s.op === 'mount');
    assert.equal(traced.length, mounts.length, `${l.service}: one mount(2) per planned mount step`);
    mounts.forEach((s, i) => {
      const [src, , fstype] = traced[i].args.split(', ');
      assert.equal(src, s.source === null ? 'NULL' : JSON.stringify(s.source), `${l.service} mount ${i}: source`);
      assert.equal(fstype, s.fstype === null ? 'NULL' : JSON.stringify(s.fstype), `${l.service} mount ${i}: type`);
    });
    // the /etc/hosts and resolv.conf the project plan writes are what the container binds
    const hosts = plan.steps.find((s) => s.op === 'file' && s.service === l.service && s.path.includes('/hosts/'));
    assert.ok(hosts && mounts.some((m) => m.source === (hosts as { path: string }).path), `${l.service}: its /etc/hosts is bound`);
  }
});
