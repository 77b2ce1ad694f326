// Canonicalise seccomp: 'default' → the built-in profile (src/spec/seccomp-default.ts), 'unconfined' → null.
import { DEFAULT_SECCOMP } from '../defaults.js';
import type { ContainerSpec, SeccompProfile } from '../types.js';
import type { LoadContext } from './context.js';

/** The built-in profile, imported on first use (the module is large). */
export async function defaultSeccompProfile(ctx: LoadContext): Promise<SeccompProfile> {
  if (ctx.opts.defaultSeccompProfile) return ctx.opts.defaultSeccompProfile;
  return (await import('../seccomp-default.js')).DEFAULT_SECCOMP_PROFILE;
}

export async function canonSeccomp(spec: ContainerSpec, ctx: LoadContext): Promise<SeccompProfile | null> {
  const s = spec.seccomp ?? DEFAULT_SECCOMP;
  if (s === 'unconfined') return null;
  if (s === 'default') return structuredClone(await defaultSeccompProfile(ctx));
  return structuredClone(s);
}
