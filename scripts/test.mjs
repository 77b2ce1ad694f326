// Test runner: every *.test.js under dist/test (compiled from test/), with node's test runner.
// Integration tests need root and real kernel features; they skip themselves with a reason elsewhere.
// Usage: node scripts/test.mjs [filter-substring ...]
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, dirname, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const walk = (d) => readdirSync(d).flatMap((f) => {
  const p = join(d, f);
  return statSync(p).isDirectory() ? walk(p) : p.endsWith('.test.js') ? [p] : [];
});
const filters = process.argv.slice(2);
const files = walk(join(root, 'dist', 'test'))
  .filter((f) => !filters.length || filters.some((s) => relative(root, f).includes(s)))
  .sort();
// One run of node's test runner, so its closing summary counts every test. Files run one at a
// time: integration tests share the kernel (cgroups, mounts), and unit tests are quick anyway.
const unit = files.filter((f) => !f.includes(join('test', 'integration')));
const integ = files.filter((f) => f.includes(join('test', 'integration')));
const r = spawnSync(process.execPath, ['--test', '--test-concurrency=1', ...unit, ...integ], { cwd: root, stdio: 'inherit' });
process.exit(r.status ?? 1);
