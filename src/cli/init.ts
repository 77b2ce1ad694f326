// `niwa init [--yaml|--ts] [NAME]`: write a commented starter spec NAME.container.{yaml,ts}; never overwrites.
import { existsSync, writeFileSync } from 'node:fs';
import { basename, join, relative } from 'node:path';
import type { Verb } from './main.js';
import { parseArgs } from './args.js';
import { UserError } from '../errors.js';
import { SCHEMA_PATH } from '../validate/schema.js';
import { tsconfigStarter, tsStarter, yamlStarter } from './init-templates.js';
import { fileURLToPath } from 'node:url';

import { NAME_RE } from '../spec/names.js';

/** A container name from the current directory's name, or 'app'. */
function defaultName(cwd: string): string {
  const n = basename(cwd).replace(/[^A-Za-z0-9_.-]/g, '-').replace(/^[^A-Za-z0-9]+/, '').slice(0, 63);
  return NAME_RE.test(n) ? n : 'app';
}

export const verb: Verb = {
  summary: 'write a commented starter spec (YAML by default, or TypeScript with --ts)',
  usage: 'niwa init [--yaml|--ts] [NAME]\n\n  Writes NAME.container.yaml (or .ts) in the current directory; NAME defaults to the directory\'s name.\n  With --ts, also a tsconfig.json when there is none (tsc and editors then check the spec).\n  An existing file is never overwritten.',
  async run(argv) {
    const a = parseArgs(argv, { booleans: { yaml: '', ts: '' } }, 'init');
    if (a.flags.yaml && a.flags.ts) throw new UserError('E_USAGE', 'init: give --yaml or --ts, not both');
    if (a.positionals.length > 1) throw new UserError('E_USAGE', 'init: expected at most one NAME', [], 'usage: niwa init [--yaml|--ts] [NAME]');
    const cwd = process.cwd();
    const name = a.positionals[0] ?? defaultName(cwd);
    if (!NAME_RE.test(name)) {
      throw new UserError('E_USAGE', `init: '${name}' is not a valid container name`, [], "letters, digits, '_', '.', '-'; starting with a letter or digit; at most 63");
    }
    const ts = Boolean(a.flags.ts);
    const file = join(cwd, `${name}.container.${ts ? 'ts' : 'yaml'}`);
    if (existsSync(file)) {
      throw new UserError('E_EXISTS', `init: ${relative(cwd, file)} already exists; not overwriting it`, [], 'choose another NAME, or remove the file first');
    }
    const text = ts ? tsStarter(name) : yamlStarter(name, relative(cwd, SCHEMA_PATH) || SCHEMA_PATH);
    writeFileSync(file, text, { flag: 'wx' });
    const rel = `./${relative(cwd, file)}`;
    if (ts && !existsSync(join(cwd, 'tsconfig.json'))) {
      writeFileSync(join(cwd, 'tsconfig.json'), tsconfigStarter(fileURLToPath(new URL('../index.d.ts', import.meta.url))), { flag: 'wx' });
      process.stdout.write('wrote ./tsconfig.json (type-check with: npx tsc)\n');
    }
    process.stdout.write(`wrote ${rel}\nnext: niwa validate ${rel} && niwa plan ${rel}\n`);
    return 0;
  },
};
