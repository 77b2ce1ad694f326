// The teaching and export forms of `niwa plan`: --explain, --shell, --oci and --oci-bundle DIR.
// src/cli/plan.ts hands over here when one of those flags is given.
import { chmodSync, lchownSync, mkdirSync, symlinkSync, writeFileSync, lstatSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { CanonicalSpec } from '../spec/types.js';
import type { HostFacts, LaunchPlan } from '../plan/types.js';
import { UserError } from '../errors.js';


export function wantsExport(flags: Record<string, unknown>): boolean {
  return Boolean(flags.explain || flags.shell || flags.oci || flags['oci-bundle']);
}

/** Print (or, for --oci-bundle, write) the requested form of the plan; returns the exit code. */
export async function runExport(flags: Record<string, unknown>, spec: CanonicalSpec, plan: LaunchPlan, host: HostFacts): Promise<number> {
  const n = ['explain', 'shell', 'oci'].filter((k) => flags[k]).length + (flags['oci-bundle'] && !flags.oci ? 1 : 0);
  if (n > 1) throw new UserError('E_USAGE', 'plan: --explain, --shell and --oci are exclusive', [], 'pick one');
  if (flags.explain) {
    const { formatExplain } = await import('../plan/explain.js');
    process.stdout.write(formatExplain(plan));
    return 0;
  }
  if (flags.shell) {
    const { toShell } = await import('../plan/export/shell.js');
    process.stdout.write(toShell(plan, spec, { arch: host.arch }));
    return 0;
  }
  const { toOci, ociJson, rootfsCommands } = await import('../plan/export/oci.js');
  const bundle = typeof flags['oci-bundle'] === 'string' ? resolve(flags['oci-bundle']) : undefined;
  const rootfsPath = bundle ? join(bundle, 'rootfs') : resolve('rootfs');
  const ex = toOci(spec, plan, { rootfsPath }, host.arch);
  const json = ociJson(ex.config);
  if (!bundle) {
    process.stdout.write(json);
    const notes = [...ex.notes];
    if (ex.rootfs.length) notes.push(`to create ${rootfsPath} by hand:\n      ${rootfsCommands(ex.rootfs, rootfsPath, ex.rootfsOwner).join('\n      ')}`);
    for (const x of notes) process.stderr.write(`niwa: note: ${x}\n`);
    return 0;
  }
  mkdirSync(bundle, { recursive: true });
  if (spec.rootfs.kind === 'default') {
    mkdirSync(rootfsPath, { recursive: true, mode: 0o755 });
    chmodSync(rootfsPath, 0o755);
    for (const e of ex.rootfs) {
      const p = join(rootfsPath, e.path);
      mkdirSync(dirname(p), { recursive: true, mode: 0o755 });
      if (e.kind === 'dir') { mkdirSync(p, { recursive: true }); chmodSync(p, e.mode); }
      else if (e.kind === 'symlink') { if (!exists(p)) symlinkSync(e.target, p); }
      else { writeFileSync(p, e.data); chmodSync(p, e.mode); }
    }
    if (ex.rootfsOwner) {
      const { uid, gid } = ex.rootfsOwner;
      lchownSync(rootfsPath, uid, gid);
      for (const e of ex.rootfs) {
        // the entry and the parents created for it
        for (let p = e.path; p !== '/' && p !== ''; p = dirname(p)) lchownSync(join(rootfsPath, p), uid, gid);
      }
    }
  }
  writeFileSync(join(bundle, 'config.json'), json);
  process.stderr.write(`niwa: wrote ${join(bundle, 'config.json')}${spec.rootfs.kind === 'default' ? ` and ${rootfsPath}` : ''}\n  run it: cd ${bundle} && runc run ${spec.root === 'chroot' ? '--no-pivot ' : ''}${plan.name}\n`);
  for (const x of ex.notes) process.stderr.write(`niwa: note: ${x}\n`);
  return 0;
}

function exists(p: string): boolean {
  try { lstatSync(p); return true; } catch { return false; }
}
