// The docs cannot drift: the generated references equal what scripts/gen-docs.mjs makes from the
// code's own tables, and every relative link in README.md, docs/*.md and the course README points
// at a file that exists in the repository.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { repoRoot } from '../../helpers.js';

test('docs/spec-reference.md and docs/compose-support.md are what scripts/gen-docs.mjs generates', async () => {
  const { generate } = (await import(pathToFileURL(join(repoRoot, 'scripts', 'gen-docs.mjs')).href)) as { generate(): Promise<Record<string, string>> };
  for (const [file, text] of Object.entries(await generate())) {
    assert.equal(readFileSync(join(repoRoot, file), 'utf8'), text, `${file} is stale: run node scripts/gen-docs.mjs`);
  }
});

test('the spec reference covers every schema field with a type and an example', () => {
  const ref = readFileSync(join(repoRoot, 'docs', 'spec-reference.md'), 'utf8');
  const schema = JSON.parse(readFileSync(join(repoRoot, 'schema', 'container.schema.json'), 'utf8')) as { properties: Record<string, unknown> };
  for (const k of Object.keys(schema.properties)) assert.match(ref, new RegExp(`^## ${k}$`, 'm'), k);
  for (const field of ['cgroup.memory', 'mounts[].target', 'process.args', 'healthcheck.interval', 'namespaces.*.path']) {
    assert.match(ref, new RegExp(`^### \`${field.replace(/[.*[\]]/g, '\\$&')}\`\\n\\nType: .* · Example: `, 'm'), field);
  }
  assert.match(ref, /^### `process\.cwd`\n\nType: `absolutePath: string` · Default: `\/`/m);
});

/** The markdown files whose links must resolve. */
function docs(): string[] {
  const inDocs = readdirSync(join(repoRoot, 'docs')).filter((f) => f.endsWith('.md')).map((f) => join(repoRoot, 'docs', f));
  return [join(repoRoot, 'README.md'), join(repoRoot, 'examples', 'course', 'README.md'), ...inDocs];
}

test('every relative link in README.md and docs/*.md resolves to a file in the repository', () => {
  const broken: string[] = [];
  for (const file of docs()) {
    // Code spans and blocks are not links (the spec reference shows regex patterns in them).
    const text = readFileSync(file, 'utf8').replace(/```[\s\S]*?```/g, '').replace(/`[^`\n]*`/g, '');
    for (const m of text.matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) {
      const target = m[1];
      if (/^([a-z]+:|#)/i.test(target)) continue;
      const path = resolve(dirname(file), decodeURI(target.split('#')[0]));
      const inside = !relative(repoRoot, path).startsWith('..');
      if (!inside || !existsSync(path)) broken.push(`${relative(repoRoot, file)}: ${target}${inside ? '' : ' (outside the repository)'}`);
    }
    // Paths written as code that name a repository file (docs/x.md, src/…, ../…) must exist too.
    for (const m of readFileSync(file, 'utf8').matchAll(/`((?:\.\.\/|docs\/|src\/|test\/|examples\/|schema\/|scripts\/|native\/|bench\/)[\w./-]+\.(?:md|ts|tsx|yaml|json|mjs|c))`/g)) {
      const path = resolve(m[1].startsWith('../') ? dirname(file) : repoRoot, m[1]);
      if (relative(repoRoot, path).startsWith('..') || !existsSync(path)) broken.push(`${relative(repoRoot, file)}: \`${m[1]}\``);
    }
  }
  assert.deepEqual(broken, []);
});

test('workshop commands do not assume npx: the README says how to put niwa on PATH', () => {
  const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');
  assert.match(readme, /npm link/);
  assert.match(readme, /npm install -g \./);
  assert.doesNotMatch(readFileSync(join(repoRoot, 'examples', 'course', 'README.md'), 'utf8'), /npx niwa/);
  for (const f of readdirSync(join(repoRoot, 'examples', 'course')).filter((x) => x.endsWith('.yaml'))) {
    assert.doesNotMatch(readFileSync(join(repoRoot, 'examples', 'course', f), 'utf8'), /npx niwa/, f);
  }
});
