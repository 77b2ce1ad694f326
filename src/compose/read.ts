// Compose phase 1, read: one YAML file → plain data whose every key and item carries its
// file:line:col (loc.ts). Anchors and aliases are expanded (each alias a fresh copy), merge keys
// `<<: *base` / `<<: [*a, *b]` fill in keys the mapping does not set itself, the `!reset` /
// `!override` tags are kept as merge markers for merge.ts, and a plain integer with a leading zero
// (`0440`) is octal, as Compose's YAML parser reads it.
import { readLimited } from '../spec/load/limits.js';
import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from '../vendor/yaml.js';
import { UserError, type ErrorDetail } from '../errors.js';
import { setLoc, setMark, setSelfLoc, type Loc } from './loc.js';
import { checkYamlLimits, isStackOverflow, tooDeepDetail } from '../spec/load/yaml-limits.js';

export interface ComposeRead {
  data: unknown;
  errors: ErrorDetail[];
}

const HINTS: Record<string, string> = {
  DUPLICATE_KEY: 'each key may appear once in a mapping; remove or merge the repeated one',
  BAD_INDENT: 'indent nested keys consistently with spaces',
  TAB_AS_INDENT: 'YAML indentation must use spaces, not tabs',
  MISSING_CHAR: 'a flow collection ([...] or {...}) is not closed',
  MULTILINE_IMPLICIT_KEY: 'a key must fit on one line; is a ":" missing, or a value not quoted?',
  BLOCK_AS_IMPLICIT_KEY: 'is a ":" or indentation missing on the line before?',
  UNEXPECTED_TOKEN: 'quote values that contain ":", "#", "{" or "["',
  BAD_ALIAS: 'an alias (*name) must refer to an anchor (&name) defined above it',
};

const MAX_DEPTH = 200;
/** Alias expansions per file: anchors are for reuse, not for a billion laughs (yaml caps toJS at 100 by default). */
export const MAX_ALIAS_EXPANSIONS = 10_000;

/** Parse compose YAML text. `file` names it in locations. */
export function readComposeText(text: string, file: string): ComposeRead {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true, merge: false });
  const errors: ErrorDetail[] = doc.errors.map((e) => {
    const p = lc.linePos(e.pos[0]);
    if (isStackOverflow(e.message)) return tooDeepDetail(file, p.line, p.col);
    return { file, line: p.line, col: p.col, message: `YAML: ${e.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '')}`, ...(HINTS[e.code] ? { hint: HINTS[e.code] } : {}) };
  });
  for (const w of doc.warnings) {
    if (w.code === 'TAG_RESOLVE_FAILED') continue; // !reset / !override: read from node.tag below
    const p = lc.linePos(w.pos[0]);
    errors.push({ file, line: p.line, col: p.col, message: `YAML: ${w.message.split('\n')[0]}` });
  }
  if (errors.some((e) => e.message === tooDeepDetail(file).message)) return { data: undefined, errors: [errors.find((e) => e.message === tooDeepDetail(file).message)!] };
  if (!errors.length) errors.push(...checkYamlLimits(doc, lc, file));
  if (errors.length) return { data: undefined, errors };
  const conv = new Converter(doc, lc, file);
  const data = doc.contents ? conv.value(doc.contents as Node, 0) : null;
  return { data, errors: conv.errors };
}

