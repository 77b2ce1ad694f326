// Compose phase 6, merge: later -f files over earlier ones (and a service over the one it
// extends), by the compose-spec's merge rules on normalised data:
//   - mappings are merged key by key; scalars are replaced;
//   - sequences are appended, except the unique resources, merged by their key:
//     ports by {host_ip, target, published, protocol}, volumes by target,
//     secrets and configs by target (or source);
//   - command, entrypoint and healthcheck.test are replaced, never appended;
//   - list-of-names keys (cap_add, dns, expose, profiles, …) are appended without repeats;
//   - `!reset` drops the inherited value, `!override` replaces it whole.
// Inputs are never modified; locations travel with the values (loc.ts).
import { cloneLoc, copyLoc, getMark, selfLoc, setSelfLoc } from './loc.js';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

/** How a sequence under a service key merges. */
type SeqRule = 'replace' | 'append' | 'unique' | ((item: unknown) => string);

const portKey = (p: unknown) => {
  const o = p as Obj;
  return JSON.stringify([o.host_ip ?? '', o.target, o.published ?? '', o.protocol ?? 'tcp']);
};
const targetKey = (v: unknown) => String((v as Obj).target ?? '');
const secretKey = (v: unknown) => (typeof v === 'string' ? v : String((v as Obj).target ?? (v as Obj).source ?? ''));

/** Rules keyed by the dotted path below a service ('' = not a service key). Default: append. */
export const SERVICE_SEQ_RULES: Record<string, SeqRule> = {
  command: 'replace',
  entrypoint: 'replace',
  'healthcheck.test': 'replace',
  ports: portKey,
  volumes: targetKey,
  secrets: secretKey,
  configs: secretKey,
  expose: 'unique',
  cap_add: 'unique',
  cap_drop: 'unique',
  dns: 'unique',
  dns_search: 'unique',
  dns_opt: 'unique',
  security_opt: 'unique',
  profiles: 'unique',
  devices: 'unique',
  tmpfs: 'unique',
  group_add: 'unique',
  external_links: 'unique',
  label_file: 'unique',
  links: 'unique',
  'build.cache_from': 'unique',
  'build.tags': 'unique',
  // extra_hosts values: the IPs of one host name
};

function mergeSeq(base: unknown[], over: unknown[], rule: SeqRule): unknown[] {
  if (rule === 'replace') return cloneLoc(over);
  const out = cloneLoc(base);
  if (rule === 'append') {
    over.forEach((v, i) => { copyLoc(over, i, out, out.length); out.push(cloneLoc(v)); });
    return out;
  }
  const keyOf = rule === 'unique' ? (v: unknown) => JSON.stringify(v) : rule;
  over.forEach((v, i) => {
    const key = keyOf(v);
    const j = out.findIndex((x) => keyOf(x) === key);
    if (j < 0) { copyLoc(over, i, out, out.length); out.push(cloneLoc(v)); return; }
    if (isObj(out[j]) && isObj(v)) out[j] = mergeValue(out[j], v, '');
    else out[j] = cloneLoc(v);
    copyLoc(over, i, out, j);
  });
  return out;
}

/** Merge `over` onto `base` at `path` (dotted, relative to a service). */
function mergeValue(base: unknown, over: unknown, path: string): unknown {
  if (isObj(base) && isObj(over)) {
    const out = cloneLoc(base);
    for (const [k, v] of Object.entries(over)) {
      const p = path ? `${path}.${k}` : k;
      const mark = getMark(over, k);
      if (mark === 'reset') { delete out[k]; continue; }
      out[k] = mark === 'override' || !(k in out) ? cloneLoc(v) : mergeValue(out[k], v, p);
      copyLoc(over, k, out);
    }
    return out;
  }
  if (Array.isArray(base) && Array.isArray(over)) return mergeSeq(base, over, SERVICE_SEQ_RULES[path] ?? 'append');
  return cloneLoc(over);
}

/** A service merged over another (files and extends use the same rules). */
export function mergeService(base: Obj, over: Obj): Obj {
  return mergeValue(base, over, '') as Obj;
}

/** Whole files: services merged per service, other top-level mappings key by key, `name` replaced. */
export function mergeFiles(base: Obj, over: Obj): Obj {
  const out = cloneLoc(base);
  for (const [k, v] of Object.entries(over)) {
    const mark = getMark(over, k);
    if (mark === 'reset') { delete out[k]; continue; }
    if (k === 'services' && isObj(v) && isObj(out.services) && mark !== 'override') {
      const services = cloneLoc(out.services);
      for (const [name, svc] of Object.entries(v)) {
        const m = getMark(v, name);
        if (m === 'reset') { delete services[name]; continue; }
        services[name] = m === 'override' || !isObj(services[name]) ? cloneLoc(svc) : mergeService(services[name] as Obj, (svc ?? {}) as Obj);
        copyLoc(v, name, services);
      }
      out.services = services;
    } else if (isObj(v) && isObj(out[k]) && mark !== 'override') {
      // networks / volumes / secrets / configs / x-: one level of entries, each merged as a mapping
      out[k] = mergeValue(out[k], v, `#${k}`);
    } else out[k] = cloneLoc(v);
    copyLoc(over, k, out);
  }
  setSelfLoc(out, selfLoc(base) ?? selfLoc(over));
  return out;
}
