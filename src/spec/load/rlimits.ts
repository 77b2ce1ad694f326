// Canonicalise rlimits: nofile / RLIMIT_NOFILE → RLIMIT_NOFILE; a number → soft = hard; unlimited → -1.
import type { CanonicalRlimit, ContainerSpec, RlimitValue } from '../types.js';
import { report, type LoadContext } from './context.js';

const num = (v: number | 'unlimited') => (v === 'unlimited' ? -1 : v);

export function rlimitName(name: string): string {
  const up = name.toUpperCase();
  return up.startsWith('RLIMIT_') ? up : `RLIMIT_${up}`;
}

export function canonRlimits(spec: ContainerSpec, ctx: LoadContext): CanonicalRlimit[] {
  const seen = new Map<string, string>();
  const out: CanonicalRlimit[] = [];
  for (const [name, v] of Object.entries(spec.rlimits ?? {}) as [string, RlimitValue][]) {
    const field = `rlimits.${name}`;
    const type = rlimitName(name);
    if (seen.has(type)) { report(ctx, field, `${type} is set twice (also as rlimits.${seen.get(type)})`, 'keep one of them'); continue; }
    seen.set(type, name);
    const [soft, hard] = typeof v === 'object' ? [num(v.soft), num(v.hard)] : [num(v), num(v)];
    if (hard !== -1 && (soft === -1 || soft > hard)) report(ctx, field, `soft limit ${soft === -1 ? 'unlimited' : soft} is above the hard limit ${hard}`, 'the soft limit must be at most the hard limit');
    out.push({ type, soft, hard });
  }
  return out;
}
