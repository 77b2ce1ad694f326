// Owns `compose start` and `compose restart` when there is no compose file but a project name
// (-p NAME or COMPOSE_PROJECT_NAME): the project's ended containers are made again from the steps
// its supervisor stored when their plan was applied (ComposeEngine.startStored).
import type { LoadComposeOptions } from '../../compose/index.js';
import type { ParsedArgs } from '../args.js';

/** Whether this is such a case, and if so the verb done; false: the caller loads the compose file as usual. */
export async function fromState(a: ParsedArgs, project: LoadComposeOptions, verb: 'start' | 'restart'): Promise<boolean> {
  const name = project.projectName ?? (project.env ?? process.env).COMPOSE_PROJECT_NAME;
  if (!name || project.files?.length) return false;
  const { discoverFiles } = await import('../../compose/discover.js');
  try { discoverFiles({ cwd: project.cwd ?? process.cwd(), env: project.env ?? process.env }); return false; } catch { /* no compose file: from the stored state */ }
  const { loadOrState, servicesOf } = await import('./project.js');
  const load = await loadOrState(project, { canonical: false });
  const services = servicesOf(load, a.positionals);
  const { ComposeEngine } = await import('../../compose/up.js');
  const engine = new ComposeEngine(load, { onMessage: (m) => process.stderr.write(`${m.container ? m.container + ': ' : ''}${m.text}\n`) });
  try {
    if (verb === 'restart') {
      const t = a.flags.timeout;
      await engine.stop({ services, ...(t !== undefined && Number(t) >= 0 ? { timeoutMs: Math.round(Number(t) * 1000) } : {}) });
    }
    await engine.startStored({ services: a.positionals.length ? services : undefined, verb });
  } finally { engine.close(); }
  return true;
}
