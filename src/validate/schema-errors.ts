// ajv errors → ErrorDetail: dotted path, file:line:col, what was expected, a hint. Never raw ajv text.
import type { ErrorObject } from 'ajv';
import type { ErrorDetail } from '../errors.js';
import { detail, type Positions } from '../spec/load/context.js';
import { closest, suggestHint } from '../spec/load/suggest.js';
import { dataAt, jsonType, schemaAt, type Schema } from './schema-walk.js';

/** How each schema pattern reads in a message. */
const PATTERN_PHRASES: Record<string, string> = {
  '^/': 'an absolute path (starting with /)',
  '^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$': "a name of letters, digits, '_', '.' and '-' (at most 63, starting with a letter or digit)",
  '^[0-9]+(\\.[0-9]+)?\\s*([KMGTkmgt]([Ii]?[Bb])?|[Bb])?$': 'a size like 512K, 32M, 1.5G or a number of bytes',
  '^([0-9]+(\\.[0-9]+)?\\s*([KMGTkmgt]([Ii]?[Bb])?|[Bb])?|-1|unlimited)$': "a size like 1G, a number of bytes, or -1 / 'unlimited'",
  '^(0o?)?[0-7]{1,4}$': 'an octal mode like "1777" or "0755"',
  '^[0-9]+(\\.[0-9]+)?$': 'a number like 0.5 or 2',
  '^unlimited$': "a number or 'unlimited'",
  '^[0-9]+(-[0-9]+)?(,[0-9]+(-[0-9]+)?)*$': 'a list like 0-1,3',
  '^([Cc][Aa][Pp]_)?[A-Za-z_]+$': 'a capability name like CAP_NET_RAW',
  '^([A-Za-z_][A-Za-z0-9_.-]*\\$?|[0-9]+)$': 'a user/group name or a numeric id',
  '^E[A-Z0-9]+$': 'an errno name like EPERM or a number',
  '^[0-9]+:[0-9]+$': 'a device as MAJOR:MINOR, like 8:0',
  '^[0-9]+(KB|MB|GB)$': 'a huge page size like 2MB or 1GB',
  '^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$': "a valid hostname (letters, digits and '-' in dot-separated labels)",
  '^[a-z0-9_]+(\\.[A-Za-z0-9_-]+)+$': 'a sysctl name like net.ipv4.ip_forward',
  '^[a-z0-9_]+\\.[a-z0-9_.]+$': 'a controller file name like memory.high',
  '^[a-z0-9_]+(=[^,]*)?$': 'a mount option like nosuid or size=8m',
  '^[a-z0-9_]+$': 'a system call name like openat',
  '^[^=\\u0000]+$': "a variable name without '='",
};

/** Extra hints for particular fields, keyed by dotted path ('*' = any key or index). */
const FIELD_HINTS: Record<string, string> = {
  '': 'a spec is a mapping with at least `name:` and `process: {args: [...]}`; `niwa init` writes a starter',
  'process.args': 'a list, e.g. args: [/bin/sh, -c, "echo hello"]',
  'process.env': 'a mapping of NAME: value (quote numbers and booleans: "1", "true")',
  'process.env.*': 'environment values are strings; quote it, e.g. "1"',
  'hostname': "letters, digits and '-' in dot-separated labels, at most 64 characters",
  'domainname': "letters, digits and '-' in dot-separated labels, at most 64 characters",
  'namespaces': 'a list like [mount, uts, ipc, pid, net], or a mapping like {net: {path: /proc/1/ns/net}}',
  'mounts.*': 'a mount is {type: bind, source, target}, {type: tmpfs, target, size}, or {type: proc|sysfs|devpts|mqueue, target}',
  'mounts.*.target': 'a path inside the container, e.g. /data',
  'cgroup.memory': 'e.g. memory: 64M',
  'cgroup.cpus': 'e.g. cpus: 0.5 for half a CPU',
  'capabilities': 'e.g. capabilities: {drop: [NET_RAW], add: [SYS_PTRACE]}',
  'seccomp': "'default', 'unconfined', or a profile {default_action: errno, syscalls: [...]}",
  'uid_map.*': 'e.g. {container_id: 0, host_id: 100000, size: 65536}',
  'gid_map.*': 'e.g. {container_id: 0, host_id: 100000, size: 65536}',
  'rlimits': 'e.g. rlimits: {nofile: 1024, nproc: {soft: 64, hard: 128}}',
};

