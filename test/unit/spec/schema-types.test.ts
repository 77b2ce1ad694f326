// Keeps src/spec/types.ts and schema/container.schema.json identical: every object in the schema is
// listed here with the TS type it mirrors. `satisfies Record<keyof T, true>` makes tsc fail when the
// type gains or loses a field; the assertions fail when the schema does.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../../helpers.js';
import { ALL_CAPS } from '../../../src/spec/capabilities.js';
import { type HealthcheckSpec, type NetworkSpec,
  HOOK_POINTS, NAMESPACE_KINDS,
  type BindMount, type DeviceSpec, type CapabilitiesSpec, type CapabilitySets, type CgroupSpec, type ContainerSpec, type HookCommand,
  type IdMapping, type NamespaceKind, type NamespaceOptions, type ProcessSpec, type Propagation, type SeccompAction,
  type SeccompArg, type SeccompOp, type SeccompProfile, type SeccompRule, type SpecialMount, type TmpfsMount, type HookPoint,
} from '../../../src/spec/types.js';

type Obj = Record<string, unknown>;
const schema = JSON.parse(readFileSync(join(repoRoot, 'schema', 'container.schema.json'), 'utf8')) as Obj;

type RootfsObject = Exclude<ContainerSpec['rootfs'], string | undefined>;
type ProvisionCopy = Extract<NonNullable<RootfsObject['provision']>[number], { copy: unknown }>['copy'];
type ProvisionKeys = 'run' | 'copy';
type Offsets = NonNullable<NamespaceOptions['offsets']>;
type IoMaxEntry = NonNullable<CgroupSpec['io_max']>[string];
type RlimitObject = Extract<NonNullable<ContainerSpec['rlimits']>[string], object>;

/** Schema pointer of each object schema → the keys of the TS type it mirrors. */
const SHAPES: Record<string, readonly string[]> = {
  '#': Object.keys({
    name: true, rootfs: true, root: true, namespaces: true, uid_map: true, gid_map: true, hostname: true, domainname: true,
    process: true, mounts: true, masked_paths: true, readonly_paths: true, devices: true, cgroup: true, capabilities: true, no_new_privs: true,
    rlimits: true, seccomp: true, sysctls: true, oom_score_adj: true, hooks: true, env_files: true, annotations: true,
    healthcheck: true, restart: true, stop_signal: true, stop_grace_period: true, network: true,
  } satisfies Record<keyof ContainerSpec, true>),
  '#/properties/network': Object.keys({ mode: true, name: true, ports: true } satisfies Record<keyof NetworkSpec, true>),
  '#/properties/healthcheck': Object.keys({
    test: true, tcp: true, http: true, interval: true, timeout: true, retries: true, start_period: true,
  } satisfies Record<keyof HealthcheckSpec, true>),
  '#/properties/devices/items': Object.keys({ path: true, container_path: true, permissions: true } satisfies Record<keyof DeviceSpec, true>),
  '#/properties/rootfs': Object.keys({ path: true, image: true, readonly: true, pull: true, provision: true } satisfies Record<keyof RootfsObject, true>),
  '#/properties/rootfs/properties/provision/items': Object.keys({ run: true, copy: true } satisfies Record<ProvisionKeys, true>),
  '#/properties/rootfs/properties/provision/items/properties/copy': Object.keys({ source: true, target: true, chown: true, chmod: true } satisfies Record<keyof ProvisionCopy, true>),
  '#/properties/namespaces': Object.keys(Object.fromEntries(NAMESPACE_KINDS.map((k) => [k, true])) as Record<NamespaceKind, true>),
  '#/properties/hooks': Object.keys(Object.fromEntries(HOOK_POINTS.map((k) => [k, true])) as Record<HookPoint, true>),
  '#/definitions/namespaceOptions': Object.keys({ path: true, container: true, offsets: true } satisfies Record<keyof NamespaceOptions, true>),
  '#/definitions/namespaceOptions/properties/offsets': Object.keys({ monotonic: true, boottime: true } satisfies Record<keyof Offsets, true>),
  '#/definitions/idMapping': Object.keys({ container_id: true, host_id: true, size: true } satisfies Record<keyof IdMapping, true>),
  '#/definitions/process': Object.keys({
    args: true, entrypoint: true, env: true, cwd: true, user: true, group: true, groups: true, tty: true, init: true,
  } satisfies Record<keyof ProcessSpec, true>),
  '#/definitions/mount/oneOf/0': Object.keys({
    type: true, source: true, target: true, readonly: true, recursive: true, propagation: true, options: true,
  } satisfies Record<keyof BindMount, true>),
  '#/definitions/mount/oneOf/1': Object.keys({
    type: true, target: true, size: true, mode: true, readonly: true, options: true,
  } satisfies Record<keyof TmpfsMount, true>),
  '#/definitions/mount/oneOf/2': Object.keys({ type: true, target: true, readonly: true, options: true } satisfies Record<keyof SpecialMount, true>),
  '#/definitions/cgroup': Object.keys({
    memory: true, memory_reservation: true, memory_swap: true, cpus: true, cpu_period: true, cpu_shares: true, cpu_weight: true,
    cpuset_cpus: true, cpuset_mems: true, pids: true, io_weight: true, io_max: true, hugetlb: true, raw: true,
  } satisfies Record<keyof CgroupSpec, true>),
  '#/definitions/cgroup/properties/io_max/additionalProperties': Object.keys({
    read_bps: true, write_bps: true, read_iops: true, write_iops: true,
  } satisfies Record<keyof IoMaxEntry, true>),
  '#/definitions/capabilities': Object.keys({ allow: true, add: true, drop: true, sets: true } satisfies Record<keyof CapabilitiesSpec, true>),
  '#/definitions/capabilities/properties/sets': Object.keys({
    bounding: true, effective: true, permitted: true, inheritable: true, ambient: true,
  } satisfies Record<keyof CapabilitySets, true>),
  '#/definitions/rlimitValue': Object.keys({ soft: true, hard: true } satisfies Record<keyof RlimitObject, true>),
  '#/definitions/seccompProfile': Object.keys({ default_action: true, default_errno: true, syscalls: true } satisfies Record<keyof SeccompProfile, true>),
  '#/definitions/seccompProfile/properties/syscalls/items': Object.keys({ names: true, action: true, errno: true, args: true } satisfies Record<keyof SeccompRule, true>),
  '#/definitions/seccompProfile/properties/syscalls/items/properties/args/items': Object.keys({
    index: true, value: true, value_two: true, op: true,
  } satisfies Record<keyof SeccompArg, true>),
  '#/definitions/hook': Object.keys({ command: true, optional: true, timeout: true } satisfies Record<keyof HookCommand, true>),
  '#/definitions/hooks': Object.keys({ command: true, optional: true, timeout: true } satisfies Record<keyof HookCommand, true>),
};

