// Compose phase 2, interpolate: `$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR-default}`,
// `${VAR:?error}`, `${VAR?error}`, `${VAR:+alt}`, `${VAR+alt}`, and `$$` for a literal `$`.
// Defaults and alternatives may themselves hold substitutions (`${A:-${B:-x}}`) and balanced braces
// (`${JSON:-{"a":1}}`). As in Compose (compose-go's template package): an unset variable becomes ""
// with a warning; a `$` followed by neither a name, `{` nor `$` stays as written (`a $ string`,
// `^REGEX$`, `$1`); a `${` that is not `${NAME…}` closed by `}` is an error; only values are
// interpolated, never keys.
import type { ErrorDetail } from '../errors.js';
import { detailAt } from './loc.js';

export type Lookup = (name: string) => string | undefined;

export interface InterpolationProblem {
  kind: 'missing' | 'required' | 'syntax';
  message: string;
  hint?: string;
}

const NAME_START = /[A-Za-z_]/;
const NAME_CHAR = /[A-Za-z0-9_]/;

class Syntax extends Error {}

/** Interpolate one string; problems (missing variables, `:?` errors, bad syntax) are returned, not thrown. */
export function interpolateString(s: string, lookup: Lookup): { value: string; problems: InterpolationProblem[] } {
  const problems: InterpolationProblem[] = [];
  try {
    return { value: expand(s, lookup, problems), problems };
  } catch (e) {
    if (!(e instanceof Syntax)) throw e;
    return { value: s, problems: [{ kind: 'syntax', message: `invalid interpolation format in ${JSON.stringify(s)}: ${e.message}`, hint: 'write $$ for a literal $; a substitution is $NAME or ${NAME} (with :-, -, :?, ?, :+ or +)' }] };
  }
}

function expand(s: string, lookup: Lookup, problems: InterpolationProblem[]): string {
  let out = '';
  let i = 0;
  while (i < s.length) {
    const c = s[i];
    if (c !== '$') { out += c; i++; continue; }
    const n = s[i + 1];
    if (n === '$') { out += '$'; i += 2; continue; }
    if (n === '{') {
      const end = matchingBrace(s, i + 2);
      out += braced(s.slice(i + 2, end), lookup, problems);
      i = end + 1;
      continue;
    }
    if (n !== undefined && NAME_START.test(n)) {
      let j = i + 1;
      while (j < s.length && NAME_CHAR.test(s[j])) j++;
      out += value(s.slice(i + 1, j), lookup, problems);
      i = j;
      continue;
    }
    // Not a substitution: the `$` is kept, as Compose keeps it.
    out += c;
    i++;
  }
  return out;
}

/**
 * Index of the `}` closing a `${` whose body starts at `from`: braces inside balance, whether they
 * open a nested `${...}` or are plain text such as JSON in a default (compose-go counts every `{`).
 */
function matchingBrace(s: string, from: number): number {
  let depth = 0;
  for (let i = from; i < s.length; i++) {
    if (s[i] === '$' && s[i + 1] === '$') { i++; continue; }
    if (s[i] === '{') { depth++; continue; }
    if (s[i] === '}') {
      if (depth === 0) return i;
      depth--;
    }
  }
  // Unbalanced braces inside: compose-go's pattern then takes the last `}` of the string.
  const last = s.lastIndexOf('}');
  if (last >= from) return last;
  throw new Syntax('a "${" is not closed by "}"');
}

function value(name: string, lookup: Lookup, problems: InterpolationProblem[]): string {
  const v = lookup(name);
  if (v === undefined) {
    problems.push({ kind: 'missing', message: `the "${name}" variable is not set; defaulting to a blank string`, hint: `set ${name} in the environment or in .env, or write \${${name}:-default}` });
    return '';
  }
  return v;
}

function braced(body: string, lookup: Lookup, problems: InterpolationProblem[]): string {
  let j = 0;
  if (!body.length || !NAME_START.test(body[0])) throw new Syntax(`"\${${body}}" does not start with a variable name`);
  while (j < body.length && NAME_CHAR.test(body[j])) j++;
  const name = body.slice(0, j);
  const rest = body.slice(j);
  if (!rest) return value(name, lookup, problems);
  const m = /^(:-|-|:\?|\?|:\+|\+)/.exec(rest);
  if (!m) throw new Syntax(`"\${${body}}": after the name comes }, :-, -, :?, ?, :+ or +`);
  const op = m[1];
  const arg = rest.slice(op.length);
  const v = lookup(name);
  const unset = v === undefined;
  const empty = unset || v === '';
  switch (op) {
    case ':-': return empty ? expand(arg, lookup, problems) : v!;
    case '-': return unset ? expand(arg, lookup, problems) : v!;
    case ':+': return empty ? '' : expand(arg, lookup, problems);
    case '+': return unset ? '' : expand(arg, lookup, problems);
    default: { // :? and ?
      if (op === ':?' ? empty : unset) {
        const msg = expand(arg, lookup, problems);
        problems.push({ kind: 'required', message: `required variable ${name} is missing a value${msg ? `: ${msg}` : ''}`, hint: `set ${name} in the environment, in .env or with --env-file` });
        return '';
      }
      return v!;
    }
  }
}

/**
 * Interpolate every string value below `root` in place (keys are left alone). Missing variables
 * become warnings, `:?` and syntax problems errors; both located at the value's key.
 */
export function interpolateTree(root: unknown, lookup: Lookup, out: { errors: ErrorDetail[]; warnings: ErrorDetail[] }, file?: string): void {
  const seenMissing = new Set<string>();
  const visit = (node: unknown, path: (string | number)[]) => {
    if (Array.isArray(node)) {
      node.forEach((v, i) => {
        if (typeof v === 'string') node[i] = one(v, [...path, i]);
        else visit(v, [...path, i]);
      });
    } else if (node !== null && typeof node === 'object') {
      const o = node as Record<string, unknown>;
      for (const [k, v] of Object.entries(o)) {
        if (typeof v === 'string') o[k] = one(v, [...path, k]);
        else visit(v, [...path, k]);
      }
    }
  };
  const one = (s: string, path: (string | number)[]): string => {
    if (!s.includes('$')) return s;
    const r = interpolateString(s, lookup);
    for (const p of r.problems) {
      const d = detailAt(root, path, p.message, p.hint, file);
      if (p.kind === 'missing') {
        // One warning per variable per file, like Compose.
        if (seenMissing.has(p.message)) continue;
        seenMissing.add(p.message);
        out.warnings.push(d);
      } else out.errors.push(d);
    }
    return r.value;
  };
  visit(root, []);
}
