// Phase 3b: a spec on `rootfs.image` gets its image (through opts.image: the store, pulling when
// the pull policy says so) and the image config fills what the spec leaves out (image/apply.ts).
// A bad reference is a spec error at rootfs.image; a registry that fails is a runtime failure.
import { UserError } from '../../errors.js';
import { applyImageConfig } from '../../image/apply.js';
import type { ContainerSpec } from '../types.js';
import { report, type LoadContext } from './context.js';

export async function imagePhase(spec: ContainerSpec, ctx: LoadContext): Promise<ContainerSpec> {
  const r = spec.rootfs;
  if (typeof r === 'object' && r.provision?.length && r.image === undefined) report(ctx, 'rootfs.provision', 'provision steps run on an image: rootfs.image is missing', 'add rootfs.image (the base the steps run on)');
  if (typeof r !== 'object' || r.image === undefined || r.path !== undefined) return spec;
  let view;
  try {
    if (!ctx.opts.image) {
      // Not read now (plain validate): still check the reference itself (pure).
      (await import('../../image/reference.js')).parseRef(r.image);
      return spec;
    }
    view = r.provision?.length && ctx.opts.provision
      ? await ctx.opts.provision({ ref: r.image, pull: r.pull ?? 'missing', steps: r.provision, dir: ctx.dir, name: spec.name })
      : await ctx.opts.image(r.image, r.pull ?? 'missing');
  } catch (e) {
    if (!(e instanceof UserError)) throw e;
    report(ctx, 'rootfs.image', e.details.length ? e.details.map((d) => d.message).join('; ') : e.message, e.hint ?? e.details.find((d) => d.hint)?.hint);
    return spec;
  }
  const applied = applyImageConfig(spec, view);
  ctx.image = { view, applied };
  return applied.spec;
}