/** Read and parse a compose file; unreadable or invalid YAML throws a UserError. */
export function readComposeFile(file: string): unknown {
  let text: string;
  try {
    text = readLimited(file, 'compose');
  } catch (e) {
    if (e instanceof UserError) throw e;
    throw new UserError('E_COMPOSE_READ', `cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, [], 'check the -f path');
  }
  const r = readComposeText(text, file);
  if (r.errors.length) throw new UserError('E_COMPOSE_YAML', `${file} is not valid YAML`, r.errors);
  return r.data;
}

class Converter {
  errors: ErrorDetail[] = [];
  private aliases = 0;
  constructor(private doc: Document, private lc: LineCounter, private file: string) {}

  loc(n: Node | null | undefined): Loc | undefined {
    const at = n?.range?.[0];
    if (at === undefined) return undefined;
    const p = this.lc.linePos(at);
    return { file: this.file, line: p.line, col: p.col };
  }

  value(node: Node, depth: number): unknown {
    if (depth > MAX_DEPTH) {
      const l = this.loc(node);
      this.errors.push({ file: this.file, line: l?.line, col: l?.col, message: 'YAML: aliases nest too deep (a cycle of anchors?)' });
      return null;
    }
    if (isAlias(node)) {
      if (++this.aliases > MAX_ALIAS_EXPANSIONS) {
        if (this.aliases === MAX_ALIAS_EXPANSIONS + 1) {
          const l = this.loc(node);
          this.errors.push({ file: this.file, line: l?.line, col: l?.col, message: `YAML: more than ${MAX_ALIAS_EXPANSIONS} alias expansions (aliases of aliases grow exponentially)`, hint: 'use fewer nested anchors, or write the values out' });
        }
        return null;
      }
      const target = node.resolve(this.doc);
      return target ? this.value(target as Node, depth + 1) : null;
    }
    if (isMap(node)) {
      const out: Record<string, unknown> = {};
      setSelfLoc(out, this.loc(node));
      const merged: { key: string; value: unknown; loc?: Loc }[] = [];
      for (const pair of node.items) {
        const kn = pair.key as Node | null;
        const key = isScalar(kn) ? String(kn.value) : kn ? String(this.value(kn, depth + 1)) : '';
        const vn = pair.value as Node | null;
        if (key === '<<' && vn) {
          const sources = isSeq(vn) ? (vn.items as Node[]) : [vn];
          for (const s of sources) {
            const v = this.value(s, depth + 1);
            if (v === null || typeof v !== 'object' || Array.isArray(v)) {
              const l = this.loc(s);
              this.errors.push({ file: this.file, line: l?.line, col: l?.col, message: 'YAML: a merge key (<<) needs a mapping or a list of mappings', hint: 'write <<: *anchor where &anchor names a mapping' });
              continue;
            }
            for (const [k, x] of Object.entries(v)) merged.push({ key: k, value: x, loc: this.loc(s) });
          }
          continue;
        }
        out[key] = vn ? this.value(vn, depth + 1) : null;
        setLoc(out, key, this.loc(kn));
        const tag = vn && !isAlias(vn) ? (vn as { tag?: string }).tag : undefined;
        if (tag === '!reset') setMark(out, key, 'reset');
        else if (tag === '!override') setMark(out, key, 'override');
      }
      // Keys written in the mapping win over merged ones; among merged sources, the first wins.
      for (const m of merged) {
        if (Object.prototype.hasOwnProperty.call(out, m.key)) continue;
        out[m.key] = m.value;
        setLoc(out, m.key, m.loc);
      }
      return out;
    }
    if (isSeq(node)) {
      const out: unknown[] = [];
      setSelfLoc(out, this.loc(node));
      node.items.forEach((item, i) => {
        out.push(item ? this.value(item as Node, depth + 1) : null);
        setLoc(out, i, this.loc(item as Node));
        const tag = item && !isAlias(item) ? (item as { tag?: string }).tag : undefined;
        if (tag === '!reset') setMark(out, i, 'reset');
      });
      return out;
    }
    if (isScalar(node)) {
      const v = node.value;
      // `mode: 0440`: YAML 1.2 reads a leading-zero integer as decimal; Compose's parser (go-yaml v3)
      // reads it as octal, as people who write file modes mean. So do we, for plain scalars only.
      const src = (node as { source?: string }).source;
      if (typeof v === 'number' && node.type === 'PLAIN' && typeof src === 'string' && /^[-+]?0[0-7]+$/.test(src)) return parseInt(src, 8);
      if (typeof v === 'bigint') return Number(v);
      if (v instanceof Date) return v.toISOString();
      return v === undefined ? null : v;
    }
    return null;
  }
}
