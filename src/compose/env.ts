// The environment a compose project is interpolated with: the `.env` file of the project
// directory (or the --env-file files instead, later ones winning), with the shell's environment
// over it, as Compose does. Also the dotenv parser used for service `env_file:` entries.
import { existsSync } from 'node:fs';
import { readLimited } from '../spec/load/limits.js';
import { join, resolve } from 'node:path';
import { UserError, type ErrorDetail } from '../errors.js';
import { interpolateString } from './interpolate.js';

export interface DotenvLine {
  /** null = the line names a variable without `=`: its value comes from the environment. */
  value: string | null;
  line: number;
}

/**
 * Parse dotenv text: `KEY=value`, `export KEY=value`, `# comments`, unquoted values (trimmed,
 * ` #` starts a comment), 'single quotes' (literal), "double quotes" (escapes \n \t \\ \" and
 * may span lines). Unquoted and double-quoted values are interpolated with the variables above
 * them, then `lookup`. A bare `KEY` line inherits KEY from the environment.
 */
export function parseDotenv(text: string, file: string, lookup: (name: string) => string | undefined = () => undefined): { env: Record<string, string | null>; errors: ErrorDetail[] } {
  const env: Record<string, string | null> = {};
  const errors: ErrorDetail[] = [];
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  const look = (n: string) => (env[n] ?? undefined) ?? lookup(n);
  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    const raw = lines[i];
    const t = raw.trim();
    if (!t || t.startsWith('#')) continue;
    const m = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*(=|$)(.*)$/s.exec(t);
    if (!m) {
      errors.push({ file, line: lineNo, col: 1, message: `not a KEY=VALUE line: ${JSON.stringify(raw)}`, hint: 'each line is NAME=value; comments start with #' });
      continue;
    }
    const [, key, eq] = m;
    if (!eq) { env[key] = null; continue; }
    let rest = m[3].replace(/^\s+/, '');
    let v: string;
    if (rest.startsWith("'")) {
      const end = rest.indexOf("'", 1);
      if (end < 0) { errors.push({ file, line: lineNo, col: raw.indexOf("'") + 1, message: `unterminated single quote in ${key}` }); continue; }
      v = rest.slice(1, end);
    } else if (rest.startsWith('"')) {
      // A double-quoted value may continue over the next lines until the closing quote.
      let body = rest.slice(1);
      let end = closingQuote(body);
      while (end < 0 && i + 1 < lines.length) { body += '\n' + lines[++i]; end = closingQuote(body); }
      if (end < 0) { errors.push({ file, line: lineNo, col: raw.indexOf('"') + 1, message: `unterminated double quote in ${key}` }); continue; }
      v = unescape(body.slice(0, end));
      v = interp(v, key, lineNo);
    } else {
      const hash = rest.search(/\s#/);
      if (hash >= 0) rest = rest.slice(0, hash);
      v = interp(rest.trim(), key, lineNo);
    }
    env[key] = v;
  }
  return { env, errors };

  function interp(s: string, key: string, line: number): string {
    const r = interpolateString(s, look);
    for (const p of r.problems) if (p.kind !== 'missing') errors.push({ file, line, col: 1, field: key, message: p.message, hint: p.hint });
    return r.value;
  }
}

function closingQuote(s: string): number {
  for (let i = 0; i < s.length; i++) {
    if (s[i] === '\\') { i++; continue; }
    if (s[i] === '"') return i;
  }
  return -1;
}

function unescape(s: string): string {
  return s.replace(/\\(.)/gs, (_, c: string) => ({ n: '\n', t: '\t', r: '\r', '"': '"', '\\': '\\', $: '$$' } as Record<string, string>)[c] ?? `\\${c}`);
}

/**
 * Read a dotenv file; a missing file is an error unless `optional`. An error reading the file has no
 * line and names the path tried in its message (the caller locates it at the key that named the file).
 */
export function readDotenv(path: string, lookup: (name: string) => string | undefined, optional = false, what = 'env file'): { env: Record<string, string | null>; errors: ErrorDetail[]; missing?: boolean } {
  let text: string;
  try {
    text = readLimited(path, what.split(' ')[0]);
  } catch (e) {
    if (e instanceof UserError) return { env: {}, errors: [{ message: e.message, hint: e.hint }], missing: true };
    const code = (e as NodeJS.ErrnoException).code;
    if (optional && code === 'ENOENT') return { env: {}, errors: [], missing: true };
    return { env: {}, errors: [{ message: `cannot read ${what} ${path}: ${code ?? (e as Error).message}` }], missing: true };
  }
  return parseDotenv(text, path, lookup);
}

export interface ProjectEnv {
  /** What `${VAR}` sees: dotenv values with the shell's environment over them. */
  vars: Record<string, string>;
  /** The dotenv files read, in order. */
  files: string[];
}

/**
 * Variables of dotenv files read in order, later ones winning; a bare `KEY` takes its value from
 * `outer` (the shell, or the including project), which also serves `${VAR}` inside the files.
 */
export function readEnvFiles(files: string[], outer: Record<string, string>, errors: ErrorDetail[]): Record<string, string> {
  const dot: Record<string, string> = {};
  for (const f of files) {
    const r = readDotenv(f, (n) => outer[n] ?? dot[n]);
    errors.push(...r.errors);
    for (const [k, v] of Object.entries(r.env)) {
      if (v !== null) dot[k] = v;
      else if (outer[k] !== undefined) dot[k] = outer[k];
    }
  }
  return dot;
}

/**
 * The interpolation environment: `envFiles` (relative to `cwd`; each must exist) or else
 * `<projectDir>/.env` when it exists; `shell` wins over both.
 */
export function projectEnv(opts: { projectDir: string; cwd: string; envFiles?: string[]; shell: Record<string, string | undefined> }): ProjectEnv {
  const shell = Object.fromEntries(Object.entries(opts.shell).filter((e): e is [string, string] => e[1] !== undefined));
  const explicit = opts.envFiles && opts.envFiles.length > 0;
  const files = explicit ? opts.envFiles!.map((f) => resolve(opts.cwd, f)) : [join(opts.projectDir, '.env')].filter((f) => existsSync(f));
  const errors: ErrorDetail[] = [];
  const dot = readEnvFiles(files, shell, errors);
  if (errors.length) throw new UserError('E_COMPOSE_ENV', `cannot use the env file${files.length > 1 ? 's' : ''}`, errors, explicit ? '--env-file paths are relative to the current directory' : undefined);
  return { vars: { ...dot, ...shell }, files };
}
