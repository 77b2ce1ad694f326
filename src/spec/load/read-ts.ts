// Phase 1 (TypeScript): import the spec with tsx; its default export is a plain spec or a builder.
// `import ... from 'niwa'` in a spec anywhere on disk resolves to the running niwa itself (its own
// package entry), through a CommonJS resolve hook and an ESM one, so no install is needed next to it.
import Module from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { UserError } from '../../errors.js';
import type { Positions } from './context.js';
import type { BuilderCall } from '../define.js';
import { readFileSync } from 'node:fs';
import { locateBuilderCalls } from './ts-positions.js';

/** This niwa's package entry (dist/src/index.js), what a spec's `'niwa'` import means. */
const NIWA_ENTRY = new URL('../../index.js', import.meta.url);
let resolverInstalled = false;

/**
 * Make the bare specifier `niwa` resolve to NIWA_ENTRY for everything loaded from now on: tsx
 * compiles a spec outside any `"type": "module"` package to CommonJS (its imports become require
 * calls: Module._resolveFilename), and one inside such a package as ESM (a module.register hook).
 * Both are process-wide and leave nothing on disk; every other specifier resolves as before.
 */
export function installNiwaResolver(): void {
  if (resolverInstalled) return;
  resolverInstalled = true;
  const entry = fileURLToPath(NIWA_ENTRY);
  const M = Module as unknown as { _resolveFilename(req: string, ...rest: unknown[]): string };
  const original = M._resolveFilename;
  M._resolveFilename = function (req: string, ...rest: unknown[]) {
    return original.call(this, req === 'niwa' ? entry : req, ...rest);
  };
  const hook = `export async function resolve(s, c, next) {
    return s === 'niwa' ? { url: ${JSON.stringify(NIWA_ENTRY.href)}, shortCircuit: true } : next(s, c);
  }`;
  // module.register exists from Node 20.6; before it, ESM specs resolve 'niwa' only where it is installed.
  (Module as { register?: (url: string) => void }).register?.(`data:text/javascript,${encodeURIComponent(hook)}`);
}

/** A builder (src/spec/define.ts or any object with toSpec()) or a plain object → the plain spec.
 *  A niwa builder's call sites in `file` go into `positions` (for file:line:col in errors). */
export function unwrapSpecExport(value: unknown, file: string, positions?: Positions): unknown {
  if (value && typeof value === 'object' && typeof (value as { toSpec?: unknown }).toSpec === 'function') {
    const spec = (value as { toSpec(): unknown }).toSpec();
    if (positions) Object.assign(positions, builderPositions(value, spec, file) ?? {});
    return spec;
  }
  if (typeof value === 'function') {
    throw new UserError('E_SPEC_EXPORT', `${file}: the default export is a function, not a spec`, [
      { file, message: 'export default must be a spec object or a builder', hint: 'write `export default defineContainer({ ... })` or `export default container(\'name\')...`' },
    ]);
  }
  return value;
}

export async function readTs(file: string, positions?: Positions): Promise<unknown> {
  let mod: { default?: unknown };
  try {
    installNiwaResolver();
    const { tsImport } = await import('tsx/esm/api');
    mod = (await tsImport(pathToFileURL(file).href, import.meta.url)) as { default?: unknown };
  } catch (e) {
    const err = e as Error;
    throw new UserError('E_SPEC_LOAD', `could not load ${file}`, [
      {
        file, message: firstLines(err?.message ?? String(e)),
        hint: 'the spec module threw or does not compile; run it with `npx tsx` to see the full error',
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
  return unwrapSpecExport(mod.default, file, positions);
}

/**
 * A builder's calls (src/spec/define.ts) → source positions of the fields they set, found in the
 * spec's text (`text`, or `file` read). `value` is the builder, or the plain spec defineCompose made
 * of one (which carries the builder's calls); `spec` its plain spec (for the builder's name).
 * Undefined when `value` is no builder.
 */
export function builderPositions(value: unknown, spec: unknown, file: string, text?: string): Positions | undefined {
  const calls = value && typeof value === 'object' ? (value as Record<symbol, unknown>)[Symbol.for('niwa.spec.positions')] : undefined;
  if (typeof calls !== 'function') return undefined;
  try { text ??= readFileSync(file, 'utf8'); } catch { return undefined; }
  const name = (spec as { name?: unknown } | undefined)?.name;
  return locateBuilderCalls(text, typeof name === 'string' ? name : undefined, calls.call(value) as Record<string, BuilderCall>);
}

const firstLines = (s: string) => s.split('\n').slice(0, 3).join(' ').trim();
