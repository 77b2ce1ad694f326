// JSON Schema validation of a plain spec: ajv compiled once (ahead of time by scripts/build-schema.mjs
// into dist/schema/container.validate.cjs; compiled at first use when that file is missing or stale).
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ErrorObject } from 'ajv';
import type { ErrorDetail } from '../errors.js';
import type { Positions } from '../spec/load/context.js';
import { translateErrors } from './schema-errors.js';
import type { Schema } from './schema-walk.js';

/** ajv options; scripts/build-schema.mjs uses the same (a mismatch only costs a runtime compile). */
export const AJV_OPTIONS = { allErrors: true, strict: true, strictRequired: false, allowUnionTypes: true, discriminator: true } as const;

type ValidateFn = ((data: unknown) => boolean) & { errors?: ErrorObject[] | null; schemaHash?: string };

const here = dirname(fileURLToPath(import.meta.url));
// src/validate → repo is ../..; dist/src/validate → ../../..
const repo = existsSync(join(here, '..', '..', 'package.json')) ? join(here, '..', '..') : join(here, '..', '..', '..');
export const SCHEMA_PATH = join(repo, 'schema', 'container.schema.json');
export const GENERATED_VALIDATOR = join(repo, 'dist', 'schema', 'container.validate.cjs');

let cached: { schema: Schema; validate: ValidateFn; precompiled: boolean } | undefined;

export function schemaHash(text: string): string {
  return createHash('sha256').update(text).update(JSON.stringify(AJV_OPTIONS)).digest('hex');
}

/** The schema and its compiled validator, loaded once per process. */
export async function containerValidator(): Promise<{ schema: Schema; validate: ValidateFn; precompiled: boolean }> {
  if (cached) return cached;
  const text = readFileSync(SCHEMA_PATH, 'utf8');
  const schema = JSON.parse(text) as Schema;
  const hash = schemaHash(text);
  if (existsSync(GENERATED_VALIDATOR)) {
    const fn = createRequire(import.meta.url)(GENERATED_VALIDATOR) as ValidateFn;
    if (fn.schemaHash === hash) return (cached = { schema, validate: fn, precompiled: true });
  }
  const { default: Ajv } = await import('ajv');
  const AjvCtor = Ajv as unknown as new (o: object) => { compile(s: object): ValidateFn };
  return (cached = { schema, validate: new AjvCtor(AJV_OPTIONS).compile(schema), precompiled: false });
}

/** Validate a plain spec; every problem as an ErrorDetail (empty = valid). */
export async function schemaErrors(data: unknown, file: string, positions: Positions = {}): Promise<ErrorDetail[]> {
  const { schema, validate } = await containerValidator();
  if (validate(data)) return [];
  return translateErrors(validate.errors ?? [], { file, positions, root: schema, data });
}