/** Enums in the schema → the TS union they mirror. */
const ENUMS: Record<string, readonly string[]> = {
  '#/definitions/namespaceKind': NAMESPACE_KINDS,
  '#/properties/root': Object.keys({ pivot_root: true, chroot: true } satisfies Record<NonNullable<ContainerSpec['root']>, true>),
  '#/definitions/propagation': Object.keys({
    private: true, rprivate: true, shared: true, rshared: true, slave: true, rslave: true, unbindable: true, runbindable: true,
  } satisfies Record<Propagation, true>),
  '#/definitions/seccompAction': Object.keys({
    allow: true, errno: true, kill: true, kill_process: true, trap: true, log: true, trace: true,
  } satisfies Record<SeccompAction, true>),
  '#/definitions/seccompProfile/properties/syscalls/items/properties/args/items/properties/op': Object.keys({
    eq: true, ne: true, lt: true, le: true, gt: true, ge: true, masked_eq: true,
  } satisfies Record<SeccompOp, true>),
  '#/definitions/mount/oneOf/2/properties/type': Object.keys({ proc: true, sysfs: true, devpts: true, mqueue: true } satisfies Record<SpecialMount['type'], true>),
  '#/definitions/capability': [...ALL_CAPS, ...ALL_CAPS.map((c) => c.slice(4)), ...ALL_CAPS.map((c) => c.slice(4).toLowerCase()), 'ALL', 'all'],
};

function at(pointer: string): Obj {
  let s: unknown = schema;
  for (const p of pointer.replace(/^#\/?/, '').split('/').filter(Boolean)) s = (s as Obj)[p];
  assert.ok(s && typeof s === 'object', `schema has no ${pointer}`);
  return s as Obj;
}

/** Every schema object with `properties`, wherever it is. */
function objectSchemas(s: unknown, pointer: string, out: string[] = []): string[] {
  if (Array.isArray(s)) s.forEach((x, i) => objectSchemas(x, `${pointer}/${i}`, out));
  else if (s && typeof s === 'object') {
    if ((s as Obj).properties && typeof (s as Obj).properties === 'object' && !pointer.endsWith('/properties')) out.push(pointer);
    for (const [k, v] of Object.entries(s)) objectSchemas(v, `${pointer}/${k}`, out);
  }
  return out;
}

const sorted = (a: readonly string[]) => [...a].sort();

for (const [pointer, keys] of Object.entries(SHAPES)) {
  test(`schema ${pointer} has exactly the fields of its TS type`, () => {
    const props = Object.keys((at(pointer).properties ?? {}) as Obj);
    const extraInSchema = props.filter((p) => !keys.includes(p));
    const missingInSchema = keys.filter((k) => !props.includes(k));
    assert.deepEqual({ extraInSchema, missingInSchema }, { extraInSchema: [], missingInSchema: [] });
    assert.equal(at(pointer).additionalProperties, false, `${pointer} must reject unknown keys`);
  });
}

test('every object in the schema is mirrored by a TS type above', () => {
  const found = objectSchemas(schema, '#').filter((p) => !p.includes('/properties/command') && !p.endsWith('/properties/optional') && !p.endsWith('/properties/timeout'));
  const unlisted = found.filter((p) => !(p in SHAPES));
  assert.deepEqual(unlisted, [], 'add these schema objects to SHAPES with their TS type');
});

for (const [pointer, values] of Object.entries(ENUMS)) {
  test(`schema enum ${pointer} matches its TS union`, () => {
    const s = at(pointer);
    const e = (s.enum ?? (s.const !== undefined ? [s.const] : undefined)) as string[] | undefined;
    assert.ok(e, `${pointer} has no enum`);
    assert.deepEqual(sorted(e), sorted(values));
  });
}

test('every schema property has a description (editor completion)', () => {
  const missing: string[] = [];
  const walk = (s: unknown, pointer: string) => {
    if (Array.isArray(s)) return s.forEach((x, i) => walk(x, `${pointer}/${i}`));
    if (!s || typeof s !== 'object') return;
    const props = (s as Obj).properties as Obj | undefined;
    if (props && !pointer.endsWith('/properties')) {
      for (const [k, v] of Object.entries(props)) {
        const d = v as Obj;
        const ref = typeof d.$ref === 'string' ? at(d.$ref as string) : undefined;
        if (!d.description && !ref?.description && !pointer.includes('/definitions/hooks')) missing.push(`${pointer}/properties/${k}`);
      }
    }
    for (const [k, v] of Object.entries(s)) walk(v, `${pointer}/${k}`);
  };
  walk(schema, '#');
  assert.deepEqual(missing, []);
});
