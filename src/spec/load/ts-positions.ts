// Where a field of a TypeScript spec is written: TS specs are code, so there is no YAML-style
// position map; this finds the keys of a dotted path in the source text in order (`process`,
// then `args` after it), skipping list indexes. Used only for error messages; a path it cannot
// follow gets no position rather than a wrong one.
export function locateInSource(text: string, field: string): { line: number; col: number } | undefined {
  const keys = field.split('.').filter((k) => k && !/^\d+$/.test(k));
  if (!keys.length) return undefined;
  let from = 0;
  let at = -1;
  for (const k of keys) {
    const esc = k.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    // `key:` or `'key':` / `"key":` as an object key (also a method call like `.memory(` of the builder)
    const re = new RegExp(`(?<![\\w$])(?:${esc}|'${esc}'|"${esc}")\\s*:|\\.${esc}\\s*\\(`, 'g');
    re.lastIndex = from;
    const m = re.exec(text);
    if (!m) return undefined;
    at = m.index + (m[0].startsWith('.') ? 1 : 0);
    from = re.lastIndex;
  }
  const before = text.slice(0, at);
  const line = before.split('\n').length;
  return { line, col: at - before.lastIndexOf('\n') };
}

/** `text` with comments blanked (newlines kept), so a commented-out call is not taken for a real one. */
export function blankComments(text: string): string {
  let out = '';
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (c === '/' && text[i + 1] === '/') {
      const end = text.indexOf('\n', i);
      const stop = end < 0 ? text.length : end;
      out += ' '.repeat(stop - i); i = stop;
    } else if (c === '/' && text[i + 1] === '*') {
      const end = text.indexOf('*/', i + 2);
      const stop = end < 0 ? text.length : end + 2;
      out += text.slice(i, stop).replace(/[^\n]/g, ' '); i = stop;
    } else if (c === "'" || c === '"' || c === '`') {
      let j = i + 1;
      while (j < text.length && text[j] !== c) j += text[j] === '\\' ? 2 : 1;
      out += text.slice(i, j + 1); i = j + 1;
    } else { out += c; i++; }
  }
  return out;
}

/**
 * Where the `nth` (0-based) call of a builder method is written between offsets `from` and `to`:
 * `.memory(` (or `container(` for the name); `clean` is `text` with comments blanked.
 */
function locateCallIn(text: string, clean: string, method: string, nth: number, from: number, to: number): { line: number; col: number } | undefined {
  const esc = method.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const re = method === 'container' ? /(?<![\w$.])container\s*\(/g : new RegExp(`\\.\\s*${esc}\\s*\\(`, 'g');
  const hits = [...clean.slice(from, to).matchAll(re)];
  const m = hits[nth];
  if (!m || m.index === undefined) return undefined;
  return lineCol(text, from + m.index + (m[0].startsWith('.') ? 1 : 0));
}

function lineCol(text: string, at: number): { line: number; col: number } {
  const before = text.slice(0, at);
  return { line: before.split('\n').length, col: at - before.lastIndexOf('\n') };
}

/**
 * Where each field a builder set is written, for a file that may hold several builders (a barn).
 * With one `container(` call in the file, the calls are counted over the whole file. With several,
 * the builder is the `container('NAME')` call with its own name, and its calls are counted from
 * there up to the next `container(` call; a field whose call is not in that stretch gets the
 * builder's own `container(` call, and a builder whose call cannot be told apart (no literal name,
 * or the same name twice) gets no positions: never another builder's.
 */
export function locateBuilderCalls(text: string, name: string | undefined, calls: Record<string, { method: string; nth: number }>): Record<string, { line: number; col: number }> {
  const clean = blankComments(text);
  const starts = [...clean.matchAll(/(?<![\w$.])container\s*\(\s*(?:(['"`])((?:\\.|(?!\1)[^\\])*)\1)?/g)];
  let from = 0;
  let to = text.length;
  let start: { line: number; col: number } | undefined;
  if (starts.length > 1) {
    const mine = starts.filter((m) => m[1] !== undefined && m[2] === name);
    if (mine.length !== 1) return {};
    from = mine[0].index!;
    to = starts.find((m) => m.index! > from)?.index ?? text.length;
    start = lineCol(text, from);
  }
  const out: Record<string, { line: number; col: number }> = {};
  for (const [field, c] of Object.entries(calls)) {
    const at = locateCallIn(text, clean, c.method, c.nth, from, to) ?? start;
    if (at) out[field] = at;
  }
  return out;
}
