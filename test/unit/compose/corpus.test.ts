// The compose corpus (test/fixtures/compose/*): every project loads and maps fully, warns
// precisely, or fails with exactly the expected problems. See the corpus README.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadCompose, type LoadComposeOptions } from '../../../src/compose/index.js';
import { formatDetail, UserError, type ErrorDetail } from '../../../src/errors.js';
import { fixture } from '../../helpers.js';

const CORPUS = fixture('compose');
const DATA = '/niwa-test-data';
const dirs = readdirSync(CORPUS, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name).filter((d) => existsSync(join(CORPUS, d, 'options.json')) || readdirSync(join(CORPUS, d)).some((f) => f.endsWith('.yaml'))).sort();

function scrub(v: unknown, dir: string): unknown {
  return JSON.parse(JSON.stringify(v ?? null).split(dir).join('<dir>').split(DATA).join('<data>'));
}
const line = (w: ErrorDetail, dir: string) => scrub(`${w.file && w.file !== join(dir, 'compose.yaml') ? w.file + ':' : ''}${w.line ?? '?'}:${w.col ?? '?'} ${w.field ?? ''}: ${w.message}`, dir) as string;

async function outcome(dir: string): Promise<unknown> {
  const optsFile = join(dir, 'options.json');
  const extra = (existsSync(optsFile) ? JSON.parse(readFileSync(optsFile, 'utf8')) : {}) as LoadComposeOptions;
  try {
    const r = await loadCompose({ cwd: dir, env: {}, dataRoot: DATA, ...extra, load: { exists: (p) => p.startsWith(dir) || existsSync(p) } });
    const specs: Record<string, unknown> = {};
    const compose: Record<string, unknown> = {};
    for (const [n, s] of r.services) {
      specs[n] = s.spec;
      const c: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(s.compose)) {
        if (['service', 'profiles'].includes(k)) continue;
        if (Array.isArray(v) ? v.length : v && typeof v === 'object' ? Object.keys(v).length : v !== false && !(k === 'replicas' && v === 1)) c[k] = v;
      }
      compose[n] = c;
      assert.equal(!!s.canonical, (s.spec.process?.args?.length ?? 0) > 0 || typeof s.spec.rootfs === 'object', `${n}: canonicalised exactly when it has a command or an image to take one from`);
    }
    return scrub({ project: r.project.name, levels: r.plan.levels, warnings: r.warnings.map((w) => line(w, dir)), specs, compose }, dir);
  } catch (e) {
    if (!(e instanceof UserError)) throw e;
    return scrub({ error: e.message.replace(dir, '<dir>'), problems: e.details.map((d) => line(d, dir)) }, dir);
  }
}

test('the corpus has at least 20 projects', () => assert.ok(dirs.length >= 20, `${dirs.length} projects`));

for (const d of dirs) {
  test(`corpus: ${d}`, async () => {
    const dir = join(CORPUS, d);
    const got = await outcome(dir);
    const file = join(dir, 'expected.json');
    if (process.env.UPDATE_COMPOSE_CORPUS) writeFileSync(file, JSON.stringify(got, null, 2) + '\n');
    assert.ok(existsSync(file), `${d}: expected.json is missing (UPDATE_COMPOSE_CORPUS=1 writes it)`);
    assert.deepEqual(got, JSON.parse(readFileSync(file, 'utf8')));
  });
}

void formatDetail;
