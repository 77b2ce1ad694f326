// The engine's image work, from a project step's data alone (it runs in any process: the CLI's or
// the project's supervisor): an `image` step pulls the layers of an image into the store, a `build`
// step builds a compose `build:` service's image with src/build, and a deferred `launch` step's
// launch plan is compiled once its image is there (the container loader again, with the image read
// from the store, then the project compiler's changes and src/plan/compile.ts). Progress goes out as
// `pull` and `build` events through `emit`; nothing prints.
import { RuntimeFailure, UserError } from '../../errors.js';
import type { RuntimeEvent } from '../../events/types.js';
import type { DeferredLaunch, ProjectStep } from '../../plan/project/types.js';
import type { LaunchPlan } from '../../plan/types.js';
import type { CanonicalSpec } from '../../spec/types.js';

type Emit = (e: RuntimeEvent) => void;
type ImageStep = Extract<ProjectStep, { op: 'image' }>;
type BuildStep = Extract<ProjectStep, { op: 'build' }>;

/** Pulls what the store lacks of the step's image; refuses when the registry now serves another image than the one the plan was compiled against. */
export async function pullStep(s: ImageStep, emit: Emit): Promise<void> {
  const [{ openStore }, { ensureImage }] = await Promise.all([import('../../image/store.js'), import('../../image/pull.js')]);
  const store = openStore(s.dataRoot);
  const img = await ensureImage(s.ref, { store, policy: s.pull, onEvent: (event) => emit({ type: 'pull', event, at: Date.now() }) });
  if (s.digest && img.digest !== s.digest) {
    throw new RuntimeFailure('E_PLAN_STALE', `image ${s.ref} is now ${img.digest}, not the ${s.digest} the launch plans were compiled against`, { hint: 'the tag moved since the plan was made: run the command again' });
  }
}

/** Builds the step's image into the store (the layer cache keeps an unchanged build cheap). */
export async function buildStep(s: BuildStep, emit: Emit): Promise<string> {
  const [{ buildImage }, { probeHost }] = await Promise.all([import('../../build/index.js'), import('../../validate/host.js')]);
  const img = await buildImage(s.request, {
    host: probeHost(), dataRoot: s.dataRoot,
    onEvent: (event) => emit({ type: 'build', service: s.service, image: s.image, event, at: Date.now() }),
    onPull: (event) => emit({ type: 'pull', event, at: Date.now() }),
    // the RUN steps' output: not on the terminal the live view draws (their progress is in the events)
    stdio: ['ignore', 'ignore', 'ignore'],
  });
  return img.digest;
}

/**
 * A deferred launch's plan, now that its image is in the store: the service's spec loaded again
 * (the image's config and files applied: USER, WORKDIR, ENTRYPOINT…), the project's changes, compiled.
 */
export async function compileDeferred(service: string, d: DeferredLaunch): Promise<{ plan: LaunchPlan; spec: CanonicalSpec }> {
  const [{ loadSpecObject }, { planResolver }, { patchSpec, specHash, CONFIG_HASH }, { compile }, { existsSync }, { sep }] = await Promise.all([
    import('../../spec/load/index.js'), import('../../image/resolve.js'), import('../../plan/project/compile.js'), import('../../plan/compile.js'), import('node:fs'), import('node:path'),
  ]);
  const created = new Set(d.load.created);
  const root = d.load.dataRoot;
  const underData = (p: string) => p === root || p.startsWith(root.endsWith(sep) ? root : root + sep);
  let canonical: CanonicalSpec;
  try {
    canonical = await loadSpecObject(structuredClone(d.input), d.load.file, {
      ...d.load.options, image: planResolver({ root, policy: 'never' }), exists: (p) => created.has(p) || underData(p) || existsSync(p),
    });
  } catch (e) {
    if (!(e instanceof UserError)) throw e;
    // the spec was checked at load without its image: what is left is what the image decides (a user name, no command)
    const { composeKeyOf } = await import('../../compose/to-spec.js');
    const what = e.details.map((x) => `${x.field ? composeKeyOf(d.load.fieldMap ?? [], service, x.field) + ': ' : ''}${x.message}`).join('; ') || e.message;
    throw new UserError(e.code, `service ${service}: its launch plan from the ${d.kind === 'build' ? 'built' : 'pulled'} image ${d.ref}: ${what}`, [], e.hint ?? e.details.find((x) => x.hint)?.hint);
  }
  if (d.annotations) canonical.annotations = { ...canonical.annotations, ...d.annotations };
  const spec = patchSpec(canonical, d.patch);
  if (d.compose) spec.annotations = { ...spec.annotations, [CONFIG_HASH]: specHash(canonical, d.compose) };
  const plan = compile(spec, d.host, { id: d.id, project: d.project, resolveContainer: (n) => d.pids[n] });
  return { plan, spec };
}
