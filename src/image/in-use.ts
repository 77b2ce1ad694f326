// Which images containers use: every container records the image it runs in its plan.json
// (`image: { ref, digest }`, top level) under ${stateRoot}/<project>/<name>/. `image rm` refuses
// those images and `image prune` keeps them.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { isDigest } from './types.js';

export interface ImageUser { project: string; name: string; ref?: string; digest: string }

/** Every container (project/name) whose plan names an image, with that image's manifest digest. */
export function imageUsers(stateRoot: string): ImageUser[] {
  const out: ImageUser[] = [];
  const dirs = (d: string) => {
    try { return readdirSync(d, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name); } catch { return []; }
  };
  for (const project of dirs(stateRoot)) {
    for (const name of dirs(join(stateRoot, project))) {
      let plan: { image?: { ref?: unknown; digest?: unknown } };
      try { plan = JSON.parse(readFileSync(join(stateRoot, project, name, 'plan.json'), 'utf8')); } catch { continue; }
      const digest = plan?.image?.digest;
      if (typeof digest === 'string' && isDigest(digest)) {
        out.push({ project, name, digest, ...(typeof plan.image!.ref === 'string' ? { ref: plan.image!.ref } : {}) });
      }
    }
  }
  return out;
}

/** Manifest digests of the images containers under the state root use. */
export function imagesInUse(stateRoot: string): Set<string> {
  return new Set(imageUsers(stateRoot).map((u) => u.digest));
}
