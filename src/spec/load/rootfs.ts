// Canonicalise the root: rootfs (default | dir | image), read-only root, pivot_root or chroot.
import { resolve } from 'node:path';
import { DEFAULT_ROOT } from '../defaults.js';
import type { CanonicalImageRoot, CanonicalSpec, ContainerSpec } from '../types.js';
import { report, type LoadContext } from './context.js';

export function canonRootfs(spec: ContainerSpec, ctx: LoadContext): Pick<CanonicalSpec, 'rootfs' | 'readonlyRoot' | 'root'> {
  const root = spec.root ?? DEFAULT_ROOT;
  const r = spec.rootfs;
  if (r === undefined) return { rootfs: { kind: 'default' }, readonlyRoot: false, root };
  if (typeof r === 'string') return { rootfs: { kind: 'dir', path: resolve(ctx.dir, r) }, readonlyRoot: false, root };
  const readonlyRoot = r.readonly ?? false;
  if (r.path !== undefined && r.image !== undefined) {
    report(ctx, 'rootfs', 'give either rootfs.path or rootfs.image, not both', 'path is a directory on this host; image is an OCI image reference');
  }
  if (r.image !== undefined) {
    const img = ctx.image;
    const rootfs: CanonicalImageRoot = { kind: 'image', ref: r.image, pull: r.pull ?? 'missing' };
    if (img) {
      rootfs.image = {
        name: img.view.name, digest: img.view.digest, layers: [...img.view.layers],
        volumes: img.applied.volumes, exposedPorts: img.applied.exposedPorts, fromImage: img.applied.fromImage,
      };
    }
    return { rootfs, readonlyRoot, root };
  }
  if (r.pull !== undefined) report(ctx, 'rootfs.pull', 'pull is a policy for rootfs.image', 'remove it, or give rootfs.image');
  if (r.path !== undefined) return { rootfs: { kind: 'dir', path: resolve(ctx.dir, r.path) }, readonlyRoot, root };
  return { rootfs: { kind: 'default' }, readonlyRoot, root };
}
