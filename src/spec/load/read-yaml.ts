// Phase 1 (YAML): parse the text, keep a dotted-path → {line, col} map of every key and item.
import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Node } from '../../vendor/yaml.js';
import type { ErrorDetail } from '../../errors.js';
import type { Positions } from './context.js';
import { checkYamlLimits, isStackOverflow, tooDeepDetail } from './yaml-limits.js';

export interface YamlRead {
  data: unknown;
  positions: Positions;
  errors: ErrorDetail[];
}

/**
 * Scalars whose source text matters more than YAML's reading of it, keyed by dotted-path
 * pattern: `mode: 1777` is meant as octal, but YAML 1.2 reads the digits as decimal 1777.
 */
const KEEP_SOURCE_TEXT: RegExp[] = [/^mounts\.\d+\.mode$/];

export function readYaml(text: string, file: string): YamlRead {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, merge: true, prettyErrors: false, uniqueKeys: true });
  const errors: ErrorDetail[] = [];
  for (const e of [...doc.errors, ...doc.warnings]) {
    const isError = (doc.errors as unknown[]).includes(e);
    if (!isError) continue;
    const pos = lineCounter.linePos(e.pos[0]);
    if (isStackOverflow(e.message)) { errors.push(tooDeepDetail(file, pos.line, pos.col)); break; }
    errors.push({ file, line: pos.line, col: pos.col, message: `YAML: ${firstLine(e.message)}`, hint: yamlHint(e.code) });
  }
  if (!errors.length) errors.push(...checkYamlLimits(doc, lineCounter, file));
  const positions: Positions = {};
  const sources: Record<string, string> = {};
  const start = (doc.contents as Node | null)?.range?.[0];
  if (start !== undefined) positions[''] = lineCounter.linePos(start);
  if (!errors.length && doc.contents) walk(doc.contents as Node, '', positions, sources, lineCounter);
  if (errors.length) return { data: undefined, positions, errors };
  let data: unknown;
  try {
    // checkYamlLimits has bounded the expansion already; yaml's own guard stays as a second line
    data = doc.toJS({ maxAliasCount: 10_000 }) as unknown;
  } catch (e) {
    if (!/alias/i.test((e as Error).message)) throw e;
    const p = positions[''];
    return { data: undefined, positions, errors: [{ file, ...(p ? { line: p.line, col: p.col } : {}), message: `YAML: ${firstLine((e as Error).message)}`, hint: 'use fewer nested anchors, or write the values out' }] };
  }
  for (const [path, src] of Object.entries(sources)) setAt(data, path, src);
  return { data, positions, errors };
}

function walk(node: Node, path: string, positions: Positions, sources: Record<string, string>, lc: LineCounter): void {
  if (isMap(node)) {
    for (const pair of node.items) {
      if (!isPair(pair)) continue;
      const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
      const p = path ? `${path}.${key}` : key;
      const at = (pair.key as Node | null)?.range?.[0];
      if (at !== undefined) positions[p] = lc.linePos(at);
      if (pair.value) walk(pair.value as Node, p, positions, sources, lc);
    }
  } else if (isSeq(node)) {
    node.items.forEach((item, i) => {
      const p = path ? `${path}.${i}` : String(i);
      const at = (item as Node | null)?.range?.[0];
      if (at !== undefined) positions[p] = lc.linePos(at);
      if (item) walk(item as Node, p, positions, sources, lc);
    });
  } else if (isScalar(node) && typeof node.value === 'number' && node.source !== undefined) {
    if (KEEP_SOURCE_TEXT.some((re) => re.test(path)) && /^[0-9]+$/.test(node.source)) sources[path] = node.source;
  }
}

function setAt(data: unknown, path: string, value: unknown): void {
  const parts = path.split('.');
  let o = data as Record<string, unknown>;
  for (const k of parts.slice(0, -1)) {
    if (o === null || typeof o !== 'object') return;
    o = o[k] as Record<string, unknown>;
  }
  if (o && typeof o === 'object') o[parts[parts.length - 1]] = value;
}

const firstLine = (s: string) => s.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '');

function yamlHint(code: string): string | undefined {
  const hints: Record<string, string> = {
    DUPLICATE_KEY: 'each key may appear once in a mapping; remove or merge the repeated one',
    BAD_INDENT: 'indent nested keys consistently with spaces (tabs are not allowed in YAML indentation)',
    TAB_AS_INDENT: 'YAML indentation must use spaces, not tabs',
    MISSING_CHAR: 'a flow collection ([...] or {...}) is not closed',
    MULTILINE_IMPLICIT_KEY: 'a key must fit on one line; is a ":" missing after the previous key, or a value not quoted?',
    BLOCK_AS_IMPLICIT_KEY: 'is a ":" or indentation missing on the line before?',
    UNEXPECTED_TOKEN: 'quote values that contain ":", "#", "{" or "["',
  };
  return hints[code];
}
