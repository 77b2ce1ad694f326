// TypeScript specs outside the repository: `import ... from 'niwa'` resolves to the running niwa
// (CommonJS and ESM specs), the package's types check a spec under tsc with plain settings (a
// misspelled capability is a compile error), `niwa init --ts` writes a tsconfig.json, and builder
// specs get file:line:col in errors. Through the real CLI (bin/niwa.js → dist).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, symlinkSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { niwa, repoRoot } from '../../helpers.js';
import { tempTree } from './spec-helpers.js';
import { pathToFileURL } from 'node:url';

const tsc = join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc');
const typecheck = (dir: string) => spawnSync(process.execPath, [tsc, '--noEmit', '-p', dir], { encoding: 'utf8' });

const PLAIN = `import { defineContainer } from 'niwa';
export default defineContainer({
  name: 'outside',
  hostname: 'outside',
  process: { args: ['/bin/true'] },
  capabilities: { drop: ['CAP_NET_RAW'], add: ['sys_time'] },
  stop_signal: 'SIGTERM',
  seccomp: { default_action: 'allow', syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'errno', errno: 'EPERM' }] },
});
`;

test('a spec in a temp dir outside the repository imports from niwa and loads (CommonJS and ESM)', () => {
  const d = tempTree({ 'a.container.ts': PLAIN, 'esm/package.json': '{"type":"module"}', 'esm/b.container.ts': PLAIN.replace("'outside'", "'esm-one'") });
  assert.ok(!d.startsWith(repoRoot));
  const r = niwa(['plan', '--json', join(d, 'a.container.ts')]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /"outside"/);
  const e = niwa(['validate', join(d, 'esm', 'b.container.ts')]);
  assert.equal(e.status, 0, e.stderr);
  // Nothing left behind next to the spec.
  assert.ok(!existsSync(join(d, 'node_modules')));
});

test('builder specs outside the repository load and point errors at the call (file:line:col)', () => {
  const d = tempTree({
    'b.container.ts': `import { container } from 'niwa';
// .memory('not this one') in a comment does not count
export default container('built')
  .unshare('uts', 'mount')
  .memory('lots')
  .capDrop('NET_RAW')
  .tmpfs('/a')
  .tmpfs('relative')
  .command('/bin/true');
`,
  });
  const r = niwa(['validate', join(d, 'b.container.ts')]);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /b\.container\.ts:5:4: cgroup\.memory: 'lots' is not a size/);
  assert.match(r.stderr, /b\.container\.ts:8:4: mounts\.1\.target/);
  assert.doesNotMatch(r.stderr, /internal error/);
});

test('a barn of three builders: the error points at the call of the builder that made it (the 2nd), not the 1st', () => {
  const d = tempTree({
    'barn.ts': `import { container, defineCompose } from 'niwa';

export default defineCompose({
  services: {
    a: container('a').memory('64m').hostname('a-box')
      .command('/bin/true'),
    b: container('b').memory('64q').hostname('b-box')
      .tmpfs('relative')
      .command('/bin/true'),
    c: container('c').memory('32m').tmpfs('/ok')
      .command('/bin/true'),
    d: { process: { args: ['/bin/true'] }, cgroup: { pids: -3 } },
  },
});
`,
  });
  const r = niwa(['compose', '-f', join(d, 'barn.ts'), 'plan']);
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /barn\.ts:7:23: services\.b\.cgroup\.memory: '64q' is not a size/);
  assert.match(r.stderr, /barn\.ts:8:8: services\.b\.mounts\.0\.target/);
  assert.match(r.stderr, /barn\.ts:12:54: services\.d\.cgroup\.pids/, 'a plain service: at its key');
  assert.doesNotMatch(r.stderr, /barn\.ts:5:/, 'nothing points at builder a');
  // niwa up FILE says the same before starting anything
  const up = niwa(['up', join(d, 'barn.ts')]);
  assert.equal(up.status, 2);
  assert.match(up.stderr, /barn\.ts:7:23: services\.b\.cgroup\.memory/);
});

test('tsc --noEmit checks a spec with the package types; CAP_NET_RAWW is a compile error', () => {
  // Plain settings with niwa in node_modules (what `npm link niwa` makes): the package's "types" export.
  const d = tempTree({
    'tsconfig.json': JSON.stringify({ compilerOptions: { strict: true, module: 'NodeNext', moduleResolution: 'NodeNext', target: 'ES2022', noEmit: true, skipLibCheck: true }, include: ['*.ts'] }),
    'a.container.ts': PLAIN,
  });
  mkdirSync(join(d, 'node_modules'));
  symlinkSync(repoRoot, join(d, 'node_modules', 'niwa'));
  const ok = typecheck(d);
  assert.equal(ok.status, 0, ok.stdout + ok.stderr);
  writeFileSync(join(d, 'a.container.ts'), PLAIN.replace("'CAP_NET_RAW'", "'CAP_NET_RAWW'").replace("'SIGTERM'", "'SIGTREM'").replace("'mkdirat'", "'mkdirr'"));
  const bad = typecheck(d);
  assert.notEqual(bad.status, 0);
  assert.match(bad.stdout, /a\.container\.ts\(6,\d+\): error TS\d+: Type '"CAP_NET_RAWW"' is not assignable to type 'CapabilityName'/);
  assert.match(bad.stdout, /'"SIGTREM"' is not assignable/);
  assert.match(bad.stdout, /'"mkdirr"' is not assignable/);
});

test('init --ts writes a tsconfig.json (when none) under which tsc checks the starter; never overwrites one', () => {
  const d = tempTree();
  const r = niwa(['init', '--ts', 'box'], { cwd: d });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /wrote \.\/tsconfig\.json/);
  const ok = typecheck(d);
  assert.equal(ok.status, 0, ok.stdout + ok.stderr);
  assert.equal(niwa(['validate', join(d, 'box.container.ts')]).status, 0);
  const spec = readFileSync(join(d, 'box.container.ts'), 'utf8');
  writeFileSync(join(d, 'box.container.ts'), spec.replace("drop: ['NET_RAW']", "drop: ['NET_RAWW']"));
  const bad = typecheck(d);
  assert.match(bad.stdout, /box\.container\.ts\(\d+,\d+\): error TS\d+: .*NET_RAWW/);

  const e = tempTree({ 'tsconfig.json': '{"mine": true}' });
  const r2 = niwa(['init', '--ts', 'box'], { cwd: e });
  assert.equal(r2.status, 0, r2.stderr);
  assert.doesNotMatch(r2.stdout, /tsconfig/);
  assert.equal(readFileSync(join(e, 'tsconfig.json'), 'utf8'), '{"mine": true}');
});

test('src/spec/names-generated.ts is what scripts/gen-names.mjs generates', async () => {
  const { generate } = (await import(pathToFileURL(join(repoRoot, 'scripts', 'gen-names.mjs')).href)) as { generate(): string };
  assert.equal(readFileSync(join(repoRoot, 'src', 'spec', 'names-generated.ts'), 'utf8'), generate(), 'run: node scripts/gen-names.mjs');
});
