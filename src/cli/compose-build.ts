// `niwa compose build [SERVICE...]`: build the images of the project's build: services (each named by
// its image:, else <project>-<service>), one after another, progress as `niwa build` prints it with
// the service's name in front; the digest of each on stdout.
import type { ParsedArgs } from './args.js';
import { UserError } from '../errors.js';
import type { LoadComposeOptions } from '../compose/index.js';

export async function composeBuild(a: ParsedArgs, project: LoadComposeOptions): Promise<number> {
  const [{ loadCompose }, { buildService, builtImageName }, { plainBuildReporter, buildArgList }, { probeHost }] = await Promise.all([
    import('../compose/index.js'), import('../build/compose.js'), import('./build.js'), import('../validate/host.js'),
  ]);
  const load = await loadCompose({ ...project, skipCanonical: true });
  const all = Object.entries(load.project.services).filter(([, s]) => s.build !== undefined);
  for (const n of a.positionals) {
    if (!load.project.services[n]) throw new UserError('E_NO_SERVICE', `no such service: ${n}`, [], `services: ${Object.keys(load.project.services).join(', ')}`);
  }
  const chosen = a.positionals.length ? all.filter(([n]) => a.positionals.includes(n)) : all;
  if (!chosen.length) { process.stderr.write('niwa: no service of the project has build:\n'); return 0; }
  const host = probeHost();
  const quiet = Boolean(a.flags.quiet);
  const buildArgs = buildArgList((a.flags['build-arg'] as string[] | undefined) ?? []);
  for (const [name, svc] of chosen) {
    const report = plainBuildReporter((s) => process.stderr.write(`${name}: ${s}`));
    const img = await buildService(load.project.name, name, svc, {
      host, noCache: Boolean(a.flags['no-cache']), buildArgs, onEvent: quiet ? undefined : (_s, e) => report(e), stdio: quiet ? ['ignore', 'ignore', 2] : ['ignore', 2, 2],
    }, load.project.workingDir);
    process.stdout.write(`${builtImageName(load.project.name, name, svc)} ${img.digest}\n`);
  }
  return 0;
}
