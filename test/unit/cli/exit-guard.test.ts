// The entry point's guards (src/cli/main.ts guardUnfinished): a reader that goes away ends niwa as
// SIGPIPE would (141) without a stack; a command whose work never settles does not exit 0.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { example, niwaBin, repoRoot } from '../../helpers.js';

test('stdout closed by its reader (| head): exit 141, no stack', async () => {
  const child = spawn(process.execPath, [niwaBin, 'plan', '--json', example('hello.container.ts')], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d) => { err += d; });
  child.stdout.destroy(); // the reader is gone before niwa writes (as `| head -0`)
  const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
  assert.equal(code, 141, err);
  assert.doesNotMatch(err, /EPIPE|\n\s+at /);
});

test('a command whose work never settles exits 1 with a message, not 0', () => {
  const main = join(repoRoot, 'dist', 'src', 'cli', 'main.js');
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', `import { guardUnfinished } from ${JSON.stringify(main)}; guardUnfinished(); new Promise(() => {});`], { encoding: 'utf8' });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /stopped before it finished/);
});
