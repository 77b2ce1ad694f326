// Canonicalise the environment: env_files (KEY=VALUE lines) first, process.env over them,
// then the defaults PATH, HOME (the user's home) and TERM (with a tty) where unset.
import { readLimited, NUL_MESSAGE } from './limits.js';
import { UserError } from '../../errors.js';
import { resolve } from 'node:path';
import { DEFAULT_PATH, DEFAULT_TERM } from '../defaults.js';
import type { ContainerSpec } from '../types.js';
import { report, type LoadContext } from './context.js';

/** Parse an env file: KEY=VALUE per line, `#` comments, blank lines, optional `export `, quotes. */
export function parseEnvFile(text: string): { env: Record<string, string>; bad: { line: number; text: string }[] } {
  const env: Record<string, string> = {};
  const bad: { line: number; text: string }[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith('#')) return;
    const m = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)=(.*)$/.exec(line);
    if (!m) { bad.push({ line: i + 1, text: raw }); return; }
    let v = m[2];
    if (v.length >= 2 && ((v.startsWith('"') && v.endsWith('"')) || (v.startsWith("'") && v.endsWith("'")))) v = v.slice(1, -1);
    env[m[1]] = v;
  });
  return { env, bad };
}

export function canonEnv(spec: ContainerSpec, ctx: LoadContext, home: string): Record<string, string> {
  // An image's Env is the base: env_files and process.env go over it.
  const env: Record<string, string> = { ...(ctx.image?.applied.env ?? {}) };
  (spec.env_files ?? []).forEach((f, i) => {
    const field = `env_files.${i}`;
    const path = resolve(ctx.dir, f);
    let text: string;
    try {
      text = readLimited(path, 'env');
    } catch (e) {
      if (e instanceof UserError) { report(ctx, field, e.message, e.hint); return; }
      report(ctx, field, `cannot read env file ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, 'env_files are relative to the spec file\'s directory');
      return;
    }
    const parsed = parseEnvFile(text);
    for (const b of parsed.bad) ctx.errors.push({ file: path, line: b.line, col: 1, field, message: `not a KEY=VALUE line: ${JSON.stringify(b.text)}`, hint: 'each line is NAME=value; comments start with #' });
    for (const [k, v] of Object.entries(parsed.env)) if ((k + v).includes('\0')) report(ctx, field, `${path}: variable ${JSON.stringify(k.replace(/\0/g, '\\0'))} ${NUL_MESSAGE}`);
    Object.assign(env, parsed.env);
  });
  Object.assign(env, spec.process?.env ?? {});
  env.PATH ??= DEFAULT_PATH;
  env.HOME ??= home;
  if (spec.process?.tty) env.TERM ??= DEFAULT_TERM;
  return env;
}
