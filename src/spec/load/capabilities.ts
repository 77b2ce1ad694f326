// Canonicalise capabilities: defaults + allow/add/drop → the five sets; `sets` overrides by name.
import { ALL_CAPS, CAPABILITIES, capName } from '../capabilities.js';
import { DEFAULT_CAPABILITIES } from '../defaults.js';
import type { CanonicalCaps, ContainerSpec } from '../types.js';
import { report, type LoadContext } from './context.js';
import { suggestHint } from './suggest.js';

const SET_NAMES = ['bounding', 'effective', 'permitted', 'inheritable', 'ambient'] as const;
const byNumber = (names: Iterable<string>) => [...new Set(names)].sort((a, b) => CAPABILITIES[a] - CAPABILITIES[b]);

/** Names → canonical CAP_ names; 'ALL' → every capability; unknown names are reported. */
function normalise(names: string[] | undefined, field: string, ctx: LoadContext): string[] {
  const out: string[] = [];
  (names ?? []).forEach((n, i) => {
    if (n.toUpperCase() === 'ALL' || n.toUpperCase() === 'CAP_ALL') { out.push(...ALL_CAPS); return; }
    const c = capName(n);
    if (c) out.push(c);
    else report(ctx, `${field}.${i}`, `unknown capability '${n}'`, suggestHint(n.toUpperCase().startsWith('CAP_') ? n.toUpperCase() : 'CAP_' + n.toUpperCase(), ALL_CAPS, 'see capabilities(7); known'));
  });
  return out;
}

export function canonCapabilities(spec: ContainerSpec, ctx: LoadContext): CanonicalCaps {
  const c = spec.capabilities ?? {};
  const base = c.allow !== undefined ? normalise(c.allow, 'capabilities.allow', ctx) : [...DEFAULT_CAPABILITIES];
  const add = normalise(c.add, 'capabilities.add', ctx);
  const drop = new Set(normalise(c.drop, 'capabilities.drop', ctx));
  const main = byNumber([...base, ...add].filter((n) => !drop.has(n)));
  const caps: CanonicalCaps = { bounding: main, effective: [...main], permitted: [...main], inheritable: [], ambient: [] };
  for (const s of SET_NAMES) {
    const given = c.sets?.[s];
    if (given !== undefined) caps[s] = byNumber(normalise(given, `capabilities.sets.${s}`, ctx));
  }
  return caps;
}
