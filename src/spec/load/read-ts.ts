// Phase 1 (TypeScript): import the spec with tsx; its default export is a plain spec or a builder.
import { pathToFileURL } from 'node:url';
import { UserError } from '../../errors.js';

/** A builder (src/spec/define.ts or any object with toSpec()) or a plain object → the plain spec. */
export function unwrapSpecExport(value: unknown, file: string): unknown {
  if (value && typeof value === 'object' && typeof (value as { toSpec?: unknown }).toSpec === 'function') {
    return (value as { toSpec(): unknown }).toSpec();
  }
  if (typeof value === 'function') {
    throw new UserError('E_SPEC_EXPORT', `${file}: the default export is a function, not a spec`, [
      { file, message: 'export default must be a spec object or a builder', hint: 'write `export default defineContainer({ ... })` or `export default container(\'name\')...`' },
    ]);
  }
  return value;
}

export async function readTs(file: string): Promise<unknown> {
  let mod: { default?: unknown };
  try {
    const { tsImport } = await import('tsx/esm/api');
    mod = (await tsImport(pathToFileURL(file).href, import.meta.url)) as { default?: unknown };
  } catch (e) {
    const err = e as Error;
    throw new UserError('E_SPEC_LOAD', `could not load ${file}`, [
      { file, message: firstLines(err?.message ?? String(e)), hint: 'the spec module threw or does not compile; run it with `npx tsx` to see the full error' },
    ]);
  }
  if (mod.default === undefined) {
    throw new UserError('E_SPEC_EXPORT', `${file} has no default export`, [
      { file, message: 'the spec module must `export default` the container spec', hint: 'export default defineContainer({ name: ..., process: { args: [...] } })' },
    ]);
  }
  return unwrapSpecExport(mod.default, file);
}

const firstLines = (s: string) => s.split('\n').slice(0, 3).join(' ').trim();
