// Source locations for a TypeScript compose file (Haconiwa's barn: `defineCompose({ services: {
// a: container('a')…, b: {…} } })`). A module has no YAML position map, so the loader gives each
// service the locations it can find in the file's text: a builder's fields point at the builder's
// own calls (`container('b')….memory(` of b, not of the first builder), a plain object's at its
// keys under `services:`. What cannot be found gets no location (never another service's).
import { readFileSync } from 'node:fs';
import { builderPositions } from '../spec/load/read-ts.js';
import { locateInSource } from '../spec/load/ts-positions.js';
import { setLoc, setSelfLoc, type Loc } from './loc.js';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Give `data.services` (a module's default export, builders already plain or not) their locations in `file`. */
export function locateTsServices(data: Obj, file: string): void {
  const services = data.services;
  if (!isObj(services)) return;
  let text: string;
  try { text = readFileSync(file, 'utf8'); } catch { return; }
  const at = (p: { line: number; col: number } | undefined): Loc | undefined => (p ? { file, ...p } : undefined);
  setSelfLoc(services, at(locateInSource(text, 'services')));
  for (const [key, value] of Object.entries(services)) {
    // a builder left as it is (no defineCompose): its plain spec, positions taken first
    const plain = isObj(value) && typeof value.toSpec === 'function' ? (value.toSpec as () => unknown).call(value) : value;
    if (!isObj(plain)) continue;
    const calls = builderPositions(value, plain, file, text);
    const own = at(calls?.name ?? locateInSource(text, `services.${key}`));
    setLoc(services, key, own);
    setSelfLoc(plain, own);
    if (calls) for (const [field, p] of Object.entries(calls)) setPathLoc(plain, field, at(p));
    else for (const field of leafPaths(plain)) setPathLoc(plain, field, at(locateInSource(text, `services.${key}.${field}`)));
    services[key] = plain;
  }
}

/** Set the location of the last key of dotted `field` below `root`, when the path exists. */
function setPathLoc(root: Obj, field: string, loc: Loc | undefined): void {
  const segs = field.split('.');
  let cur: unknown = root;
  for (const s of segs.slice(0, -1)) {
    if (cur === null || typeof cur !== 'object') return;
    cur = (cur as Obj)[s];
  }
  if (cur !== null && typeof cur === 'object') setLoc(cur, segs[segs.length - 1], loc);
}

/** Every dotted path of `v` down to its leaves (objects and arrays walked). */
function leafPaths(v: unknown, prefix = ''): string[] {
  if (v === null || typeof v !== 'object') return prefix ? [prefix] : [];
  const out: string[] = prefix ? [prefix] : [];
  for (const [k, x] of Object.entries(v)) out.push(...leafPaths(x, prefix ? `${prefix}.${k}` : k));
  return out;
}
