// Owns how the compose verbs find the project they act on: the compose files when there are some,
// else — for the verbs that only need the project, given `-p NAME` (or COMPOSE_PROJECT_NAME) —
// the project's recorded containers under the state root (src/compose/project-state.ts). Also the
// small helpers the extra compose verbs share (service checks, the containers of named services).
import { UserError } from '../../errors.js';
import type { ComposeLoad, LoadComposeOptions } from '../../compose/index.js';
import type { PullEvent } from '../../image/types.js';
import type { ParsedArgs } from '../args.js';

import { replicaIndex } from '../../plan/project/compile.js';

export type Run = (a: ParsedArgs, project: LoadComposeOptions) => Promise<number>;

/**
 * Loads the project. `canonical` loads (verbs that start containers) annotate each service's spec
 * so that its containers say which service and files they came from. With no compose file, a
 * non-canonical load falls back to the recorded state of the project named by -p.
 */
export async function loadOrState(project: LoadComposeOptions, o: { canonical?: boolean; onPull?: (e: PullEvent) => void } = {}): Promise<ComposeLoad> {
  const { loadProject } = await import('../../compose/up.js');
  try {
    const load = await loadProject({ ...project, canonical: o.canonical, ...(o.onPull ? { onPull: o.onPull } : {}) });
    if (o.canonical !== false) (await import('../../compose/project-state.js')).annotateServices(load);
    return load;
  } catch (e) {
    const name = project.projectName ?? (project.env ?? process.env).COMPOSE_PROJECT_NAME;
    if (!(e instanceof UserError && e.code === 'E_COMPOSE_NO_FILE' && name && !project.files?.length)) throw e;
    if (o.canonical !== false) {
      throw new UserError(e.code, e.message, e.details, `this command creates containers from the compose file: run it where the file is, or name it with -f (with -p ${name} alone, ps, logs, exec, start, restart, stop, kill, pause, rm, port, cp, wait, events and down work)`);
    }
    const { defaultStateRoot } = await import('../../validate/host.js');
    const { loadFromState } = await import('../../compose/project-state.js');
    return loadFromState(defaultStateRoot(), name);
  }
}

/** The named services (all when none), checked against the project. */
export function servicesOf(load: ComposeLoad, names: string[]): string[] {
  for (const s of names) if (!load.services.has(s)) throw new UserError('E_NO_SERVICE', `no such service: ${s}`, [], `services: ${[...load.services.keys()].join(', ') || '(none)'}`);
  return names.length ? names : [...load.plan.order];
}

/** An engine on the project for verbs that only read and signal (nothing is started by it). */
export async function engineOf(project: LoadComposeOptions) {
  const load = await loadOrState(project, { canonical: false });
  const { ComposeEngine } = await import('../../compose/up.js');
  const engine = new ComposeEngine(load);
  await engine.refresh();
  return { load, engine };
}

/** The container of a service that `--index N` names (default: its first replica that exists). */
export function replicaOf(engine: { names(s: string): string[]; load: ComposeLoad }, service: string, index: unknown, verb: string): string {
  const names = engine.names(service);
  if (index === undefined) return names[0];
  const i = Number(index);
  if (!Number.isInteger(i) || i < 1) throw new UserError('E_USAGE', `compose ${verb}: --index expects a replica number (1, 2, …), got '${String(index)}'`);
  const n = names.find((x) => replicaIndex(engine.load, service, x) === i);
  if (!n) throw new UserError('E_NO_CONTAINER', `compose ${verb}: ${service} has no replica ${i}`, [], `its containers: ${names.join(', ')}`);
  return n;
}

/**
 * The replicas each of `services` runs now (those that have containers): a verb that starts them
 * again (start, restart, run's dependencies, watch) keeps their count rather than the file's.
 */
export async function currentScale(engine: { names(s: string): string[]; state(n: string): unknown; refresh(): Promise<void> }, services: string[]): Promise<Record<string, number>> {
  await engine.refresh();
  return Object.fromEntries(services.filter((s) => engine.state(engine.names(s)[0])).map((s) => [s, engine.names(s).length]));
}
