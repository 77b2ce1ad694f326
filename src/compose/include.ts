// Compose's top-level `include:` (compose-spec "include"): each entry names a compose file (or a
// list of files, merged like -f files) loaded as a sub-project of its own —
//   - its relative paths resolve against its project directory: `project_directory` if given,
//     else the (first) included file's directory;
//   - it is interpolated with its own env files (`env_file`, else `<project_directory>/.env`),
//     with the including project's variables over them (the including project wins);
//   - its own includes are followed (a cycle is an error that names it);
// and then its services, networks, volumes, secrets and configs are added to the including
// project, after the including project's -f files are merged. A name defined on both sides is an
// error naming both places, unless both definitions are the same.
// Paths in an entry (path, project_directory, env_file) are relative to the including project's
// directory. This module has the pure parts; index.ts drives the loading.
import { existsSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import type { ErrorDetail } from '../errors.js';
import { readEnvFiles } from './env.js';
import { cloneLoc, copyLoc, detailAt, locate, setSelfLoc, type Loc } from './loc.js';
import { hostPath } from './normalize.js';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

/** One `include:` entry, its paths absolute. */
export interface IncludeEntry {
  /** The index under `include:`. */
  index: number;
  /** The compose files, merged in order. */
  paths: string[];
  /** The sub-project's directory. */
  projectDir: string;
  /** Explicit env files (`env_file`), absolute; undefined = `<projectDir>/.env` when it exists. */
  envFiles?: string[];
}

const asList = (v: unknown): { value: string; at: (string | number)[] }[] | undefined => {
  if (typeof v === 'string') return [{ value: v, at: [] }];
  if (Array.isArray(v)) return v.map((x, j) => ({ value: String(x), at: [j] }));
  return undefined;
};

/**
 * The entries of a file's (schema-checked, interpolated) `include:`, paths resolved against `dir`.
 * Problems (no path, a file or env file that does not exist) go to `errors`; such entries are dropped.
 */
export function parseIncludes(data: Obj, file: string, dir: string, errors: ErrorDetail[]): IncludeEntry[] {
  const list = data.include;
  if (!Array.isArray(list)) return [];
  const out: IncludeEntry[] = [];
  list.forEach((item, i) => {
    const at = ['include', i];
    const long = isObj(item);
    const rawPaths = long ? asList(item.path) : asList(item);
    if (!rawPaths?.length || rawPaths.some((p) => !p.value)) {
      errors.push(detailAt(data, long && item.path !== undefined ? [...at, 'path'] : at, 'an include entry needs a path: the compose file to include', 'include:\n      - path: ../other/compose.yaml\n        project_directory: ../other   # optional\n        env_file: ../other/.env       # optional', file));
      return;
    }
    let ok = true;
    const paths = rawPaths.map((p) => {
      const abs = hostPath(p.value, dir);
      if (!existsSync(abs)) {
        ok = false;
        errors.push(detailAt(data, long ? [...at, 'path', ...p.at] : at, `the included file ${abs} does not exist`, `include paths are relative to the project directory ${dir}`, file));
      }
      return abs;
    });
    const pd = long && typeof item.project_directory === 'string' ? hostPath(item.project_directory, dir) : dirname(paths[0]);
    let envFiles: string[] | undefined;
    if (long && item.env_file !== undefined) {
      envFiles = (asList(item.env_file) ?? []).map((e) => {
        const abs = hostPath(e.value, dir);
        if (!existsSync(abs)) {
          ok = false;
          errors.push(detailAt(data, [...at, 'env_file', ...e.at], `the env file ${abs} does not exist`, `env_file paths of an include are relative to the project directory ${dir}`, file));
        }
        return abs;
      });
    }
    if (ok) out.push({ index: i, paths, projectDir: pd, ...(envFiles ? { envFiles } : {}) });
  });
  return out;
}

/**
 * The variables an included sub-project is interpolated with: its env files (explicit, or
 * `<projectDir>/.env` when it exists), the including project's variables over them.
 */
export function includeEnv(entry: IncludeEntry, parent: Record<string, string>, errors: ErrorDetail[]): Record<string, string> {
  const files = entry.envFiles ?? [join(entry.projectDir, '.env')].filter((f) => existsSync(f));
  return { ...readEnvFiles(files, parent, errors), ...parent };
}

/** The cycle `chain[at] → … → target` if `target` is already in the chain of including files. */
export function includeCycle(chain: string[], paths: string[], cwd: string): string | undefined {
  for (const p of paths) {
    const at = chain.indexOf(p);
    if (at >= 0) return [...chain.slice(at), p].map((f) => relative(cwd, f) || f).join(' → ');
  }
  return undefined;
}

export const RESOURCE_KINDS = ['services', 'networks', 'volumes', 'secrets', 'configs'] as const;
const SINGULAR: Record<string, string> = { services: 'service', networks: 'network', volumes: 'volume', secrets: 'secret', configs: 'config' };

/** Plain-data equality, key order ignored. */
function same(a: unknown, b: unknown): boolean {
  const canon = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(canon);
    if (isObj(v)) return Object.keys(v).sort().map((k) => [k, canon(v[k])]);
    return v;
  };
  return JSON.stringify(canon(a)) === JSON.stringify(canon(b));
}

/** security_opt `seccomp=FILE` / `seccomp:FILE` with a relative FILE → absolute against `dir` (to-spec reads it against the root project's directory). */
function absoluteSeccomp(svc: Obj, dir: string): void {
  if (!Array.isArray(svc.security_opt)) return;
  svc.security_opt.forEach((o, i, arr) => {
    const m = typeof o === 'string' ? /^seccomp([:=])(.+)$/s.exec(o) : null;
    if (m && m[2] !== 'unconfined' && !m[2].startsWith('/')) arr[i] = `seccomp${m[1]}${hostPath(m[2], dir)}`;
  });
}

const where = (l: Loc | undefined, cwd: string) => (l ? `${relative(cwd, l.file) || l.file}:${l.line}:${l.col}` : 'an unknown place');

/**
 * Add a loaded sub-project's resources to `target` (the including project, merged; modified).
 * `includeAt` locates the include entry (for messages); `subDir` is the sub-project's directory.
 */
export function importResources(target: Obj, sub: Obj, o: { subDir: string; cwd: string; includeLoc?: Loc; errors: ErrorDetail[] }): void {
  for (const kind of RESOURCE_KINDS) {
    const from = sub[kind];
    if (!isObj(from)) continue;
    if (!isObj(target[kind])) {
      target[kind] = {};
      setSelfLoc(target[kind] as object, locate(sub, [kind]));
    }
    const to = target[kind] as Obj;
    for (const [name, v] of Object.entries(from)) {
      const val = cloneLoc(v);
      if (kind === 'services' && isObj(val)) absoluteSeccomp(val, o.subDir);
      if (name in to) {
        if (same(to[name], val)) continue;
        const a = locate(target, [kind, name]);
        const b = locate(sub, [kind, name]);
        o.errors.push({
          ...(a ? { file: a.file, line: a.line, col: a.col } : {}),
          field: `${kind}.${name}`,
          message: `${SINGULAR[kind]} '${name}' is defined at ${where(a, o.cwd)} and, differently, at ${where(b, o.cwd)}, included from ${where(o.includeLoc, o.cwd)}`,
          hint: 'Compose does not merge an included resource with another definition: rename one of them, remove one, or make them identical',
        });
        continue;
      }
      to[name] = val;
      copyLoc(from, name, to);
    }
  }
}
