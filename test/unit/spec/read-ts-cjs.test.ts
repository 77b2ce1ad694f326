// A .container.ts outside any ESM package is compiled as CommonJS by tsx: the loader must still
// find its default export, and its 'niwa' import resolves to the running niwa (no install there).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadSpec } from '../../../src/spec/load/index.js';
import { UserError } from '../../../src/errors.js';

test('a TS spec in a CommonJS directory loads', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'niwa-cjs-'));
  try {
    writeFileSync(join(dir, 'a.container.ts'), "export default { name: 'a', hostname: 'h', namespaces: ['mount', 'uts'], process: { args: ['/bin/true'] } };\n");
    const s = await loadSpec(join(dir, 'a.container.ts'));
    assert.equal(s.name, 'a');
    assert.equal(s.hostname, 'h');
    writeFileSync(join(dir, 'b.container.ts'), "import { defineContainer } from 'niwa';\nexport default defineContainer({ name: 'b', process: { args: ['/bin/true'] } });\n");
    assert.equal((await loadSpec(join(dir, 'b.container.ts'))).name, 'b');
    writeFileSync(join(dir, 'c.container.ts'), "import { nope } from './missing';\nexport default nope;\n");
    await assert.rejects(loadSpec(join(dir, 'c.container.ts')), (e: UserError) => {
      assert.equal(e.code, 'E_SPEC_LOAD');
      assert.match(e.details[0].hint ?? '', /does not compile/);
      return true;
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
