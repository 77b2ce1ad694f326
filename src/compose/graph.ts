// The service dependency graph: start in levels (every service of a level can start in parallel
// once the levels before it are up), stop in the reverse levels, and a cycle is an error that
// names it: `a → b → c → a`.
import { UserError, type ErrorDetail } from '../errors.js';

/** service → the services it needs started first. */
export type DependencyMap = Record<string, string[]>;

export interface StartPlan {
  /** Start levels: level i depends only on levels < i. Names sorted within a level. */
  levels: string[][];
  /** Stop levels: the start levels reversed (dependents stop before what they depend on). */
  stopLevels: string[][];
  /** One flat start order (levels concatenated). */
  order: string[];
}

/** The first cycle found (as a closed path a → … → a), or undefined. Deterministic: names sorted. */
export function findCycle(deps: DependencyMap): string[] | undefined {
  const state = new Map<string, 1 | 2>(); // 1 = on the path, 2 = done
  const path: string[] = [];
  const visit = (n: string): string[] | undefined => {
    if (state.get(n) === 2) return undefined;
    if (state.get(n) === 1) return [...path.slice(path.indexOf(n)), n];
    state.set(n, 1);
    path.push(n);
    for (const d of [...(deps[n] ?? [])].sort()) {
      if (!(d in deps)) continue;
      const c = visit(d);
      if (c) return c;
    }
    path.pop();
    state.set(n, 2);
    return undefined;
  };
  for (const n of Object.keys(deps).sort()) {
    const c = visit(n);
    if (c) return c;
  }
  return undefined;
}

export const formatCycle = (cycle: string[]) => cycle.join(' → ');

/**
 * Start levels for `deps` (dependencies outside the map are ignored: the caller checks them).
 * Throws a UserError naming the cycle when there is one; `where` locates the message.
 */
export function startPlan(deps: DependencyMap, where?: (cycle: string[]) => ErrorDetail | undefined): StartPlan {
  const cycle = findCycle(deps);
  if (cycle) {
    const d = where?.(cycle);
    throw new UserError('E_COMPOSE_CYCLE', `dependency cycle between services: ${formatCycle(cycle)}`, d ? [d] : [], 'remove one depends_on (or network_mode: service:…) link of the cycle');
  }
  const level = new Map<string, number>();
  const depth = (n: string): number => {
    const known = level.get(n);
    if (known !== undefined) return known;
    const l = Math.max(-1, ...(deps[n] ?? []).filter((d) => d in deps).map(depth)) + 1;
    level.set(n, l);
    return l;
  };
  const levels: string[][] = [];
  for (const n of Object.keys(deps)) (levels[depth(n)] ??= []).push(n);
  for (const l of levels) l.sort();
  return { levels, stopLevels: [...levels].reverse(), order: levels.flat() };
}