/** Keys users bring from Docker/Compose/OCI, keyed by dotted path ('*' = anywhere): where niwa has it. */
const KEY_ALIASES: Record<string, string> = {
  'command': 'process.args', 'cmd': 'process.args', 'entrypoint': 'process.args', 'args': 'process.args',
  'environment': 'process.env', 'env': 'process.env', 'user': 'process.user', 'working_dir': 'process.cwd',
  'workdir': 'process.cwd', 'cwd': 'process.cwd', 'tty': 'process.tty', 'init': 'process.init',
  'volumes': 'mounts', 'tmpfs': "mounts (with type: tmpfs)", 'image': 'rootfs: {image: ...}', 'cap_add': 'capabilities.add',
  'cap_drop': 'capabilities.drop', 'ulimits': 'rlimits', 'mem_limit': 'cgroup.memory', 'memory': 'cgroup.memory',
  'pids_limit': 'cgroup.pids', 'cpus': 'cgroup.cpus', 'security_opt': 'seccomp / no_new_privs', 'privileged': 'capabilities: {add: [ALL]}, seccomp: unconfined',
  'labels': 'annotations', 'env_file': 'env_files', 'uidmap': 'uid_map', 'gidmap': 'gid_map',
  'capabilities.remove': 'capabilities.drop', 'capabilities.cap_drop': 'capabilities.drop', 'capabilities.cap_add': 'capabilities.add',
  'process.command': 'process.args', 'process.environment': 'process.env', 'process.workdir': 'process.cwd', 'process.working_dir': 'process.cwd',
};

const TYPE_WORDS: Record<string, string> = {
  array: 'a list', object: 'a mapping', string: 'a string', integer: 'an integer', number: 'a number', boolean: 'true or false', null: 'null',
};

export function fieldHint(field: string): string | undefined {
  const segs = field.split('.');
  for (const [pat, hint] of Object.entries(FIELD_HINTS)) {
    const ps = pat.split('.');
    if (ps.length === segs.length && ps.every((p, i) => p === '*' || p === segs[i])) return hint;
  }
  return undefined;
}

const segmentsOf = (instancePath: string) =>
  instancePath.split('/').slice(1).map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));

const show = (v: unknown) => (typeof v === 'string' ? `'${v}'` : JSON.stringify(v));
const typeWords = (t: unknown) => (Array.isArray(t) ? t : [t]).map((x) => TYPE_WORDS[String(x)] ?? String(x)).join(' or ');
const plural = (n: number, w: string) => `${n} ${w}${n === 1 ? '' : 's'}`;

interface Ctx { file: string; positions: Positions; root: Schema; data: unknown }

