// Canonicalise mounts: bind sources absolute (relative to the spec file), targets normalised,
// tmpfs size/mode parsed, defaults for readonly/recursive; plus masked and read-only paths.
import { statSync } from 'node:fs';
import { posix, resolve } from 'node:path';
import { DEFAULT_MASKED_PATHS, DEFAULT_READONLY_PATHS } from '../defaults.js';
import type { CanonicalMount, CanonicalSpec, ContainerSpec } from '../types.js';
import { report, type LoadContext } from './context.js';
import { parseMode, parseSize } from './units.js';

const normTarget = (t: string) => (t === '/' ? '/' : posix.normalize(t).replace(/\/+$/, '') || '/');

export function canonMounts(spec: ContainerSpec, ctx: LoadContext): CanonicalMount[] {
  return (spec.mounts ?? []).map((m, i): CanonicalMount => {
    const field = `mounts.${i}`;
    const base = { target: normTarget(m.target), readonly: m.readonly ?? false, options: [...(m.options ?? [])], field };
    if (m.type === 'bind') {
      const source = resolve(ctx.dir, m.source);
      // A file is bound onto a file: the target is created as the same kind (a missing source is
      // reported by the consistency rules; it counts as a directory here).
      let sourceKind: 'file' | 'dir' = 'dir';
      try { if (!statSync(source).isDirectory()) sourceKind = 'file'; } catch { /* missing */ }
      return { type: 'bind', source, ...base, recursive: m.recursive ?? true, ...(m.propagation ? { propagation: m.propagation } : {}), sourceKind };
    }
    if (m.type === 'tmpfs') {
      const out: CanonicalMount = { type: 'tmpfs', source: 'tmpfs', ...base, recursive: false };
      if (m.size !== undefined) {
        const size = parseSize(m.size);
        if (size === undefined) report(ctx, `${field}.size`, `${JSON.stringify(m.size)} is not a size`, 'a size like 8M or a number of bytes');
        else out.size = size;
      }
      if (m.mode !== undefined) {
        const mode = parseMode(m.mode);
        if (mode === undefined) report(ctx, `${field}.mode`, `${JSON.stringify(m.mode)} is not an octal mode`, 'e.g. mode: "1777"');
        else out.mode = mode;
      }
      return out;
    }
    return { type: m.type, source: m.type, ...base, recursive: false };
  });
}

export function canonPaths(spec: ContainerSpec): Pick<CanonicalSpec, 'maskedPaths' | 'readonlyPaths'> {
  return {
    maskedPaths: [...(spec.masked_paths ?? DEFAULT_MASKED_PATHS)],
    readonlyPaths: [...(spec.readonly_paths ?? DEFAULT_READONLY_PATHS)],
  };
}
