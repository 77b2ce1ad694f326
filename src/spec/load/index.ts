// The loader: a spec file or object → a validated CanonicalSpec, through named pure phases in
// this order (compose-go style). Each phase reports every problem it finds; a phase with errors
// stops the pipeline and they are thrown together as one UserError.
//
//   1. read          read.ts          YAML (+ dotted-path positions) or a TS module (tsx) → unknown
//   2. plain         plain.ts         lift function hooks, drop undefined, reject other functions
//   2b. overrides    overrides.ts     command-line options (niwa run --memory …) over the spec
//   3. schema        validate/schema  JSON Schema (ajv, precompiled) → ContainerSpec
//   3b. image        image.ts         rootfs.image: get the image (opts.image), fill what the spec leaves out
//   4. canonicalise  canonicalise.ts  shorthands → canonical, defaults, units, paths, ids, caps …
//   5. consistency   validate/consistency  cross-field rules on the CanonicalSpec (+ host paths)
import { existsSync, readFileSync } from 'node:fs';
import { locateInSource } from './ts-positions.js';
import { resolve } from 'node:path';
import { UserError, type ErrorDetail } from '../../errors.js';
import { checkConsistency } from '../../validate/consistency.js';
import { schemaErrors } from '../../validate/schema.js';
import { sortDetails } from '../../validate/schema-errors.js';
import type { CanonicalSpec, ContainerSpec } from '../types.js';
import { canonicalise } from './canonicalise.js';
import { imagePhase } from './image.js';
import { newContext, relabel, type LoadContext, type LoadOptions } from './context.js';
import { toPlain } from './plain.js';
import { readSpecFile } from './read.js';
import { unwrapSpecExport } from './read-ts.js';

export type { LoadOptions } from './context.js';

function fail(ctx: LoadContext, extra: ErrorDetail[] = []): never {
  const all = sortDetails([...ctx.errors, ...extra].map((d) => relabel(ctx.flagSources, withTsPosition(ctx.file, d))));
  const n = all.length;
  // a one-off of `niwa run [OPTIONS] -- CMD` has no file: its problems are on the command line
  const where = ctx.file === '<inline>' && ctx.flagSources ? 'the command line' : ctx.file;
  throw new UserError('E_SPEC_INVALID', `${where}: ${n} problem${n === 1 ? '' : 's'} in the spec`, all);
}

/** TS specs have no position map: find the field in the source text, if it can be found unambiguously. */
function withTsPosition(file: string, d: ErrorDetail): ErrorDetail {
  if (d.line !== undefined || !d.field || !/\.[cm]?ts$/.test(file)) return d;
  let text: string;
  try { text = readFileSync(file, 'utf8'); } catch { return d; }
  const at = locateInSource(text, d.field);
  return at ? { ...d, line: at.line, col: at.col } : d;
}

async function fromData(raw: unknown, ctx: LoadContext): Promise<CanonicalSpec> {
  const plain = toPlain(raw, ctx);
  // loaded only when options were given (it brings the compose loader's short-form parsers)
  const data = ctx.opts.overrides && !ctx.errors.length ? (await import('./overrides.js')).applyOverrides(plain as ContainerSpec, ctx.opts.overrides, ctx) : plain;
  const schemaProblems = await schemaErrors(data, ctx.file, ctx.positions);
  if (ctx.errors.length || schemaProblems.length) fail(ctx, schemaProblems);
  const withImage = await imagePhase(data as ContainerSpec, ctx);
  if (ctx.errors.length) fail(ctx);
  const spec = await canonicalise(withImage, ctx);
  if (ctx.errors.length) fail(ctx);
  if (!ctx.opts.skipConsistency) {
    const problems = checkConsistency(spec, { hostCgroupControllers: ctx.opts.hostCgroupControllers, hostCpus: ctx.opts.hostCpus, hostMems: ctx.opts.hostMems, exists: ctx.opts.exists ?? existsSync });
    if (problems.length) fail(ctx, problems);
  }
  if (ctx.flagSources && Object.keys(ctx.flagSources).length) spec.fromFlags = ctx.flagSources;
  return spec;
}

/** Load, validate and canonicalise a spec file (.container.yaml or .container.ts). Throws UserError with every problem. */
export async function loadSpec(file: string, opts: LoadOptions = {}): Promise<CanonicalSpec> {
  const ctx = newContext(resolve(file), opts);
  return fromData(await readSpecFile(ctx), ctx);
}

/**
 * Load a spec given as an object (a ContainerSpec or a builder with toSpec()). `file` names it in
 * messages and relative paths resolve against its directory ('<inline>': the current directory).
 */
export async function loadSpecObject(obj: ContainerSpec | { toSpec(): ContainerSpec } | unknown, file = '<inline>', opts: LoadOptions = {}): Promise<CanonicalSpec> {
  const ctx = newContext(file === '<inline>' ? file : resolve(file), opts);
  return fromData(unwrapSpecExport(obj, ctx.file), ctx);
}
