// `niwa compose events [--json] [SERVICE...]`: the services' container events as they happen, from
// the project's supervisor event stream, named as Docker names them: create, start, pause, unpause,
// die (with the exit code), oom, restart, destroy, health_status: healthy|unhealthy|starting.
// One line each (`TIME container ACTION NAME (attributes)`) or, with --json, one JSON object each.
import type { RuntimeEvent } from '../../events/types.js';
import { containerDir, readSpec } from '../../runtime/state.js';
import { SERVICE_KEY } from '../../compose/project-state.js';
import { engineOf, servicesOf, type Run } from './project.js';

export interface ContainerEvent { time: string; type: 'container'; action: string; id: string; service?: string; attributes: Record<string, string> }

/** The Docker-style events one supervisor event stands for (`previous`: the container's status before it). */
export function dockerEvents(e: RuntimeEvent, previous: string | undefined): { action: string; attributes?: Record<string, string> }[] {
  if (e.type === 'health') return [{ action: `health_status: ${e.status}` }];
  if (e.type !== 'status' || !e.status || e.status === previous) return []; // (removal is told twice: by the container and by rm)
  const exit = () => ({ exitCode: String(e.signal != null ? 128 + e.signal : e.exitCode ?? '') });
  switch (e.status) {
    case 'created': return [{ action: 'create' }];
    case 'running': return [{ action: previous === 'paused' ? 'unpause' : 'start' }];
    case 'paused': return [{ action: 'pause' }];
    case 'restarting': return [{ action: 'restart' }];
    case 'exited': case 'stopped': return [{ action: 'die', attributes: exit() }];
    case 'oom-killed': return [{ action: 'oom' }, { action: 'die', attributes: exit() }];
    case 'removed': return [{ action: 'destroy' }];
    default: return [];
  }
}

export const events: Run = async (a, project) => {
  const { load, engine } = await engineOf(project);
  const wanted = new Set(servicesOf(load, a.positionals));
  const last = new Map<string, string>(engine.containers().map((c) => [c.name, c.status]));
  // A container created after we started listening: its service is in its spec's annotations.
  const services = new Map<string, string | undefined>();
  const serviceOf = (c: string) => {
    if (!services.has(c)) services.set(c, engine.serviceOf(c) ?? readSpec(containerDir(engine.target.root, engine.project, c))?.annotations?.[SERVICE_KEY]);
    return services.get(c);
  };
  const print = (e: RuntimeEvent) => {
    if (!('container' in e) || !e.container) return;
    const service = serviceOf(e.container);
    if (a.positionals.length && !(service && wanted.has(service))) return;
    const prev = last.get(e.container);
    if (e.type === 'status' && e.status) last.set(e.container, e.status);
    for (const d of dockerEvents(e, prev)) {
      const ev: ContainerEvent = {
        time: new Date('at' in e && e.at ? e.at : Date.now()).toISOString(), type: 'container', action: d.action, id: e.container,
        ...(service ? { service } : {}),
        attributes: { name: e.container, project: engine.project, ...(service ? { service } : {}), ...d.attributes },
      };
      if (a.flags.json) process.stdout.write(JSON.stringify(ev) + '\n');
      else process.stdout.write(`${ev.time} container ${ev.action} ${ev.id} (${Object.entries(ev.attributes).map(([k, v]) => `${k}=${v}`).join(', ')})\n`);
    }
  };
  const { openStream } = await import('../../runtime/supervisor/client.js');
  const stream = await openStream(engine.target, { op: 'events' }, (l) => { if ('event' in l) print(l.event); });
  const stop = () => stream.close();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  await stream.ended;
  process.off('SIGINT', stop);
  process.off('SIGTERM', stop);
  return 0;
};
