// Canonicalise hooks: each point's hook or list → CanonicalHook[] (shell strings → sh -c; functions kept).
import { DEFAULT_HOOK_TIMEOUT } from '../defaults.js';
import { HOOK_POINTS, type CanonicalHook, type ContainerSpec, type Hook } from '../types.js';
import type { LoadContext } from './context.js';

export function canonHooks(spec: ContainerSpec, ctx: LoadContext): CanonicalHook[] {
  const out: CanonicalHook[] = [];
  for (const point of HOOK_POINTS) {
    const v = spec.hooks?.[point];
    if (v === undefined) continue;
    const list: [Hook, string][] = Array.isArray(v) ? v.map((h, i) => [h, `hooks.${point}.${i}`]) : [[v, `hooks.${point}`]];
    for (const [h, field] of list) {
      const fn = ctx.functions.get(field) ?? (typeof h === 'function' ? h : undefined);
      if (fn) { out.push({ point, fn, optional: false, timeout: DEFAULT_HOOK_TIMEOUT, field }); continue; }
      if (typeof h === 'string') { out.push({ point, command: ['/bin/sh', '-c', h], optional: false, timeout: DEFAULT_HOOK_TIMEOUT, field }); continue; }
      const cmd = h as Exclude<Hook, string | ((...a: never[]) => unknown)>;
      out.push({
        point,
        command: typeof cmd.command === 'string' ? ['/bin/sh', '-c', cmd.command] : [...cmd.command],
        optional: cmd.optional ?? false,
        timeout: cmd.timeout ?? DEFAULT_HOOK_TIMEOUT,
        field,
      });
    }
  }
  return out;
}
