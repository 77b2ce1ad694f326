// Helpers for the spec tests: load a YAML text or an object from a throwaway directory.
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after } from 'node:test';
import { loadSpec, loadSpecObject, type LoadOptions } from '../../../src/spec/load/index.js';
import { UserError, type ErrorDetail } from '../../../src/errors.js';
import type { CanonicalSpec } from '../../../src/spec/types.js';

const dirs: string[] = [];
after(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

/** A fresh temp directory with the given files (path → content), removed after the tests. */
export function tempTree(files: Record<string, string> = {}): string {
  const d = mkdtempSync(join(tmpdir(), 'niwa-spec-'));
  dirs.push(d);
  for (const [p, text] of Object.entries(files)) {
    mkdirSync(dirname(join(d, p)), { recursive: true });
    writeFileSync(join(d, p), text);
  }
  return d;
}

export async function loadYaml(text: string, opts: LoadOptions = {}, files: Record<string, string> = {}): Promise<CanonicalSpec> {
  const d = tempTree({ ...files, 'spec.container.yaml': text });
  return loadSpec(join(d, 'spec.container.yaml'), opts);
}

export async function loadObj(obj: unknown, opts: LoadOptions = {}): Promise<CanonicalSpec> {
  return loadSpecObject(obj, '<inline>', opts);
}

/** The details of the UserError a promise rejects with (fails if it resolves). */
export async function problems(p: Promise<unknown>): Promise<ErrorDetail[]> {
  try {
    await p;
  } catch (e) {
    if (e instanceof UserError) return e.details;
    throw e;
  }
  throw new Error('expected the spec to be rejected, but it loaded');
}

export const minimal = { name: 'x', process: { args: ['/bin/true'] } };
