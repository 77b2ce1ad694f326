// Which compose files a project is made of, and its name — as Compose decides them:
// -f files (or COMPOSE_FILE), else compose.yaml / compose.yml / docker-compose.yml /
// docker-compose.yaml in the current directory or the nearest parent that has one, plus its
// override file; the project name from -p, COMPOSE_PROJECT_NAME, top-level `name:`, or the
// project directory's name, lower-cased with characters Compose does not allow removed. The name is
// known before the files are interpolated: COMPOSE_PROJECT_NAME is one of their variables.
import { existsSync } from 'node:fs';
import { basename, delimiter, dirname, extname, join, resolve } from 'node:path';
import { UserError } from '../errors.js';
import { interpolateString, type Lookup } from './interpolate.js';
import { readComposeFile } from './read.js';

export const DEFAULT_FILES = ['compose.yaml', 'compose.yml', 'docker-compose.yml', 'docker-compose.yaml'];
export const OVERRIDE_FILES = ['compose.override.yaml', 'compose.override.yml', 'docker-compose.override.yml', 'docker-compose.override.yaml'];

/** The compose files to load, absolute, in merge order. */
export function discoverFiles(opts: { files?: string[]; cwd: string; env: Record<string, string | undefined> }): string[] {
  if (opts.files?.length) return opts.files.map((f) => (f === '-' ? f : resolve(opts.cwd, f)));
  const fromEnv = opts.env.COMPOSE_FILE;
  if (fromEnv) {
    const sep = opts.env.COMPOSE_PATH_SEPARATOR || delimiter;
    return fromEnv.split(sep).filter(Boolean).map((f) => resolve(opts.cwd, f));
  }
  for (let dir = resolve(opts.cwd); ; dir = dirname(dir)) {
    const found = DEFAULT_FILES.map((f) => join(dir, f)).filter((f) => existsSync(f));
    if (found.length) {
      const override = OVERRIDE_FILES.map((f) => join(dir, f)).find((f) => existsSync(f));
      return override ? [found[0], override] : [found[0]];
    }
    if (dirname(dir) === dir) break;
  }
  throw new UserError('E_COMPOSE_NO_FILE', `no compose file found in ${opts.cwd} or any parent directory`, [], `create compose.yaml, or name the file with -f (looked for ${DEFAULT_FILES.join(', ')})`);
}

/**
 * The top-level `name:` of the YAML files, interpolated (the last file that sets one wins, as in the
 * merge), read ahead of the load. A file that cannot be read is skipped here: the load reports it.
 */
export function nameInFiles(files: string[], lookup: Lookup): string | undefined {
  let name: string | undefined;
  for (const f of files) {
    if (f === '-' || ['.ts', '.mts', '.js', '.mjs'].includes(extname(f))) continue;
    let data: unknown;
    try { data = readComposeFile(f); } catch { continue; }
    const n = (data as { name?: unknown } | null)?.name;
    if (typeof n === 'string' && n) name = interpolateString(n, lookup).value;
  }
  return name;
}

/** Compose's normalisation of a name: lower case, only a-z 0-9 _ -, starting with a letter or digit. */
export function normalizeProjectName(s: string): string {
  return s.toLowerCase().replace(/[^a-z0-9_-]/g, '').replace(/^[_-]+/, '');
}

const VALID_NAME = /^[a-z0-9][a-z0-9_-]*$/;

/** The project name, and where it came from (for messages). */
export function projectName(opts: { explicit?: string; env: Record<string, string | undefined>; fileName?: unknown; projectDir: string }): { name: string; from: string } {
  const check = (v: string, from: string) => {
    if (!VALID_NAME.test(v)) {
      throw new UserError('E_COMPOSE_PROJECT_NAME', `invalid project name ${JSON.stringify(v)} (from ${from})`, [], "a project name is lower-case letters, digits, '_' and '-', starting with a letter or digit");
    }
    return { name: v, from };
  };
  if (opts.explicit) return check(opts.explicit, '-p');
  if (opts.env.COMPOSE_PROJECT_NAME) return check(opts.env.COMPOSE_PROJECT_NAME, 'COMPOSE_PROJECT_NAME');
  if (typeof opts.fileName === 'string' && opts.fileName) return check(opts.fileName, 'the top-level name:');
  const n = normalizeProjectName(basename(opts.projectDir));
  if (!n) throw new UserError('E_COMPOSE_PROJECT_NAME', `cannot derive a project name from the directory ${opts.projectDir}`, [], 'give one with -p NAME or a top-level name: field');
  return { name: n, from: 'the directory name' };
}
