// `niwa compose build [SERVICE...]`: the build steps of the project's plan (loaded with build
// 'always': every build: service, each named by its image:, else <project>-<service>), executed by
// the project engine one after another, progress as `niwa build` prints it with the service's name
// in front; the digest of each on stdout. `compose pull` runs the plan's image steps the same way
// (runSteps).
import type { ParsedArgs } from './args.js';
import { UserError, formatError } from '../errors.js';
import type { LoadComposeOptions } from '../compose/index.js';
import type { RuntimeEvent } from '../events/types.js';
import type { ProjectPlan, ProjectStep } from '../plan/project/types.js';

/**
 * Executes only the given steps of a plan, each by the project engine on its own (a failure of one
 * does not stop the others); returns the failures, each with the services it concerns.
 */
export async function runSteps(plan: ProjectPlan, steps: ProjectStep[], emit: (e: RuntimeEvent) => void, o: { parallel?: boolean } = {}): Promise<{ step: ProjectStep; error: unknown }[]> {
  const { ProjectRun } = await import('../runtime/project/exec.js');
  const refuse = async () => { throw new UserError('E_USAGE', 'only image and build steps run here'); };
  const failed: { step: ProjectStep; error: unknown }[] = [];
  const one = async (s: ProjectStep) => {
    const run = new ProjectRun({ ...plan, steps: [s], teardown: [] }, { launch: refuse, remove: refuse, emit });
    try { await run.prepare(); } catch (error) { failed.push({ step: s, error }); }
  };
  if (o.parallel) await Promise.all(steps.map(one));
  else for (const s of steps) await one(s);
  return failed;
}

export async function composeBuild(a: ParsedArgs, project: LoadComposeOptions): Promise<number> {
  const [{ loadProject, ComposeEngine }, { plainBuildReporter, buildArgList }] = await Promise.all([import('../compose/up.js'), import('./build.js')]);
  // every build: service's launch is deferred (its image is built by the plan); the other services'
  // images are only looked up in the store (a build needs no registry but its FROM's)
  const [{ planResolver }, { dataRoot }] = await Promise.all([import('../image/resolve.js'), import('../image/types.js')]);
  const load = await loadProject({ ...project, build: 'always', load: { image: planResolver({ root: dataRoot(), policy: 'never' }) } });
  for (const n of a.positionals) {
    if (!load.project.services[n]) throw new UserError('E_NO_SERVICE', `no such service: ${n}`, [], `services: ${Object.keys(load.project.services).join(', ')}`);
  }
  const engine = new ComposeEngine(load);
  let plan: ProjectPlan;
  try { plan = await engine.planFor({ allImages: true }); } finally { engine.close(); }
  const noCache = Boolean(a.flags['no-cache']);
  const buildArgs = buildArgList((a.flags['build-arg'] as string[] | undefined) ?? []);
  const steps = plan.steps.filter((s): s is Extract<ProjectStep, { op: 'build' }> => s.op === 'build' && (!a.positionals.length || a.positionals.includes(s.service)))
    .map((s) => ({ ...s, request: { ...s.request, ...(noCache ? { noCache } : {}), buildArgs: { ...s.request.buildArgs, ...buildArgs } } }));
  if (!steps.length) { process.stderr.write('niwa: no service of the project has build:\n'); return 0; }
  const quiet = Boolean(a.flags.quiet);
  const reporters = new Map(steps.map((s) => [s.service, plainBuildReporter((l) => process.stderr.write(`${s.service}: ${l}`))]));
  const built = new Map<string, string>();
  const failed = await runSteps(plan, steps, (e) => {
    if (e.type !== 'build') return;
    if (e.event.type === 'done') built.set(e.service, e.event.digest);
    if (!quiet) reporters.get(e.service)?.(e.event);
  });
  for (const s of steps) if (built.has(s.service)) process.stdout.write(`${s.image} ${built.get(s.service)}\n`);
  if (!failed.length) return 0;
  if (failed.length === 1) throw failed[0].error;
  for (const f of failed) process.stderr.write(`${formatError(f.error)}\n`);
  return 1;
}
