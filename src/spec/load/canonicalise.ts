// Phase 4: a schema-valid ContainerSpec → CanonicalSpec (no shorthands, defaults applied,
// units parsed, paths absolute). Each part is its own pure function; problems go to ctx.errors.
import { DEFAULT_CWD, DEFAULT_NO_NEW_PRIVS } from '../defaults.js';
import type { CanonicalSpec, ContainerSpec } from '../types.js';
import { canonCapabilities } from './capabilities.js';
import { canonCgroup } from './cgroup.js';
import { canonDevices } from './devices.js';
import { report, type LoadContext } from './context.js';
import { canonEnv } from './env.js';
import { canonHooks } from './hooks.js';
import { canonIdentity } from './identity.js';
import { canonMounts, canonPaths } from './mounts.js';
import { canonIdMaps, canonNamespaces } from './namespaces.js';
import { canonRlimits } from './rlimits.js';
import { canonRootfs } from './rootfs.js';
import { canonSeccomp } from './seccomp.js';
import { canonLifecycle } from './lifecycle.js';
import { canonNetwork } from './network.js';

export async function canonicalise(input: ContainerSpec, ctx: LoadContext): Promise<CanonicalSpec> {
  const p = input.process ?? {};
  const spec = { ...input, process: p };
  const root = canonRootfs(spec, ctx);
  const namespaces = canonNamespaces(spec, ctx);
  const network = canonNetwork(spec, namespaces, ctx);
  const id = canonIdentity(spec, root.rootfs, ctx);
  if (!p.args?.length) {
    if (root.rootfs.kind !== 'image') report(ctx, 'process.args', 'no command: process.args is required', 'give the command as a list, e.g. args: [/bin/sh, -c, "echo hi"] (only an image can supply one)');
    else if (ctx.image) report(ctx, 'rootfs.image', `no command: image ${ctx.image.view.name} has neither Entrypoint nor Cmd`, 'give process.args');
  }
  if (root.rootfs.kind === 'image' && !namespaces.mount) report(ctx, 'rootfs.image', 'an image root needs a mount namespace: its overlay is mounted inside it', 'add mount to namespaces');
  if (p.entrypoint !== undefined && root.rootfs.kind !== 'image') report(ctx, 'process.entrypoint', 'entrypoint replaces an image\'s Entrypoint: it needs rootfs.image', 'put the whole command in process.args');
  const out: CanonicalSpec = {
    name: spec.name,
    file: ctx.file,
    ...root,
    namespaces,
    ...canonIdMaps(spec, namespaces, ctx),
    process: {
      args: [...(p.args ?? [])],
      env: canonEnv(spec, ctx, id.home),
      cwd: p.cwd ?? DEFAULT_CWD,
      uid: id.uid,
      gid: id.gid,
      groups: id.groups,
      tty: p.tty ?? false,
      init: p.init ?? false,
    },
    mounts: canonMounts(spec, ctx),
    ...canonPaths(spec),
    devices: canonDevices(spec, ctx),
    cgroup: canonCgroup(spec, ctx),
    capabilities: canonCapabilities(spec, ctx),
    noNewPrivs: spec.no_new_privs ?? DEFAULT_NO_NEW_PRIVS,
    rlimits: canonRlimits(spec, ctx),
    seccomp: await canonSeccomp(spec, ctx),
    sysctls: Object.fromEntries(Object.entries(spec.sysctls ?? {}).map(([k, v]) => [k, String(v)])),
    hooks: canonHooks(spec, ctx),
    annotations: { ...(spec.annotations ?? {}) },
    lifecycle: canonLifecycle(spec, ctx),
    positions: ctx.positions,
  };
  if (p.user !== undefined) out.process.user = p.user;
  if (spec.hostname !== undefined) out.hostname = spec.hostname;
  if (spec.domainname !== undefined) out.domainname = spec.domainname;
  if (spec.oom_score_adj !== undefined) out.oomScoreAdj = spec.oom_score_adj;
  if (network) out.network = network;
  return out;
}
