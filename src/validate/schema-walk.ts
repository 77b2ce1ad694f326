// Find the sub-schema that applies at a data path (follows $ref, if/then/else, discriminated oneOf).
export type Schema = { [k: string]: unknown };

export function deref(root: Schema, s: Schema | undefined, data?: unknown): Schema | undefined {
  let cur = s;
  for (let guard = 0; cur && guard < 20; guard++) {
    if (typeof cur.$ref === 'string') {
      const { $ref, ...rest } = cur;
      const target = pointer(root, $ref as string);
      cur = { ...target, ...rest };
      continue;
    }
    if (cur.if && typeof cur.if === 'object') {
      const { if: cond, then: th, else: el, ...rest } = cur;
      const branch = matchesType(cond as Schema, data) ? th : el;
      cur = { ...rest, ...((branch as Schema) ?? {}) };
      continue;
    }
    if (Array.isArray(cur.oneOf) && cur.discriminator && data && typeof data === 'object') {
      const tag = (cur.discriminator as { propertyName: string }).propertyName;
      const value = (data as Record<string, unknown>)[tag];
      const { oneOf, discriminator: _d, ...rest } = cur;
      const branch = (oneOf as Schema[]).find((b) => {
        const p = ((b.properties as Record<string, Schema>) ?? {})[tag] ?? {};
        return p.const === value || (Array.isArray(p.enum) && p.enum.includes(value));
      });
      if (!branch) return cur;
      cur = { ...rest, ...branch };
      continue;
    }
    return cur;
  }
  return cur;
}

function pointer(root: Schema, ref: string): Schema {
  let s: unknown = root;
  for (const part of ref.replace(/^#\/?/, '').split('/').filter(Boolean)) s = (s as Schema)[part.replace(/~1/g, '/').replace(/~0/g, '~')];
  return (s ?? {}) as Schema;
}

export function jsonType(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

function matchesType(cond: Schema, data: unknown): boolean {
  const t = cond.type;
  const types = Array.isArray(t) ? t : [t];
  const dt = jsonType(data);
  return types.includes(dt) || (dt === 'integer' && types.includes('number'));
}

/** The schema for `segments` (keys/indices) below `root`, given the data being validated. */
export function schemaAt(root: Schema, segments: string[], data: unknown): Schema | undefined {
  let s = deref(root, root, data);
  let d = data;
  for (const seg of segments) {
    if (!s) return undefined;
    const props = (s.properties ?? {}) as Record<string, Schema>;
    let next: Schema | undefined;
    if (Array.isArray(d) && s.items) next = s.items as Schema;
    else if (Object.prototype.hasOwnProperty.call(props, seg)) next = props[seg];
    else if (s.additionalProperties && typeof s.additionalProperties === 'object') next = s.additionalProperties as Schema;
    d = d && typeof d === 'object' ? (d as Record<string, unknown>)[seg] : undefined;
    s = deref(root, next, d);
  }
  return s;
}

/** The data at `segments` below `data`. */
export function dataAt(data: unknown, segments: string[]): unknown {
  let d = data;
  for (const seg of segments) d = d && typeof d === 'object' ? (d as Record<string, unknown>)[seg] : undefined;
  return d;
}
