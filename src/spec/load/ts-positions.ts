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
