// `niwa compose pause|unpause [SERVICE...]`: freeze or thaw the services' running containers with
// the cgroup freezer, through niwa pause / unpause (src/cli/pause.ts) on each container.
import { servicesOf, engineOf, type Run } from './project.js';

function freezer(op: 'pause' | 'unpause'): Run {
  return async (a, project) => {
    const { load, engine } = await engineOf(project);
    const want = op === 'pause' ? 'running' : 'paused';
    const names = servicesOf(load, a.positionals).flatMap((s) => engine.names(s)).filter((n) => engine.state(n)?.status === want);
    if (!names.length) return 0;
    const { verb } = await import(op === 'pause' ? '../pause.js' : '../unpause.js');
    return verb.run(['--project', engine.project, '--state-root', engine.target.root, ...names]);
  };
}

export const pause = freezer('pause');
export const unpause = freezer('unpause');
