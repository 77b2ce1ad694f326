// Provisioned specs (Haconiwa's bootstrap + provision): `rootfs: {image, provision: [{run}, {copy}]}`
// becomes the build of a one-stage Dockerfile — FROM image, then a RUN or COPY per step — with the
// spec's directory as the build context, so it is built and cached exactly like Dockerfile steps.
// The result is named `localhost/niwa-provisioned/<spec name>:<key>` (key: a digest of the base and
// the steps), so `niwa images` lists it and an unchanged spec finds it again without building.
import { createHash } from 'node:crypto';
import type { ProvisionStep } from '../spec/types.js';
import type { DockerInstruction } from './dockerfile.js';

const instr = (keyword: DockerInstruction['keyword'], line: number, args: string, extra: Partial<DockerInstruction> = {}): DockerInstruction => ({
  keyword, line, col: 1, args, words: args.split(/\s+/).filter(Boolean), flags: {}, text: `${keyword} ${args}`, ...extra,
});

/** The instructions a provision list stands for (`line` is the step's index + 1, for messages). */
export function provisionInstructions(base: string, steps: ProvisionStep[]): DockerInstruction[] {
  const out: DockerInstruction[] = [instr('FROM', 0, base, { words: [base] })];
  steps.forEach((s, k) => {
    if ('run' in s) {
      const json = Array.isArray(s.run) ? s.run : undefined;
      out.push(instr('RUN', k + 1, json ? JSON.stringify(json) : s.run as string, { json, text: `RUN ${json ? JSON.stringify(json) : s.run}` }));
    } else {
      const c = s.copy;
      const flags: Record<string, string> = {};
      if (c.chown) flags.chown = c.chown;
      if (c.chmod) flags.chmod = c.chmod;
      const json = [c.source, c.target];
      out.push(instr('COPY', k + 1, JSON.stringify(json), { json, flags, text: `COPY ${Object.entries(flags).map(([f, v]) => `--${f}=${v} `).join('')}${c.source} ${c.target}` }));
    }
  });
  return out;
}

/** The name a provisioned image gets. */
export function provisionedName(specName: string, base: string, steps: ProvisionStep[]): string {
  const key = createHash('sha256').update(JSON.stringify([base, steps])).digest('hex').slice(0, 16);
  return `localhost/niwa-provisioned/${specName.toLowerCase().replace(/[^a-z0-9._-]/g, '-')}:${key}`;
}

export interface ProvisionResolverOptions {
  host: import('../plan/types.js').HostFacts;
  onEvent?: (e: import('./execute.js').BuildEvent) => void;
  onPull?: (e: import('../image/types.js').PullEvent) => void;
  /** Receives the build plan's lines before the build runs (`niwa plan` prints them first). */
  onPlan?: (lines: string[]) => void;
}

/** The loader's `provision` hook: builds (or finds in the cache) the provisioned image and returns its view. */
export function provisionResolver(opts: ProvisionResolverOptions): NonNullable<import('../spec/load/context.js').LoadOptions['provision']> {
  return async ({ ref, steps, dir, name }) => {
    const [{ buildImage, loadBuild }, { formatBuildPlan }, { openStore }, { imageView }, { dataRoot }, { realSys }] = await Promise.all([
      import('./index.js'), import('./plan.js'), import('../image/store.js'), import('../image/view.js'), import('../image/types.js'), import('../runtime/sys/real.js'),
    ]);
    const tag = provisionedName(name, ref, steps);
    const req = { context: dir, instructions: provisionInstructions(ref, steps), tags: [tag], source: `${name}: rootfs.provision step` };
    opts.onPlan?.(formatBuildPlan(loadBuild(req).plan));
    const img = await buildImage(req, { host: opts.host, onEvent: opts.onEvent, onPull: opts.onPull, stdio: ['ignore', 2, 2] });
    const store = openStore(opts.host.dataRoot ?? dataRoot());
    const opaque = (d: string) => { try { return realSys.lgetxattr(d, 'trusted.overlay.opaque')?.toString() === 'y'; } catch { return false; } };
    return { ...imageView(store, img, opaque), name: tag };
  };
}
