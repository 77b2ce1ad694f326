// Canonicalise spec.devices: each host node is stat'ed for its type and major:minor (the rule the
// device cgroup needs), the container path defaults to the host path, permissions to rwm.
import { statSync } from 'node:fs';
import { posix } from 'node:path';
import type { CanonicalDevice, ContainerSpec } from '../types.js';
import { report, type LoadContext } from './context.js';

/** major/minor of a dev_t as Linux encodes it (glibc's gnu_dev_major/minor). */
export const devMajor = (rdev: number) => Number(((BigInt(rdev) >> 8n) & 0xfffn) | ((BigInt(rdev) >> 32n) & ~0xfffn));
export const devMinor = (rdev: number) => Number((BigInt(rdev) & 0xffn) | ((BigInt(rdev) >> 12n) & ~0xffn));

export function canonDevices(spec: ContainerSpec, ctx: LoadContext): CanonicalDevice[] {
  const out: CanonicalDevice[] = [];
  (spec.devices ?? []).forEach((d, i) => {
    const field = `devices.${i}`;
    const target = posix.normalize(d.container_path ?? d.path);
    if (target === '/dev' || !target.startsWith('/dev/')) {
      report(ctx, `${field}.${d.container_path ? 'container_path' : 'path'}`, `a device must appear under /dev/ in the container, not at ${target}`, 'set container_path, e.g. /dev/fuse');
      return;
    }
    let st;
    try { st = statSync(d.path); } catch (e) {
      report(ctx, `${field}.path`, `${d.path}: ${(e as NodeJS.ErrnoException).code ?? 'cannot stat'} on this host`, 'give the path of a device node that exists on the host, e.g. /dev/fuse');
      return;
    }
    if (!st.isCharacterDevice() && !st.isBlockDevice()) {
      report(ctx, `${field}.path`, `${d.path} is not a device node`, 'give a character or block device, e.g. /dev/fuse');
      return;
    }
    out.push({
      type: st.isCharacterDevice() ? 'c' : 'b', major: devMajor(st.rdev), minor: devMinor(st.rdev),
      access: d.permissions ?? 'rwm', source: d.path, target, field,
    });
  });
  return out;
}
