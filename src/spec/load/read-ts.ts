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
      {
        file, message: firstLines(err?.message ?? String(e)),
        hint: /Cannot find (module|package) 'niwa'/.test(err?.message ?? '')
          ? "the spec imports 'niwa' but this directory cannot resolve it: `npm install niwa` here, or write the spec as a plain object (export default { name: ..., process: ... })"
          : 'the spec module threw or does not compile; run it with `npx tsx` to see the full error',
      },
    ]);
  }
  // A spec outside any `"type": "module"` package is compiled as CommonJS: its exports object
  // arrives as the default export, with the real default one level down.
  const d = mod.default as { default?: unknown; __esModule?: boolean } | undefined;
  if (d && typeof d === 'object' && 'default' in d && (d.__esModule || Object.keys(d).every((k) => k === 'default'))) mod = { default: d.default };
  if (mod.default === undefined) {
    throw new UserError('E_SPEC_EXPORT', `${file} has no default export`, [
      { file, message: 'the spec module must `export default` the container spec', hint: 'export default defineContainer({ name: ..., process: { args: [...] } })' },
    ]);
  }
  return unwrapSpecExport(mod.default, file);
}

const firstLines = (s: string) => s.split('\n').slice(0, 3).join(' ').trim();
