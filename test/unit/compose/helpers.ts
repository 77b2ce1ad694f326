// Shared by the compose tests: a temporary project directory with files, and loading it.
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after } from 'node:test';
import { loadCompose, type LoadComposeOptions } from '../../../src/compose/index.js';
import { formatDetail, UserError } from '../../../src/errors.js';

const dirs: string[] = [];
after(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

/** A fresh directory (removed after the test file) holding `files` (path → text). */
export function project(files: Record<string, string>, name = 'proj'): string {
  const root = mkdtempSync(join(tmpdir(), 'niwa-compose-'));
  dirs.push(root);
  const dir = join(root, name);
  mkdirSync(dir);
  for (const [p, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, p)), { recursive: true });
    writeFileSync(join(dir, p), text);
  }
  return dir;
}

/** loadCompose with an empty environment and a data root under the project, unless given. */
export function load(dir: string, opts: LoadComposeOptions = {}) {
  return loadCompose({ cwd: dir, env: {}, dataRoot: join(dir, '.data'), ...opts });
}

/** The UserError a load throws, its details formatted one per line. */
export async function loadError(dir: string, opts: LoadComposeOptions = {}): Promise<{ error: UserError; text: string }> {
  try {
    await load(dir, opts);
  } catch (e) {
    if (e instanceof UserError) return { error: e, text: e.details.map(formatDetail).join('\n') };
    throw e;
  }
  throw new Error('expected the load to fail');
}
