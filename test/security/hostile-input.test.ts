// Attack: hostile input to the CLI. Names with `../` or `/`, NUL bytes in env, args and paths,
// huge or endless spec and compose files, numbers no kernel takes. Each must end in a clear
// usage/validation error (exit 2, the field or flag named) — never an internal error, never a
// file or cgroup outside niwa's own, and quickly.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { niwa, needsRoot, needsStage, type CliResult } from '../helpers.js';

const skip = needsRoot() || needsStage();
let dir = '';
let state = '';
const env = () => ({ ...process.env, NIWA_STATE_ROOT: state, NIWA_DATA_ROOT: join(dir, 'data') });
const cli = (args: string[]) => niwa(args, { env: env(), timeout: 30_000 });

before(() => {
  if (skip) return;
  dir = mkdtempSync(join(tmpdir(), 'niwa-sec-input-'));
  chmodSync(dir, 0o755);
  state = join(dir, 'state');
});
after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function refused(r: CliResult, what: RegExp, label: string) {
  assert.doesNotMatch(r.stderr, /internal error|a bug/i, `${label}: ${r.stderr}`);
  // run and exec pass a container's status through: their own failures are Docker's 125
  const want = /^(run|exec) /.test(label) ? 125 : 2;
  assert.equal(r.status, want, `${label}: exit ${want} (usage/validation), got ${r.status}: ${r.stderr}`);
  assert.match(r.stderr, what, label);
}

function spec(name: string, body: string): string {
  const f = join(dir, `${name}.container.yaml`);
  writeFileSync(f, body);
  return f;
}

/** Nothing escaped the state root: no directory named like the attack next to it or in the cgroup trees. */
function nothingOutside() {
  assert.deepEqual(readdirSync(dir).filter((n) => !['state', 'data'].includes(n) && !n.endsWith('.yaml') && !n.endsWith('.env')), []);
  for (const c of readdirSync('/sys/fs/cgroup')) assert.equal(existsSync(join('/sys/fs/cgroup', c, 'x')), false);
}

test('names: ../, / and dots in --name, --project and container names are usage errors in every verb', { skip }, () => {
  const ok = spec('ok', 'name: ok\nprocess:\n  args: [/bin/true]\n');
  const cases: [string[], RegExp][] = [
    [['run', '--name', '../x', ok], /invalid container name \(--name\) "\.\.\/x"/],
    [['run', '--name', 'a/b', ok], /invalid container name/],
    [['run', '--name', '.', ok], /invalid container name/],
    [['run', '--project', '../x', ok], /invalid project name \(--project\) "\.\.\/x"/],
    [['run', '-d', '--project', '../../x', ok], /invalid project name/],
    [['run', '-d', '--name', '..', ok], /invalid container name/],
    [['ps', '--project', '../..'], /invalid project name/],
    [['logs', '--project', '../x', 'ok'], /invalid project name/],
    [['logs', '../x'], /invalid container name/],
    [['exec', '../x', '--', '/bin/true'], /invalid container name/],
    [['stop', '../x'], /invalid container name/],
    [['rm', '-f', 'a/../../x'], /invalid container name/],
    [['compose', '-p', '../x', '-f', join(dir, 'compose.yaml'), 'config'], /invalid project name/],
  ];
  writeFileSync(join(dir, 'compose.yaml'), 'services:\n  a:\n    command: [/bin/true]\n');
  for (const [args, msg] of cases) refused(cli(args), msg, args.join(' '));
  refused(cli(['validate', spec('badname', 'name: ../x\nprocess:\n  args: [/bin/true]\n')]), /name/, 'spec name');
  nothingOutside();
});

test('NUL bytes in env, args, paths and env files are validation errors naming the field', { skip }, () => {
  const cases: [string, string, RegExp][] = [
    ['env', 'process:\n  env: {TOKEN: "a\\0b"}\n  args: [/bin/true]\n', /process\.env\.TOKEN: .*NUL/],
    ['envkey', 'process:\n  env: {"A\\0B": x}\n  args: [/bin/true]\n', /process\.env: .*NUL/],
    ['arg', 'process:\n  args: [/bin/echo, "a\\0b"]\n', /process\.args\.1: .*NUL/],
    ['cwd', 'process:\n  cwd: "/tmp\\0/x"\n  args: [/bin/true]\n', /process\.cwd: .*NUL/],
    ['mount', 'mounts: [{type: tmpfs, target: "/mnt\\0x"}]\nprocess:\n  args: [/bin/true]\n', /mounts\.0\.target: .*NUL/],
    ['host', 'hostname: "a\\0b"\nprocess:\n  args: [/bin/true]\n', /hostname: .*NUL/],
  ];
  for (const [n, body, msg] of cases) {
    const f = spec(`nul-${n}`, `name: nul-${n}\n${body}`);
    refused(cli(['validate', f]), msg, `validate ${n}`);
    refused(cli(['run', f]), msg, `run ${n}`);
  }
  writeFileSync(join(dir, 'nul.env'), 'GOOD=1\nBAD=a\0b\n');
  const f = spec('nul-envfile', 'name: nul-envfile\nenv_files: [nul.env]\nprocess:\n  args: [/bin/true]\n');
  refused(cli(['validate', f]), /env_files\.0: .*BAD.*NUL/, 'env file');
  nothingOutside();
});

