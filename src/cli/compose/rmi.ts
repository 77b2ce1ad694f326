// Owns `compose down --rmi all|local`: once the containers are gone, the images the services used
// are removed through `niwa image rm` (src/cli/image.ts). `all`: every service's image; `local`:
// only images niwa named for the project itself (`<project>-<service>`, as builds are named), not
// those a service names with `image:`.
import { UserError } from '../../errors.js';
import type { ComposeLoad } from '../../compose/index.js';
import type { ParsedArgs } from '../args.js';

/** The images `down --rmi` removes (validated before anything is stopped). */
export function imagesToRemove(load: ComposeLoad, a: ParsedArgs): string[] {
  const mode = a.flags.rmi;
  if (mode === undefined) return [];
  if (mode !== 'all' && mode !== 'local') throw new UserError('E_USAGE', `compose down: --rmi expects all or local, got '${String(mode)}'`);
  const refs = new Set<string>();
  for (const [name, svc] of load.services) {
    const r = svc.spec.rootfs;
    const ref = typeof r === 'object' && r && 'image' in r && typeof r.image === 'string' ? r.image : undefined;
    if (!ref) continue;
    if (mode === 'all' || (svc.compose.image === undefined && ref.startsWith(`${load.project.name}-${name}`))) refs.add(ref);
  }
  return [...refs];
}

/** Removes the images (a missing one is not an error: it may never have been pulled). */
export async function removeImages(refs: string[], stateRoot: string): Promise<number> {
  if (!refs.length) return 0;
  const { store, findImage, verb } = await import('../image.js');
  const s = await store();
  const present: string[] = [];
  for (const r of refs) if (await findImage(s, r)) present.push(r);
  if (!present.length) return 0;
  return verb.run(['rm', '--state-root', stateRoot, ...present]);
}
