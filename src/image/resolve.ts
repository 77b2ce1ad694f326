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

/**
 * One resolver for many specs (a compose project): each image (and pull policy) is resolved once, and
 * never pulled: planResolver. The pulls are the plan's image steps (runtime/project/images.ts).
 */
export function sharedResolver(opts: ResolverOptions = {}): (ref: string, pull: 'missing' | 'always' | 'never') => Promise<ImageView> {
  return planResolver({ root: opts.root, policy: opts.policy });
}

/** An image as a plan sees it before the pull: `present` says whether the store holds it whole. */
export interface PlannedImageView extends ImageView {
  present: boolean;
  /** The number of layers and the bytes a pull would download at most (0 when present). */
  layerCount: number;
  size: number;
  /** The pull policy it was resolved under. */
  pull: 'missing' | 'always' | 'never';
}

/**
 * The loader's resolver for a plan (a compose project): an image in the store is read as it is; a
 * missing one (or any with policy always) is resolved at its registry to a manifest and its config
 * only, so the spec and the launch plan compile (the layer directories are named by the config's
 * diff_ids) while no layer is downloaded: the plan's image step pulls them. One resolution per image.
 */
export function planResolver(opts: Pick<ResolverOptions, 'root' | 'policy'> = {}): (ref: string, pull: 'missing' | 'always' | 'never') => Promise<PlannedImageView> {
  const memo = new Map<string, Promise<PlannedImageView>>();
  const one = async (ref: string, pull: 'missing' | 'always' | 'never'): Promise<PlannedImageView> => {
    const [{ openStore }, { findLocal, fetchImageConfig }, { parseRef, formatRef, familiarName }, { imageView }, { realSys, prepareNative }, { RuntimeFailure }] = await Promise.all([
      import('./store.js'), import('./pull.js'), import('./reference.js'), import('./view.js'), import('../runtime/sys/real.js'), import('../errors.js'),
    ]);
    const store = openStore(opts.root ?? dataRoot());
    const parsed = parseRef(ref);
    const name = formatRef(parsed);
    const policy = opts.policy === 'always' || opts.policy === 'never' ? opts.policy : pull;
    const local = findLocal(store, parsed);
    const whole = local && local.layers.every((l) => store.hasLayer(l.diffId));
    const fromStore = async (): Promise<PlannedImageView> => {
      await prepareNative();
      const opaque = (dir: string) => { try { return realSys.lgetxattr(dir, 'trusted.overlay.opaque')?.toString() === 'y'; } catch { return false; } };
      return { ...imageView(store, local!, opaque), name, present: true, layerCount: local!.layers.length, size: 0, pull: policy };
    };
    if (whole && (policy !== 'always' || parsed.digest)) return fromStore();
    if (policy === 'never') {
      throw new RuntimeFailure('E_IMAGE_NOT_PRESENT', `image ${familiarName(parsed)} is not in the local store, and the pull policy is 'never'`, { hint: `pull it first: niwa pull ${familiarName(parsed)}` });
    }
    const remote = await fetchImageConfig(ref);
    if (whole && local!.digest === remote.digest) return fromStore(); // present; policy always still asks again when the plan runs
    const missing = remote.layers.filter((l) => !(store.hasBlob(l.digest) && store.hasLayer(l.diffId)));
    return {
      name, digest: remote.digest, config: remote.config.config ?? {}, layers: remote.layers.map((l) => store.layerDir(l.diffId)),
      // the layers are not there yet: the image's files are read once it is pulled
      readFile: () => undefined,
      present: false, layerCount: remote.layers.length, size: missing.reduce((n, l) => n + l.size, 0), pull: policy,
    };
  };
  return (ref, pull) => {
    const key = `${pull}\0${ref}`;
    let p = memo.get(key);
    if (!p) memo.set(key, (p = one(ref, pull)));
    return p;
  };
}
