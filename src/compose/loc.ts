// Source locations for compose data: every mapping key and sequence item remembers the file,
// line and column it came from, in a side table keyed by the containing object. Merges and
// extends copy locations along with values, so a problem in the merged project still points
// at the line of the file that wrote it.
import type { ErrorDetail } from '../errors.js';

export interface Loc {
  file: string;
  line: number;
  col: number;
}

const KEY_LOCS = new WeakMap<object, Map<string, Loc>>();
const SELF_LOCS = new WeakMap<object, Loc>();

/** Remember where `key` (a mapping key or sequence index) of `obj` was written. */
export function setLoc(obj: object, key: string | number, loc: Loc | undefined): void {
  if (!loc) return;
  let m = KEY_LOCS.get(obj);
  if (!m) KEY_LOCS.set(obj, (m = new Map()));
  m.set(String(key), loc);
}

export function getLoc(obj: unknown, key: string | number): Loc | undefined {
  return obj !== null && typeof obj === 'object' ? KEY_LOCS.get(obj)?.get(String(key)) : undefined;
}

/** Where a mapping or sequence itself starts. */
export function setSelfLoc(obj: object, loc: Loc | undefined): void {
  if (loc) SELF_LOCS.set(obj, loc);
}
export function selfLoc(obj: unknown): Loc | undefined {
  return obj !== null && typeof obj === 'object' ? SELF_LOCS.get(obj) : undefined;
}

/** Copy the location of `from[fromKey]` to `to[toKey]`. */
export function copyLoc(from: unknown, fromKey: string | number, to: object, toKey: string | number = fromKey): void {
  setLoc(to, toKey, getLoc(from, fromKey));
}

/** The location of the deepest part of `path` below `root` that has one. */
export function locate(root: unknown, path: (string | number)[]): Loc | undefined {
  let best = selfLoc(root);
  let cur: unknown = root;
  for (const seg of path) {
    if (cur === null || typeof cur !== 'object') break;
    const l = getLoc(cur, seg);
    if (l) best = l;
    cur = (cur as Record<string, unknown>)[String(seg)];
    const s = selfLoc(cur);
    if (!l && s) best = s;
  }
  return best;
}

/** A deep copy of plain data that keeps every location. */
export function cloneLoc<T>(v: T): T {
  if (Array.isArray(v)) {
    const out = v.map((x) => cloneLoc(x));
    v.forEach((_, i) => copyLoc(v, i, out));
    setSelfLoc(out, selfLoc(v));
    return out as T;
  }
  if (v !== null && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) {
      out[k] = cloneLoc(x);
      copyLoc(v, k, out);
    }
    setSelfLoc(out, selfLoc(v));
    copyMarks(v as object, out);
    return out as T;
  }
  return v;
}

/** Merge markers from YAML tags: `!reset` (drop the inherited value) and `!override` (replace it whole). */
export type MergeMark = 'reset' | 'override';
const MARKS = new WeakMap<object, Map<string, MergeMark>>();
export function setMark(obj: object, key: string | number, mark: MergeMark): void {
  let m = MARKS.get(obj);
  if (!m) MARKS.set(obj, (m = new Map()));
  m.set(String(key), mark);
}
export function getMark(obj: unknown, key: string | number): MergeMark | undefined {
  return obj !== null && typeof obj === 'object' ? MARKS.get(obj)?.get(String(key)) : undefined;
}
function copyMarks(from: object, to: object): void {
  const m = MARKS.get(from);
  if (m) MARKS.set(to, new Map(m));
}

/** An ErrorDetail at `path` below `root` (file:line:col from the nearest location). */
export function detailAt(root: unknown, path: (string | number)[], message: string, hint?: string, fallbackFile?: string): ErrorDetail {
  const loc = locate(root, path);
  const d: ErrorDetail = { message };
  const file = loc?.file ?? fallbackFile;
  if (file) d.file = file;
  if (loc) { d.line = loc.line; d.col = loc.col; }
  if (path.length) d.field = path.join('.');
  if (hint) d.hint = hint;
  return d;
}

/** Dotted path → {line, col} for every located key below `root` that lives in `file` (for the shared schema-error translator). */
export function positionsOf(root: unknown, file?: string): Record<string, { line: number; col: number }> {
  const out: Record<string, { line: number; col: number }> = {};
  const s = selfLoc(root);
  if (s && (!file || s.file === file)) out[''] = { line: s.line, col: s.col };
  const walk = (node: unknown, path: string) => {
    if (node === null || typeof node !== 'object') return;
    for (const k of Object.keys(node)) {
      const p = path ? `${path}.${k}` : k;
      const l = getLoc(node, k);
      if (l && (!file || l.file === file)) out[p] = { line: l.line, col: l.col };
      walk((node as Record<string, unknown>)[k], p);
    }
  };
  walk(root, '');
  return out;
}
