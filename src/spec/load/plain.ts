// Phase 2: make the spec plain JSON data for the schema: lift function hooks out (TS only),
// drop undefined values, report (and drop) other functions and symbols.
import type { HookFn } from '../types.js';
import { report, type LoadContext } from './context.js';
import { NUL_MESSAGE } from './limits.js';

/** What a lifted function hook looks like to the schema (a valid shell-string hook). */
export const FUNCTION_HOOK_MARK = '[function hook]';

const HOOK_PATH = /^hooks\.[a-z_]+(\.\d+)?$/;

export function toPlain(value: unknown, ctx: LoadContext, path = ''): unknown {
  if (typeof value === 'function') {
    if (HOOK_PATH.test(path)) {
      ctx.functions.set(path, value as HookFn);
      return FUNCTION_HOOK_MARK;
    }
    report(ctx, path, 'a function is only allowed as a hook', 'use a plain value here; functions go under hooks.<point>');
    return undefined;
  }
  if (Array.isArray(value)) return value.map((v, i) => toPlain(v, ctx, path ? `${path}.${i}` : String(i)));
  if (value instanceof Date) return value.toISOString();
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      if (k.includes('\0')) report(ctx, path, `the key ${JSON.stringify(k)} ${NUL_MESSAGE}`, 'remove the NUL byte');
      const pv = v === undefined ? undefined : toPlain(v, ctx, path ? `${path}.${k}` : k);
      if (pv !== undefined) out[k] = pv;
    }
    return out;
  }
  if (typeof value === 'string' && value.includes('\0')) {
    report(ctx, path, `${JSON.stringify(value).slice(0, 60)} ${NUL_MESSAGE}`, 'remove the NUL byte');
    return value;
  }
  if (typeof value === 'number' && !(Math.abs(value) <= Number.MAX_SAFE_INTEGER)) {
    report(ctx, path, `${value} is too large for any setting`, 'numbers are at most 2^53-1 (as bytes: 8 PiB); sizes take units, e.g. 512M');
    return value;
  }
  if (typeof value === 'bigint') return Number(value);
  if (typeof value === 'symbol') {
    report(ctx, path, 'a symbol is not a valid spec value');
    return undefined;
  }
  return value;
}
