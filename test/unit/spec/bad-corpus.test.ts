// The bad-spec corpus: every file in test/fixtures/bad/ must fail to load with exactly the errors
// its header names. Header lines: `# expect: LINE:COL FIELD: TEXT` (YAML) or `// expect: FIELD: TEXT`
// (TS, no positions); FIELD may be empty for file-level errors; TEXT is a substring of the message
// or the hint. `# options: {json}` passes LoadOptions (e.g. hostCgroupControllers).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fixture } from '../../helpers.js';
import { loadSpec } from '../../../src/spec/load/index.js';
import { UserError, formatDetail, type ErrorDetail } from '../../../src/errors.js';

interface Expect { line?: number; col?: number; field: string; text: string }

function parseHeader(text: string): { expects: Expect[]; options: Record<string, unknown> } {
  const expects: Expect[] = [];
  let options = {};
  for (const l of text.split('\n')) {
    const m = /^(?:#|\/\/) expect: (?:(\d+):(\d+) )?([^:\s]*): (.+)$/.exec(l);
    if (m) { expects.push({ line: m[1] ? Number(m[1]) : undefined, col: m[2] ? Number(m[2]) : undefined, field: m[3], text: m[4] }); continue; }
    const o = /^(?:#|\/\/) options: (.+)$/.exec(l);
    if (o) { options = JSON.parse(o[1]); continue; }
    if (!/^(#|\/\/)/.test(l)) break;
  }
  return { expects, options };
}

const matches = (d: ErrorDetail, e: Expect) =>
  (d.field ?? '') === e.field &&
  (d.message.includes(e.text) || (d.hint ?? '').includes(e.text)) &&
  (e.line === undefined || (d.line === e.line && d.col === e.col));

const dir = fixture('bad');
const files = readdirSync(dir).filter((f) => /\.container\.(ya?ml|ts)$/.test(f)).sort();

test('the corpus has at least 40 bad specs', () => {
  assert.ok(files.length >= 40, `only ${files.length} files`);
});

for (const f of files) {
  test(`bad spec ${f}`, async () => {
    const path = join(dir, f);
    const { expects, options } = parseHeader(readFileSync(path, 'utf8'));
    assert.ok(expects.length > 0, `${f} has no '# expect:' header`);
    const err = await loadSpec(path, options).then(
      () => assert.fail(`${f} loaded without an error`),
      (e: unknown) => e,
    );
    assert.ok(err instanceof UserError, `${f}: expected a UserError, got ${String(err)}`);
    const got = err.details.length ? err.details : [{ message: err.message, hint: err.hint, file: path }];
    const shown = got.map((d) => '  ' + formatDetail(d)).join('\n');
    for (const e of expects) {
      assert.ok(got.some((d) => matches(d, e)), `${f}: no error matching ${e.line ?? '?'}:${e.col ?? '?'} ${e.field}: ${e.text}\ngot:\n${shown}`);
    }
    assert.equal(got.length, expects.length, `${f}: expected ${expects.length} error(s), got:\n${shown}`);
    for (const d of got) {
      assert.ok(d.file, `${f}: every error names its file`);
      assert.ok(!/must NOT|must match|must be equal/.test(d.message), `${f}: raw ajv text leaked: ${d.message}`);
      if (f.endsWith('.yaml') && d.field !== undefined) assert.ok(d.line && d.col, `${f}: YAML errors carry line and col (${d.field})`);
    }
  });
}
