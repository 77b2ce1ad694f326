// Start-up stays lean: `niwa run` and plain/JSON progress never load Ink or React; only the live view does.
// A module-resolve hook records every URL the CLI process resolves.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { niwaBin, repoRoot } from '../../helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'niwa-lean-'));
after(() => rmSync(dir, { recursive: true, force: true }));
writeFileSync(join(dir, 'hooks.mjs'), [
  "import { appendFileSync } from 'node:fs';",
  'export async function resolve(spec, ctx, next) {',
  '  const r = await next(spec, ctx);',
  "  appendFileSync(process.env.NIWA_TRACE_FILE, r.url + '\\n');",
  '  return r;',
  '}',
].join('\n'));
writeFileSync(join(dir, 'register.mjs'), `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(join(dir, 'hooks.mjs')).href)});\n`);

let n = 0;
function loaded(args: string[]): string[] {
  const trace = join(dir, `trace-${n++}`);
  writeFileSync(trace, '');
  const r = spawnSync(process.execPath, ['--import', pathToFileURL(join(dir, 'register.mjs')).href, niwaBin, ...args], {
    cwd: repoRoot, encoding: 'utf8', timeout: 30_000, env: { ...process.env, NIWA_TRACE_FILE: trace },
  });
  assert.equal(r.status, 0, r.stderr);
  return existsSync(trace) ? readFileSync(trace, 'utf8').split('\n').filter(Boolean) : [];
}
const ui = (urls: string[]) => urls.filter((u) => /\/node_modules\/(ink|react|react-reconciler|yoga-layout)\//.test(u));

test('niwa run --help loads no Ink or React (and the trace sees the modules it does load)', () => {
  const urls = loaded(['run', '--help']);
  assert.ok(urls.some((u) => u.endsWith('/dist/src/cli/run.js')), `the hook saw run.js: ${urls.join('\n')}`);
  assert.deepEqual(ui(urls), []);
});

test('plain and JSON progress load no Ink or React; the live view does', () => {
  assert.deepEqual(ui(loaded(['__ui-demo', '--services', '2', '--speed', '20', '--duration', '0.3', '--progress', 'plain'])), []);
  assert.deepEqual(ui(loaded(['__ui-demo', '--services', '2', '--speed', '20', '--duration', '0.3', '--json'])), []);
  const live = ui(loaded(['__ui-demo', '--services', '2', '--speed', '20', '--duration', '0.3', '--progress', 'tty']));
  assert.ok(live.some((u) => u.includes('/node_modules/ink/')), 'the forced live view loads ink');
});
