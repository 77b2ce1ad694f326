// The loader's image resolver for the CLI: rootfs.image → the store (pulling as the policy says,
// with progress on stderr) → an ImageView whose files are read through the layers. Loaded lazily:
// specs without images never import the registry client or the store.
import type { ImageView } from './apply.js';
import type { PullEvent, PullPolicy } from './types.js';
import { dataRoot } from './types.js';

export interface ResolverOptions {
  /** Data root (default $NIWA_DATA_ROOT or /var/lib/niwa). */
  root?: string;
  /** Progress of a pull (default: none). */
  onEvent?: (e: PullEvent) => void;
  /** Overrides the spec's pull policy (e.g. `niwa run --pull always`). */
  policy?: PullPolicy;
}

export function imageResolver(opts: ResolverOptions = {}): (ref: string, pull: 'missing' | 'always' | 'never') => Promise<ImageView> {
  return async (ref, pull) => {
    const [{ openStore }, { ensureImage }, { parseRef, formatRef }, { imageView }, { realSys, prepareNative }] = await Promise.all([
      import('./store.js'), import('./pull.js'), import('./reference.js'), import('./view.js'), import('../runtime/sys/real.js'),
    ]);
    const store = openStore(opts.root ?? dataRoot());
    const img = await ensureImage(ref, { store, policy: opts.policy ?? pull, onEvent: opts.onEvent });
    await prepareNative();
    const opaque = (dir: string) => {
      try { return realSys.lgetxattr(dir, 'trusted.overlay.opaque')?.toString() === 'y'; } catch { return false; }
    };
    return { ...imageView(store, img, opaque), name: formatRef(parseRef(ref)) };
  };
}

/** One resolver for many specs (a compose project): each image (and pull policy) is resolved once. */
export function sharedResolver(opts: ResolverOptions = {}): (ref: string, pull: 'missing' | 'always' | 'never') => Promise<ImageView> {
  const one = imageResolver(opts);
  const memo = new Map<string, Promise<ImageView>>();
  return (ref, pull) => {
    const key = `${pull}\0${ref}`;
    let p = memo.get(key);
    if (!p) memo.set(key, (p = one(ref, pull)));
    return p;
  };
}
