// Generates the reference docs from the code's own tables, so they cannot drift:
//  - docs/spec-reference.md   every field of schema/container.schema.json: type, default, example,
//                             description. Defaults come from the schema's `default` keyword or the
//                             one defaults file (src/spec/defaults.ts); examples are the first value
//                             of that field in the repository's example specs (examples/**/*.yaml).
//  - docs/compose-support.md  the Compose service keys (src/compose/to-spec.ts KEYS) and the
//                             `niwa compose` verbs (src/cli/compose.ts SUBCOMMANDS).
// Reads dist/ (run `node scripts/build.mjs` first). Run: node scripts/gen-docs.mjs
// test/unit/docs/generated.test.ts fails when a committed file differs from what this generates.
import { readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = (p) => import(pathToFileURL(join(root, 'dist', p)).href);

// ---------------------------------------------------------------------------------------------
// Spec reference

/** Defaults the schema does not carry, from src/spec/defaults.ts (the one file of defaults). */
function defaultsTable(D) {
  const list = (xs) => xs.join(', ');
  const secs = (ms) => `${ms / 1000}s`;
  return {
    rootfs: 'the embedded default: a read-only view of the host\'s /usr, /bin, /lib*, /etc on a fresh tmpfs',
    'rootfs.readonly': 'false',
    'rootfs.pull': 'missing',
    root: D.DEFAULT_ROOT,
    namespaces: `[${list(D.DEFAULT_NAMESPACES)}]`,
    uid_map: `container 0 → the invoking user, size ${D.DEFAULT_USERNS_MAP_SIZE} (with a user namespace)`,
    gid_map: `container 0 → the invoking user's group, size ${D.DEFAULT_USERNS_MAP_SIZE} (with a user namespace)`,
    'process.cwd': D.DEFAULT_CWD,
    'process.env': `PATH=${D.DEFAULT_PATH}, HOME, TERM=${D.DEFAULT_TERM}`,
    'process.user': '0 (root in the container)',
    'process.tty': 'false',
    'process.init': 'false',
    masked_paths: list(D.DEFAULT_MASKED_PATHS),
    readonly_paths: list(D.DEFAULT_READONLY_PATHS),
    capabilities: `Docker's ${D.DEFAULT_CAPABILITIES.length}: ${list(D.DEFAULT_CAPABILITIES)}`,
    no_new_privs: String(D.DEFAULT_NO_NEW_PRIVS),
    seccomp: D.DEFAULT_SECCOMP,
    'hooks.*.timeout': `${D.DEFAULT_HOOK_TIMEOUT}`,
    'hooks.*.optional': 'false',
    'cgroup.cpu_period': '100000',
    restart: 'no',
    stop_signal: D.DEFAULT_STOP_SIGNAL,
    stop_grace_period: secs(D.DEFAULT_STOP_TIMEOUT_MS),
    'healthcheck.interval': secs(D.DEFAULT_HEALTH.intervalMs),
    'healthcheck.timeout': secs(D.DEFAULT_HEALTH.timeoutMs),
    'healthcheck.retries': String(D.DEFAULT_HEALTH.retries),
    'healthcheck.start_period': secs(D.DEFAULT_HEALTH.startPeriodMs),
    'mounts[].readonly': 'false',
    'mounts[].recursive': 'true',
  };
}

/** The example specs, as parsed data, in a stable order. */
function exampleSpecs(YAML) {
  const walk = (d) => readdirSync(d).sort().flatMap((f) => {
    const p = join(d, f);
    return statSync(p).isDirectory() ? (f === 'compose' ? [] : walk(p)) : /\.container\.ya?ml$/.test(f) ? [p] : [];
  });
  return walk(join(root, 'examples')).map((f) => ({ file: relative(root, f), data: YAML.parse(readFileSync(f, 'utf8')) }));
}

/** Dotted path (list items as `[]`) → the first value found in the example specs. */
function exampleValues(specs) {
  const out = new Map();
  const visit = (v, path) => {
    if (path && !out.has(path)) out.set(path, v);
    if (Array.isArray(v)) v.forEach((x) => visit(x, `${path}[]`));
    else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) visit(x, path ? `${path}.${k}` : k);
  };
  for (const s of specs) visit(s.data, '');
  return out;
}