/** Translate one ajv error; undefined for wrapper errors whose cause is reported on its own. */
function translate(e: ErrorObject, c: Ctx): ErrorDetail | undefined {
  const segs = segmentsOf(e.instancePath);
  const path = segs.join('.');
  const value = dataAt(c.data, segs);
  const sub = schemaAt(c.root, segs, c.data) ?? {};
  const desc = typeof sub.description === 'string' ? sub.description : undefined;
  const hintFor = (field: string, s: Schema = sub) => fieldHint(field) ?? (typeof s.description === 'string' ? s.description : undefined);
  const child = (k: string) => (path ? `${path}.${k}` : k);
  const p = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'if': case 'oneOf': case 'anyOf': case 'propertyNames':
      return undefined;
    case 'required': {
      const k = String(p.missingProperty);
      const f = child(k);
      const s = schemaAt(c.root, [...segs, k], { ...(value as object), [k]: undefined }) ?? {};
      return detail(c, f, `missing required field '${k}'`, hintFor(f, s));
    }
    case 'additionalProperties': {
      const k = String(p.additionalProperty);
      const known = Object.keys((sub.properties ?? {}) as object);
      const where = path ? ` in ${path}` : '';
      const alias = KEY_ALIASES[child(k)];
      const near = closest(k, known);
      const hint = near ? `did you mean '${near}'?` : alias ? `in niwa this is ${alias}` : `known fields: ${known.join(', ')}`;
      return detail(c, child(k), `unknown field '${k}'${where}`, hint);
    }
    case 'type': {
      if (!path && (value === null || value === undefined)) return detail(c, path, 'the spec is empty', fieldHint(''));
      const got = TYPE_WORDS[jsonType(value)] ?? jsonType(value);
      return detail(c, path, `expected ${typeWords(p.type)}, got ${got}${scalarShow(value)}`, hintFor(path));
    }
    case 'enum': case 'const': {
      const allowed = (e.keyword === 'const' ? [p.allowedValue] : (p.allowedValues as unknown[])).map(String);
      if (e.propertyName !== undefined) {
        const k = e.propertyName;
        return detail(c, child(k), `unknown name '${k}'${path ? ` in ${path}` : ''}`, suggestHint(k, allowed, 'known names'));
      }
      const near = typeof value === 'string' ? closest(value, allowed) : undefined;
      const list = allowed.length > 16 ? `known: expected ${desc ? lowerFirst(desc.replace(/\.$/, '')) : `a known ${lastKey(segs)}`}` : `one of: ${allowed.join(', ')}`;
      return detail(c, path, `${show(value)} is not ${list}`, near ? `did you mean '${near}'?` : fieldHint(path) ?? (allowed.length > 16 ? undefined : desc));
    }
    case 'discriminator': {
      const tag = String(p.tag);
      const kinds = ((sub.oneOf ?? []) as Schema[]).flatMap((b) => {
        const t = ((b.properties as Record<string, Schema>) ?? {})[tag] ?? {};
        return t.const !== undefined ? [String(t.const)] : ((t.enum as string[]) ?? []);
      });
      if (p.error === 'mapping') {
        const v = (value as Record<string, unknown>)?.[tag];
        const near = typeof v === 'string' ? closest(v, kinds) : undefined;
        return detail(c, child(tag), `unknown ${tag} ${show(v)}; expected one of: ${kinds.join(', ')}`, near ? `did you mean '${near}'?` : undefined);
      }
      return undefined; // a missing tag is reported by `required`
    }
    case 'pattern': {
      const what = PATTERN_PHRASES[String(p.pattern)] ?? (desc ? `valid here (${lowerFirst(desc.replace(/\.$/, ''))})` : `text matching ${p.pattern}`);
      if (e.propertyName !== undefined) return detail(c, child(e.propertyName), `'${e.propertyName}' is not a valid key here: expected ${what}`, fieldHint(path) ?? desc);
      return detail(c, path, `${show(value)} is not ${what}`, fieldHint(path) ?? desc);
    }
    case 'minimum': case 'maximum': case 'exclusiveMinimum': case 'exclusiveMaximum': {
      const op = { minimum: '>=', maximum: '<=', exclusiveMinimum: '>', exclusiveMaximum: '<' }[e.keyword];
      return detail(c, path, `${show(value)} is out of range: must be ${op} ${p.limit}`, hintFor(path));
    }
    case 'minItems':
      return detail(c, path, Number(p.limit) === 1 ? 'must not be an empty list' : `must have at least ${plural(Number(p.limit), 'item')}`, hintFor(path));
    case 'maxItems':
      return detail(c, path, `must have at most ${plural(Number(p.limit), 'item')}`, hintFor(path));
    case 'minLength':
      return detail(c, path, Number(p.limit) === 1 ? 'must not be empty' : `must be at least ${plural(Number(p.limit), 'character')}`, hintFor(path));
    case 'maxLength':
      return detail(c, path, `is too long: at most ${plural(Number(p.limit), 'character')}`, hintFor(path));
    case 'uniqueItems':
      return detail(c, `${path}.${p.i}`, `${show((value as unknown[])[Number(p.i)])} is listed twice (also at ${path}.${p.j})`, 'remove the repeated item');
    default:
      return detail(c, path, `is not valid here (${e.keyword})`, hintFor(path));
  }
}

/** The last non-index segment of a path (capabilities.drop.0 → drop). */
const lastKey = (segs: string[]) => [...segs].reverse().find((s) => !/^\d+$/.test(s)) ?? 'value';

const lowerFirst = (s: string) => s[0].toLowerCase() + s.slice(1);

const scalarShow = (v: unknown) => (v === null || typeof v === 'object' ? '' : ` (${show(v)})`);

/** All ajv errors as ErrorDetails, deduplicated and in source order. */
export function translateErrors(errors: ErrorObject[], c: Ctx): ErrorDetail[] {
  const out: ErrorDetail[] = [];
  const seen = new Set<string>();
  for (const e of errors) {
    const d = translate(e, c);
    if (!d) continue;
    const key = `${d.field}\0${d.message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(d);
  }
  return sortDetails(out);
}

export function sortDetails(ds: ErrorDetail[]): ErrorDetail[] {
  return ds
    .map((d, i) => ({ d, i }))
    .sort((a, b) => (a.d.line ?? 1e9) - (b.d.line ?? 1e9) || (a.d.col ?? 0) - (b.d.col ?? 0) || a.i - b.i)
    .map((x) => x.d);
}
