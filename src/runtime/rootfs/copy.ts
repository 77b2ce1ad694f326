// The copy snapshotter: an image root assembled by copying its unpacked layers, bottom first, into
// one private directory — for hosts without overlayfs or images with too many layers for one
// overlay mount. Overlay whiteouts (0/0 character devices) remove what is below; opaque
// directories (trusted.overlay.opaque=y) empty it first. Symlinks are copied, never followed;
// owners, modes (setuid included), times and hard links are kept.
import * as fs from 'node:fs';
import { join } from 'node:path';
import type { Sys } from '../sys/types.js';

type IdMap = { container_id: number; host_id: number; size: number }[];

export interface CopyHooks {
  /** Shift every owner into a user namespace's maps (container id → host id); unmapped ids → the overflow id 65534 inside. */
  uidMap?: IdMap;
  gidMap?: IdMap;
  /** Is this directory of a layer opaque (trusted.overlay.opaque=y)? */
  isOpaque?: (path: string) => boolean;
  /** Create a device node or fifo (mode includes the type bits). */
  mknod?: (path: string, mode: number, dev: number) => void;
}

export function copyLayers(layers: string[], dest: string, sys: Sys, hooks: CopyHooks = {}): void {
  sys.rmtree(dest);
  fs.mkdirSync(dest, { recursive: true, mode: 0o755 });
  const owner = ownerShift(hooks);
  fs.chownSync(dest, owner.uid(0), owner.gid(0));
  for (const layer of layers) copyTree(layer, dest, '', hooks, new Map(), owner);
}

interface Owner { uid(u: number): number; gid(g: number): number }

/** Container id → host id through the maps (identity without maps). */
export function ownerShift(h: Pick<CopyHooks, 'uidMap' | 'gidMap'>): Owner {
  const through = (map: IdMap | undefined) => (id: number): number => {
    if (!map) return id;
    for (const m of map) if (id >= m.container_id && id < m.container_id + m.size) return m.host_id + (id - m.container_id);
    for (const m of map) if (65534 >= m.container_id && 65534 < m.container_id + m.size) return m.host_id + (65534 - m.container_id);
    return map[0]?.host_id ?? id;
  };
  return { uid: through(h.uidMap), gid: through(h.gidMap) };
}

const isWhiteout = (st: fs.Stats) => st.isCharacterDevice() && st.rdev === 0;

function copyTree(layer: string, dest: string, rel: string, hooks: CopyHooks, links: Map<string, string>, owner: Owner): void {
  const src = join(layer, rel);
  for (const name of fs.readdirSync(src)) {
    const r = rel ? `${rel}/${name}` : name;
    const from = join(layer, r);
    const to = join(dest, r);
    const st = fs.lstatSync(from);
    const existing = lstatOrUndefined(to);
    if (isWhiteout(st)) {
      if (existing) fs.rmSync(to, { recursive: true, force: true });
      continue;
    }
    if (st.isDirectory()) {
      if (existing && !existing.isDirectory()) fs.rmSync(to, { force: true });
      else if (existing && hooks.isOpaque?.(from)) fs.rmSync(to, { recursive: true, force: true });
      if (!lstatOrUndefined(to)) fs.mkdirSync(to);
      copyTree(layer, dest, r, hooks, links, owner);
      setMeta(to, st, owner);
      continue;
    }
    if (existing) fs.rmSync(to, { recursive: true, force: true });
    const key = `${st.dev}:${st.ino}`;
    if (st.nlink > 1 && links.has(key)) {
      fs.linkSync(links.get(key)!, to);
      continue;
    }
    if (st.isSymbolicLink()) {
      fs.symlinkSync(fs.readlinkSync(from), to);
      fs.lchownSync(to, owner.uid(st.uid), owner.gid(st.gid));
      continue;
    }
    if (st.isFile()) fs.copyFileSync(from, to, fs.constants.COPYFILE_FICLONE);
    else if (hooks.mknod) hooks.mknod(to, st.mode, st.rdev);
    else continue; // a device node or fifo without a way to create it: left out
    if (st.nlink > 1) links.set(key, to);
    setMeta(to, st, owner);
  }
}

function setMeta(path: string, st: fs.Stats, owner: Owner): void {
  fs.lchownSync(path, owner.uid(st.uid), owner.gid(st.gid));
  fs.chmodSync(path, st.mode & 0o7777); // after chown, which clears setuid/setgid
  fs.utimesSync(path, st.atime, st.mtime);
}

function lstatOrUndefined(p: string): fs.Stats | undefined {
  try { return fs.lstatSync(p); } catch { return undefined; }
}
