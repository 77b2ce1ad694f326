// Tiny argv parser shared by the verbs: flags with values, booleans, positionals, `--` rest.
import { UserError } from '../errors.js';

export interface ArgSpec {
  /** Flags that take a value: long name → short alias (or ''). */
  values?: Record<string, string>;
  /** Boolean flags: long name → short alias (or ''). */
  booleans?: Record<string, string>;
  /** Flags that can repeat (values collected in order). */
  repeat?: string[];
}
export interface ParsedArgs {
  flags: Record<string, string | boolean | string[]>;
  positionals: string[];
  /** Everything after a bare `--`. */
  rest: string[];
}

export function parseArgs(argv: string[], spec: ArgSpec, verb: string): ParsedArgs {
  const values = spec.values ?? {};
  const booleans = spec.booleans ?? {};
  const byShort = new Map<string, string>();
  for (const [k, s] of [...Object.entries(values), ...Object.entries(booleans)]) if (s) byShort.set(s, k);
  const out: ParsedArgs = { flags: {}, positionals: [], rest: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') { out.rest = argv.slice(i + 1); break; }
    let name: string | undefined;
    let inline: string | undefined;
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      name = eq > 0 ? a.slice(2, eq) : a.slice(2);
      inline = eq > 0 ? a.slice(eq + 1) : undefined;
    } else if (a.startsWith('-') && a.length > 1) {
      // grouped short booleans like -it
      const shorts = a.slice(1).split('');
      if (shorts.every((c) => byShort.has(c) && byShort.get(c)! in booleans)) {
        for (const c of shorts) out.flags[byShort.get(c)!] = true;
        continue;
      }
      name = byShort.get(a[1]);
      if (!name) throw new UserError('E_USAGE', `${verb}: unknown option '${a}'`, [], `run 'niwa ${verb} --help'`);
      if (a.length > 2) inline = a.slice(2);
    } else { out.positionals.push(a); continue; }
    if (name in booleans) { out.flags[name] = true; continue; }
    if (!(name in values)) throw new UserError('E_USAGE', `${verb}: unknown option '--${name}'`, [], `run 'niwa ${verb} --help'`);
    const v = inline ?? argv[++i];
    if (v === undefined) throw new UserError('E_USAGE', `${verb}: option '--${name}' needs a value`);
    if (spec.repeat?.includes(name)) out.flags[name] = [...((out.flags[name] as string[]) ?? []), v];
    else out.flags[name] = v;
  }
  return out;
}
