// The validate API: a spec file → its CanonicalSpec, or a UserError listing every problem.
import { UserError, type ErrorDetail } from '../errors.js';
import { loadSpec, type LoadOptions } from '../spec/load/index.js';
import type { CanonicalSpec } from '../spec/types.js';

export type ValidateResult = { ok: true; spec: CanonicalSpec } | { ok: false; error: UserError; details: ErrorDetail[] };

/** Validate a spec file without throwing for spec problems (bugs still throw). */
export async function validateSpec(file: string, opts: LoadOptions = {}): Promise<ValidateResult> {
  try {
    return { ok: true, spec: await loadSpec(file, opts) };
  } catch (e) {
    if (e instanceof UserError) return { ok: false, error: e, details: e.details };
    throw e;
  }
}

/** Validate a spec file; throws the UserError with all details when it is invalid. */
export async function assertValidSpec(file: string, opts: LoadOptions = {}): Promise<CanonicalSpec> {
  return loadSpec(file, opts);
}
