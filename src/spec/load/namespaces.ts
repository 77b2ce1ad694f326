// Canonicalise namespaces (list or map → {kind: new | join | container}) and the uid/gid maps.
import { DEFAULT_NAMESPACES, DEFAULT_USERNS_MAP_SIZE } from '../defaults.js';
import { NAMESPACE_KINDS, type CanonicalNamespace, type CanonicalSpec, type ContainerSpec, type IdMapping, type NamespaceKind, type NamespaceOptions } from '../types.js';
import { report, type LoadContext } from './context.js';

export function canonNamespaces(spec: ContainerSpec, ctx: LoadContext): CanonicalSpec['namespaces'] {
  const ns = spec.namespaces ?? [...DEFAULT_NAMESPACES];
  const out: CanonicalSpec['namespaces'] = {};
  if (Array.isArray(ns)) {
    for (const kind of ns) out[kind] = { mode: 'new' };
    return ordered(out);
  }
  for (const [k, v] of Object.entries(ns) as [NamespaceKind, NamespaceOptions | boolean | null][]) {
    const field = `namespaces.${k}`;
    if (v === false || v === null) continue;
    if (v === true) { out[k] = { mode: 'new' }; continue; }
    if (v.path !== undefined && v.container !== undefined) {
      report(ctx, field, 'give either path or container, not both', 'path joins a namespace by its /proc/PID/ns file; container joins another niwa container\'s');
    }
    if (v.offsets !== undefined) {
      if (k !== 'time') report(ctx, `${field}.offsets`, `offsets are only for the time namespace, not ${k}`, 'move offsets under namespaces.time');
      else if (v.path !== undefined || v.container !== undefined) report(ctx, `${field}.offsets`, 'time offsets need a new time namespace, not a joined one', 'a joined namespace keeps the offsets it has; remove path/container or offsets');
    }
    let c: CanonicalNamespace;
    if (v.path !== undefined) c = { mode: 'join', path: v.path };
    else if (v.container !== undefined) c = { mode: 'container', container: v.container };
    else if (v.offsets !== undefined && k === 'time') c = { mode: 'new', offsets: { monotonic: v.offsets.monotonic ?? 0, boottime: v.offsets.boottime ?? 0 } };
    else c = { mode: 'new' };
    out[k] = c;
  }
  return ordered(out);
}

/** Keys in the kernel's order (user first), so equal specs give deep-equal objects. */
function ordered(ns: CanonicalSpec['namespaces']): CanonicalSpec['namespaces'] {
  const out: CanonicalSpec['namespaces'] = {};
  for (const k of NAMESPACE_KINDS) if (ns[k]) out[k] = ns[k];
  return out;
}

/**
 * uid/gid maps as given. A new user namespace without a map gets `unshare --map-root-user`'s:
 * container id 0 → the invoking user's euid/egid, size 1 (see defaults.ts).
 */
export function canonIdMaps(spec: ContainerSpec, namespaces: CanonicalSpec['namespaces'], ctx: LoadContext): { uidMap: IdMapping[]; gidMap: IdMapping[] } {
  const userNew = namespaces.user?.mode === 'new';
  const uid = ctx.opts.hostUid ?? process.geteuid?.() ?? 0;
  const gid = ctx.opts.hostGid ?? process.getegid?.() ?? 0;
  const copy = (m: IdMapping[]) => m.map(({ container_id, host_id, size }) => ({ container_id, host_id, size }));
  const uidMap = spec.uid_map ? copy(spec.uid_map) : userNew ? [{ container_id: 0, host_id: uid, size: DEFAULT_USERNS_MAP_SIZE }] : [];
  const gidMap = spec.gid_map ? copy(spec.gid_map) : userNew ? [{ container_id: 0, host_id: gid, size: DEFAULT_USERNS_MAP_SIZE }] : [];
  for (const [field, map] of [['uid_map', uidMap], ['gid_map', gidMap]] as const) checkOverlaps(map, field, ctx);
  return { uidMap, gidMap };
}

function checkOverlaps(map: IdMapping[], field: string, ctx: LoadContext): void {
  for (let i = 0; i < map.length; i++) {
    for (let j = 0; j < i; j++) {
      const a = map[i], b = map[j];
      const overlap = (x: number, y: number, n: number, m: number) => x < y + m && y < x + n;
      if (overlap(a.container_id, b.container_id, a.size, b.size)) report(ctx, `${field}.${i}`, `container ids overlap with ${field}.${j}`, 'the kernel rejects a map whose ranges overlap');
      else if (overlap(a.host_id, b.host_id, a.size, b.size)) report(ctx, `${field}.${i}`, `host ids overlap with ${field}.${j}`, 'the kernel rejects a map whose ranges overlap');
    }
  }
}