test('huge and endless spec and compose files are refused quickly with a size message', { skip }, () => {
  const big = join(dir, 'big.container.yaml');
  writeFileSync(big, 'name: big\nprocess:\n  args: [/bin/true]\nannotations:\n' + '  k: v\n'.repeat(10).replace(/k/g, () => 'k' + Math.random().toString(36).slice(2)) + '#'.repeat(50 << 20));
  let t0 = Date.now();
  refused(cli(['validate', big]), /larger than 1 MiB/, 'validate 50 MB spec');
  refused(cli(['run', big]), /larger than 1 MiB/, 'run 50 MB spec');
  assert.ok(Date.now() - t0 < 20_000, `took ${Date.now() - t0} ms`);
  const zero = join(dir, 'zero.container.yaml');
  symlinkSync('/dev/zero', zero);
  t0 = Date.now();
  refused(cli(['validate', zero]), /larger than 1 MiB/, 'endless spec');
  assert.ok(Date.now() - t0 < 10_000);
  const bigCompose = join(dir, 'big-compose.yaml');
  writeFileSync(bigCompose, 'services:\n  a:\n    command: [/bin/true]\n' + '#'.repeat(2 << 20));
  refused(cli(['compose', '-f', bigCompose, 'config']), /larger than 1 MiB/, 'compose');
});

test('YAML alias bombs (a billion laughs in a few hundred bytes) are refused quickly', { skip }, () => {
  const levels = (indent: string) => Array.from({ length: 9 }, (_, i) => `${indent}l${i + 1}: &a${i + 1} [${Array(10).fill(`*a${i}`).join(', ')}]`).join('\n');
  const spec = join(dir, 'bomb.container.yaml');
  writeFileSync(spec, `name: bomb\nx:\n  l0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n${levels('  ')}\nprocess:\n  args: [/bin/true]\n`);
  const compose = join(dir, 'bomb-compose.yaml');
  writeFileSync(compose, `x-l:\n  l0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n${levels('  ')}\nservices:\n  s:\n    command: [/bin/true]\n    labels: {x: *a9}\n`);
  const t0 = Date.now();
  refused(cli(['validate', spec]), /alias expansions/, 'spec');
  refused(cli(['compose', '-f', compose, 'config']), /alias expansions/, 'compose');
  assert.ok(Date.now() - t0 < 20_000, `took ${Date.now() - t0} ms`);
});

test('numbers the kernel would refuse are caught by validate against the host', { skip }, () => {
  const cases: [string, string, RegExp][] = [
    ['cpuset', 'cgroup: {cpuset_cpus: "0,4096"}', /cgroup\.cpuset_cpus: this host has no CPUs 4096/],
    ['cpusetbad', 'cgroup: {cpuset_cpus: "1-0"}', /cgroup\.cpuset_cpus: .*not a list/],
    ['mems', 'cgroup: {cpuset_mems: "7"}', /cgroup\.cpuset_mems: this host has no memory nodes 7/],
    ['cpus', 'cgroup: {cpus: 4096}', /cgroup\.cpus: 4096 CPUs asked for/],
    ['mem', 'cgroup: {memory: 1e30}', /cgroup\.memory: 1e\+30 is too large/],
    ['memstr', 'cgroup: {memory: 99999999999T}', /cgroup\.memory: .*not a size/],
    ['pids', 'cgroup: {pids: 1e30}', /cgroup\.pids: .*too large/],
    ['pidmax', 'cgroup: {pids: 99999999}', /cgroup\.pids: .*kernel's limit/],
    ['tmpfs', 'mounts: [{type: tmpfs, target: /t, size: 1e30}]', /mounts\.0\.size: .*too large/],
    ['rlimit', 'rlimits: {nofile: 1e30}', /rlimits\.nofile: .*too large/],
    ['hugetlb', 'cgroup: {hugetlb: {2MB: 1e300}}', /cgroup\.hugetlb\.2MB: .*too large/],
  ];
  for (const [n, body, msg] of cases) {
    const f = spec(`num-${n}`, `name: num-${n}\n${body}\nprocess:\n  args: [/bin/true]\n`);
    refused(cli(['validate', f]), msg, `validate ${n}`);
    refused(cli(['run', f]), msg, `run ${n}`);
  }
  nothingOutside();
});
