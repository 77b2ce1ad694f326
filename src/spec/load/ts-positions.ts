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

/** Where the `nth` (0-based) call of a builder method is written: `.memory(` (or `container(` for the name). */
export function locateCall(text: string, method: string, nth: number): { line: number; col: number } | undefined {
  const esc = method.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const re = method === 'container' ? /(?<![\w$.])container\s*\(/g : new RegExp(`\\.\\s*${esc}\\s*\\(`, 'g');
  const hits = [...blankComments(text).matchAll(re)];
  const m = hits[nth];
  if (!m || m.index === undefined) return undefined;
  const at = m.index + (m[0].startsWith('.') ? 1 : 0);
  const before = text.slice(0, at);
  return { line: before.split('\n').length, col: at - before.lastIndexOf('\n') };
}