function deref(schema, node) {
  let n = node;
  while (n && n.$ref) {
    const target = n.$ref.replace(/^#\//, '').split('/').reduce((o, k) => o[k], schema);
    const { $ref, ...rest } = n;
    n = { ...target, ...rest, description: rest.description ?? target.description };
  }
  return n;
}

/** A short human type: "string", "size (string or integer)", "one of: a | b", "list of …". */
function typeOf(schema, node) {
  const n = deref(schema, node);
  const refName = node.$ref ? node.$ref.split('/').pop() : undefined;
  if (n.const !== undefined) return `"${n.const}"`;
  if (n.enum) return n.enum.length > 12 ? `${refName ?? 'name'} (${n.enum.length} values)` : `one of: ${n.enum.join(' | ')}`;
  if (n.if && n.then?.enum) return `${n.then.enum.map((x) => `"${x}"`).join(' | ')} | ${typeOf(schema, n.else)}`;
  if (n.oneOf && !n.type) return n.oneOf.map((x) => typeOf(schema, x)).join(' | ');
  const types = [].concat(n.type ?? []);
  const parts = types.map((t) => {
    if (t === 'array') return `list of ${n.items ? typeOf(schema, n.items) : 'any'}`;
    if (t === 'object' && refName && !['process', 'cgroup', 'capabilities'].includes(refName)) return `object (${refName})`;
    return t;
  });
  const base = parts.join(' | ') || 'any';
  return refName && !base.includes(refName) && !['namespaceKind'].includes(refName) ? `${refName}: ${base}` : base;
}

/** Every field, depth first in schema order: [path, node]. */
function fields(schema, node, path, out) {
  const n = deref(schema, node);
  if (path) out.push([path, node]);
  const props = Object.entries(n.properties ?? {});
  const shared = props.length > 2 && props.every(([, v]) => v.$ref && v.$ref === props[0][1].$ref);
  if (shared) {
    // A map of names to one shape (namespaces, hooks): each name once, the shape once under `*`.
    for (const [k, v] of props) out.push([`${path}.${k}`, v, true]);
    const inner = [];
    fields(schema, props[0][1], `${path}.*`, inner);
    out.push(...inner.slice(1));
  } else for (const [k, v] of props) fields(schema, v, path ? `${path}.${k}` : k, out);
  if (n.oneOf) {
    // Variants (mounts): each variant's fields, once per name.
    const seen = new Set(out.map(([p]) => p));
    for (const v of n.oneOf) {
      const dv = deref(schema, v);
      for (const [k, x] of Object.entries(dv.properties ?? {})) {
        const p = `${path}.${k}`;
        if (!seen.has(p)) { seen.add(p); fields(schema, x, p, out); }
      }
    }
  }
  if (n.items && (deref(schema, n.items).properties || deref(schema, n.items).oneOf)) fields(schema, n.items, `${path}[]`, out);
  if (n.additionalProperties && typeof n.additionalProperties === 'object' && deref(schema, n.additionalProperties).properties) {
    fields(schema, n.additionalProperties, `${path}.*`, out);
  }
  return out;
}

/** A value of the right shape for a field no example spec sets (by definition name, then by type). */
const SAMPLES = {
  size: '64M', sizeOrUnlimited: '1G', duration: '5s', idRef: 1000, absolutePath: '/data', errno: 'EPERM', mode: '0755',
  capability: 'CAP_NET_ADMIN', capabilityList: ['CAP_NET_ADMIN'], cpuList: '0-1', hostname: 'box', namespaceKind: 'pid',
  mountOptions: ['nosuid', 'nodev'], rlimitName: 'nofile', rlimitNumber: 1024, rlimitValue: 1024, seccompAction: 'errno',
  hook: 'echo started', hooks: ['echo started'], propagation: 'rprivate', namespaceOptions: { path: '/proc/1234/ns/net' },
  idMapping: { container_id: 0, host_id: 100000, size: 65536 },
};
/** Samples for fields whose shape says too little (free strings, maps). */
const SAMPLES_BY_PATH = {
  'rootfs.path': './rootfs', 'namespaces.*.path': '/proc/1234/ns/net', 'namespaces.*.container': 'db', 'namespaces.*.offsets': { monotonic: 3600 },
  'process.entrypoint': ['/bin/sh', '-c'], devices: [{ path: '/dev/fuse', permissions: 'rw' }], 'devices[]': { path: '/dev/fuse' },
  'devices[].permissions': 'rw', 'cgroup.io_max': { '8:0': { read_bps: '10M' } }, 'cgroup.io_max.*': { write_iops: 100 },
  'cgroup.hugetlb': { '2MB': '64M' }, 'cgroup.raw': { 'memory.high': '30M' }, 'capabilities.sets': { bounding: ['CAP_CHOWN'], ambient: [] },
  'hooks.*.command': ['/bin/echo', 'started'], 'hooks.*[].command': 'echo started', healthcheck: { test: 'true', interval: '5s' },
  'healthcheck.test': 'wget -q -O- http://127.0.0.1:8080/', 'healthcheck.tcp': 8080, 'healthcheck.http': 'http://127.0.0.1:8080/health',
  restart: 'on-failure:3', stop_signal: 'SIGINT',
};
function sampleOf(schema, node, path) {
  if (SAMPLES_BY_PATH[path] !== undefined) return SAMPLES_BY_PATH[path];
  const refName = node.$ref ? node.$ref.split('/').pop() : undefined;
  if (refName && SAMPLES[refName] !== undefined) return SAMPLES[refName];
  const n = deref(schema, node);
  if (n.const !== undefined) return n.const;
  if (n.enum) return n.enum[0];
  const t = [].concat(n.type ?? [])[0];
  if (t === 'boolean') return true;
  if (t === 'integer' || t === 'number') return n.minimum !== undefined && n.minimum > 0 ? n.minimum : 1;
  if (t === 'array' && n.items) { const x = sampleOf(schema, n.items, `${path}[]`); return x === undefined ? undefined : [x]; }
  if (t === 'string' && !n.pattern) return path.endsWith('image') ? 'busybox' : path.split('.').pop() === 'source' ? './data' : undefined;
  return undefined;
}

const md = (s) => String(s).replace(/\|/g, '\\|');
const show = (v) => (typeof v === 'string' ? v : JSON.stringify(v));

export async function specReference() {
  const schema = JSON.parse(readFileSync(join(root, 'schema', 'container.schema.json'), 'utf8'));
  const D = await dist('src/spec/defaults.js');
  const YAML = (await import('yaml')).default;
  const defaults = defaultsTable(D);
  const specs = exampleSpecs(YAML);
  const examples = exampleValues(specs);
  const lookupDefault = (p, n) => n.default !== undefined ? show(n.default) : defaults[p] ?? defaults[p.replace(/^hooks\.\*(\[\])?\./, 'hooks.*.')];
  const lines = [
    '# Spec reference',
    '',
    '<!-- GENERATED by scripts/gen-docs.mjs from schema/container.schema.json, src/spec/defaults.ts and',
    '     the example specs; do not edit. Regenerate: node scripts/build.mjs && node scripts/gen-docs.mjs -->',
    '',
    `Every field of a container spec (${relative(root, join(root, 'schema', 'container.schema.json'))}), the same in YAML and in`,
    "TypeScript (`defineContainer({...})` from `'niwa'`). A path like `mounts[].target` is a field of each",
    'list item; `hooks.*` is any key of that map. Defaults are what niwa uses when the field is left out;',
    'the examples are taken from the specs in `examples/`.',
    '',
    `Required: ${schema.required.map((r) => `\`${r}\``).join(', ')}.`,
    '',
  ];
  const top = Object.keys(schema.properties);
  lines.push('Top-level fields: ' + top.map((k) => `[\`${k}\`](#${k.replace(/_/g, '_')})`).join(' · '), '');
  for (const [p, node, brief] of fields(schema, schema, '', [])) {
    const n = deref(schema, node);
    if (brief) { lines.push(`- \`${p}\`: ${node.description ?? ''}`, ''); continue; }
    const depth = p.split('.').length + (p.includes('[]') ? 0 : 0);
    lines.push(`${depth === 1 ? '## ' : '### '}${depth === 1 ? p : `\`${p}\``}`, '');
    const rows = [['Type', typeOf(schema, node)]];
    const d = lookupDefault(p, n);
    if (d !== undefined) rows.push(['Default', d]);
    const ex = examples.get(p) ?? sampleOf(schema, node, p);
    if (ex !== undefined) {
      const text = show(ex);
      rows.push(['Example', text.length > 120 ? `${text.slice(0, 117)}…` : text]);
    }
    if (n.pattern && !n.enum) rows.push(['Pattern', `\`${n.pattern}\``]);
    if (n.minimum !== undefined || n.maximum !== undefined) rows.push(['Range', `${n.minimum ?? '…'} to ${n.maximum ?? '…'}`]);
    lines.push(rows.map(([k, v]) => `${k}: ${k === 'Pattern' ? v : `\`${String(v).replace(/`/g, "'")}\``}`).join(' · '), '');
    if (n.description) lines.push(n.description, '');
  }
  return lines.join('\n').replace(/\n+$/, '\n');
}

// ---------------------------------------------------------------------------------------------
// Compose support

export async function composeSupport() {
  const { KEYS } = await dist('src/compose/to-spec.js');
  const { SUBCOMMANDS } = await dist('src/cli/compose.js');
  const keys = Object.entries(KEYS).sort(([a], [b]) => a.localeCompare(b));
  const by = (pred) => keys.filter(([, r]) => pred(r)).map(([k]) => `\`${k}\``).join(', ');
  const lines = [
    '# Compose support',
    '',
    '<!-- GENERATED by scripts/gen-docs.mjs from src/compose/to-spec.ts (KEYS) and src/cli/compose.ts',
    '     (SUBCOMMANDS); do not edit. Regenerate: node scripts/build.mjs && node scripts/gen-docs.mjs -->',
    '',
    '`niwa compose` reads Docker Compose files (`compose.yaml`, `-f` merges, `.env`, interpolation,',
    '`extends`, `include`, profiles). This page lists, from the code\'s own tables, which service keys',
    'it uses and which verbs it has. Top-level `services`, `networks`, `volumes`, `secrets`, `configs`,',
    '`include` and `name` are read as in Compose.',
    '',
    '## Verbs',
    '',
    '| Verb | What it does | Usage |',
    '|---|---|---|',
    ...Object.entries(SUBCOMMANDS).map(([k, v]) => `| \`${k}\` | ${md(v.summary)} | \`${md(v.usage.split('\n')[0])}\` |`),
    '',
    '## Service keys',
    '',
    `**Mapped into the container spec** (each becomes a spec field; \`niwa compose plan\` shows the steps): ${by((r) => r === 'mapped')}.`,
    '',
    `**Project-level** (networks, ports, ordering, names): ${by((r) => r === 'extra')}.`,
    '',
    `**Read by the loader** (not a runtime setting): ${by((r) => r === 'meta')}.`,
    '',
    '**Not supported** (one warning per service, with file:line:col; the rest of the service runs):',
    '',
    '| Key | Why |',
    '|---|---|',
    ...keys.filter(([, r]) => !['mapped', 'extra', 'meta'].includes(r)).map(([k, r]) => `| \`${k}\` | ${md(r)} |`),
    '',
  ];
  return lines.join('\n');
}

export async function generate() {
  return { 'docs/spec-reference.md': await specReference(), 'docs/compose-support.md': await composeSupport() };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  for (const [f, text] of Object.entries(await generate())) {
    writeFileSync(join(root, f), text);
    console.log(`wrote ${f}`);
  }
}
