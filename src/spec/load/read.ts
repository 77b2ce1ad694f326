// Phase 1: read a spec file by its extension (.yaml/.yml/.json → YAML with positions; .ts/.mts/.js/.mjs → module).
import { readLimited } from './limits.js';
import { extname } from 'node:path';
import { UserError } from '../../errors.js';
import type { LoadContext } from './context.js';
import { readTs } from './read-ts.js';

export const YAML_EXTS = ['.yaml', '.yml', '.json']; // JSON is YAML
export const MODULE_EXTS = ['.ts', '.mts', '.cts', '.js', '.mjs'];

export async function readSpecFile(ctx: LoadContext): Promise<unknown> {
  const ext = extname(ctx.file).toLowerCase();
  if (YAML_EXTS.includes(ext)) {
    let text: string;
    try {
      text = readLimited(ctx.file, 'spec');
    } catch (e) {
      if (e instanceof UserError) throw e;
      throw new UserError('E_SPEC_READ', `cannot read ${ctx.file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, [], 'check the path of the spec file');
    }
    const { readYaml } = await import('./read-yaml.js'); // the yaml package is ~40 ms to load; TS specs skip it
    const r = readYaml(text, ctx.file);
    if (r.errors.length) throw new UserError('E_SPEC_YAML', `${ctx.file} is not valid YAML`, r.errors);
    Object.assign(ctx.positions, r.positions);
    return r.data;
  }
  if (MODULE_EXTS.includes(ext)) {
    try { readLimited(ctx.file, 'spec'); } catch (e) { if (e instanceof UserError) throw e; /* unreadable: readTs says so */ }
    return readTs(ctx.file, ctx.positions);
  }
  throw new UserError('E_SPEC_EXT', `${ctx.file}: unknown spec file type '${ext || '(none)'}'`, [], 'name specs *.container.ts or *.container.yaml');
}
