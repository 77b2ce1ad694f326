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
// Unit tests first (in parallel), then integration tests one file at a time (they share the kernel).
const unit = files.filter((f) => !f.includes(`${join('test', 'integration')}`));
const integ = files.filter((f) => f.includes(`${join('test', 'integration')}`));
let status = 0;
for (const [set, conc] of [[unit, 2], [integ, 1]]) {
  if (!set.length) continue;
  const r = spawnSync(process.execPath, ['--test', `--test-concurrency=${conc}`, ...set], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) status = r.status ?? 1;
}
process.exit(status);
