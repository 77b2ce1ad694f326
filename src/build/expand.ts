// Docker's variable substitution in Dockerfile instructions (pure): $VAR, ${VAR}, ${VAR:-word},
// ${VAR-word}, ${VAR:+word}, ${VAR+word}; `\$` is a literal dollar; nothing expands inside single
// quotes. Applied to FROM, COPY, ADD, ENV, ARG, LABEL, EXPOSE, USER, WORKDIR, VOLUME, STOPSIGNAL
// (RUN, CMD and ENTRYPOINT are left to the shell, as Docker does).

export type Vars = Record<string, string | undefined>;

/** Expands `s` with `vars`; names that are not set expand to ''. `used` collects the names read. */
export function expandVars(s: string, vars: Vars, used?: Set<string>): string {
  let out = '';
  let single = false;
  const get = (name: string) => { used?.add(name); return Object.prototype.hasOwnProperty.call(vars, name) ? vars[name] : undefined; };
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === '\\' && s[i + 1] === '$') { out += '$'; i++; continue; }
    if (c === "'") { single = !single; out += c; continue; }
    if (c !== '$' || single) { out += c; continue; }
    const rest = s.slice(i + 1);
    const simple = /^[A-Za-z_][A-Za-z0-9_]*/.exec(rest);
    if (simple) { out += get(simple[0]) ?? ''; i += simple[0].length; continue; }
    if (rest.startsWith('{')) {
      // find the matching brace (words may hold nested ${…})
      let depth = 0;
      let j = 0;
      for (; j < rest.length; j++) {
        if (rest[j] === '{') depth++;
        else if (rest[j] === '}' && --depth === 0) break;
      }
      if (j >= rest.length) { out += c; continue; } // unterminated: literal, as Docker's lexer errs on the side of keeping it
      const body = rest.slice(1, j);
      const m = /^([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-+])(.*))?$/s.exec(body);
      if (!m) { out += '${' + body + '}'; i += j + 1; continue; }
      const v = get(m[1]);
      const op = m[2];
      const word = m[3] ?? '';
      if (!op) out += v ?? '';
      else if (op === ':-') out += v ? v : expandVars(word, vars, used);
      else if (op === '-') out += v !== undefined ? v : expandVars(word, vars, used);
      else if (op === ':+') out += v ? expandVars(word, vars, used) : '';
      else out += v !== undefined ? expandVars(word, vars, used) : '';
      i += j + 1;
      continue;
    }
    out += c;
  }
  return out;
}

/** Removes one level of double or single quotes around (parts of) a word, as Docker's word splitter does. */
export function unquote(word: string): string {
  let out = '';
  let q: string | undefined;
  for (let i = 0; i < word.length; i++) {
    const c = word[i];
    if (q) {
      if (c === q) q = undefined;
      else if (c === '\\' && q === '"' && (word[i + 1] === '"' || word[i + 1] === '\\')) out += word[++i];
      else out += c;
    } else if (c === '"' || c === "'") q = c;
    else if (c === '\\' && i + 1 < word.length) out += word[++i];
    else out += c;
  }
  return out;
}

/** Splits on unquoted whitespace, keeping quotes (unquote each word after expanding it). */
export function splitWords(s: string): string[] {
  const words: string[] = [];
  let cur = '';
  let q: string | undefined;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (q) { cur += c; if (c === q) q = undefined; continue; }
    if (c === '"' || c === "'") { q = c; cur += c; continue; }
    if (c === '\\' && i + 1 < s.length) { cur += c + s[++i]; continue; }
    if (/\s/.test(c)) { if (cur) words.push(cur); cur = ''; continue; }
    cur += c;
  }
  if (cur) words.push(cur);
  return words;
}
