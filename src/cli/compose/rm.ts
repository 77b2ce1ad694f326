// `niwa compose rm [-f] [-s] [-v] [SERVICE...]`: remove the services' stopped containers (every
// host resource and the state go, through niwa rm: src/cli/rm.ts); -s stops them first (dependents
// first); -v also removes their anonymous volumes. Running containers are left alone without -s.
// (-f is accepted for Docker's sake: niwa never asks for confirmation.)
import { rmSync } from 'node:fs';
import { isLive } from '../../runtime/status.js';
import { isFromState } from '../../compose/project-state.js';
import { engineOf, servicesOf, type Run } from './project.js';

export const rm: Run = async (a, project) => {
  const { load, engine } = await engineOf(project);
  const services = servicesOf(load, a.positionals);
  if (a.flags.stop) await engine.stop({ services });
  // every replica of each service
  const containers = services.flatMap((s) => engine.names(s).map((n) => ({ s, n, st: engine.state(n) })));
  // (a container made by compose create and never started is not running)
  const gone = containers.filter((c) => c.st && (!isLive(c.st.status) || c.st.createdOnly));
  const running = containers.filter((c) => c.st && isLive(c.st.status) && !c.st.createdOnly);
  for (const c of running) process.stderr.write(`${c.n}: still running, not removed (stop it first, or use -s)\n`);
  if (!gone.length) {
    if (!running.length) process.stderr.write('no stopped containers\n');
    return 0;
  }
  const { verb } = await import('../rm.js');
  const status = await verb.run(['--project', engine.project, '--state-root', engine.target.root, ...gone.map((c) => c.n)]);
  if (a.flags.volumes && !isFromState(load)) {
    for (const s of new Set(gone.map((c) => c.s))) for (const v of load.services.get(s)!.compose.volumes) if (v.anonymous && !v.external) rmSync(v.hostPath, { recursive: true, force: true });
  }
  return status;
};
