// Owns what a compose project leaves in niwa's state root for the verbs that need only the project
// (`niwa compose -p NAME ps` from any directory, `compose ls`): the annotations each service's
// container carries (service, config files, working directory — Docker's com.docker.compose.*
// labels), the compose projects found under the state root with their status, and a ComposeLoad
// rebuilt from the recorded containers when there is no compose file to load.
import { existsSync } from 'node:fs';
import { teardownPath } from '../runtime/project/teardown-store.js';
import { UserError } from '../errors.js';
import { containerDir, deriveState, listNames, listProjects, readSpec, readState, type ContainerState } from '../runtime/state.js';
import { describeStatus } from '../runtime/status.js';
import type { CgroupLayout } from '../plan/types.js';
import type { ComposeLoad, LoadedService } from './index.js';

export const SERVICE_KEY = 'niwa.compose.service';
export const CONFIG_FILES_KEY = 'niwa.compose.config-files';
export const WORKING_DIR_KEY = 'niwa.compose.working-dir';
/** Set by up on every service container (src/compose/up.ts); marks a project as a compose one for old containers. */
const CONFIG_HASH_KEY = 'niwa.compose.config-hash';

/** Adds the service, config files and working directory to every service's spec (kept in spec.json). */
export function annotateServices(load: ComposeLoad): void {
  const files = load.project.files.join(',');
  for (const [name, svc] of load.services) {
    if (!svc.canonical) continue;
    svc.canonical.annotations = { ...svc.canonical.annotations, [SERVICE_KEY]: name, [CONFIG_FILES_KEY]: files, [WORKING_DIR_KEY]: load.project.workingDir };
  }
}

export interface RecordedContainer {
  name: string;
  /** The compose service it was created for (annotation, else its name without `-N`). */
  service: string;
  state: ContainerState;
  configFiles: string[];
  workingDir?: string;
  /** Created by `compose run` (named SERVICE-run-HEX). */
  oneOff: boolean;
}

const ONE_OFF = /-run-[0-9a-f]{6}$/;

/** The containers of a project recorded under the state root, with their compose annotations. */
export function recordedContainers(root: string, project: string, layout?: CgroupLayout): RecordedContainer[] {
  return listNames(root, project).flatMap((name) => {
    const dir = containerDir(root, project, name);
    const st = readState(dir);
    if (!st) return [];
    const a = readSpec(dir)?.annotations ?? {};
    const compose = a[SERVICE_KEY] !== undefined || a[CONFIG_HASH_KEY] !== undefined;
    if (!compose) return [];
    return [{
      name,
      service: a[SERVICE_KEY] ?? name.replace(/-\d+$/, ''),
      state: layout ? deriveState(st, layout, dir) : st,
      configFiles: a[CONFIG_FILES_KEY] ? a[CONFIG_FILES_KEY].split(',') : [],
      ...(a[WORKING_DIR_KEY] ? { workingDir: a[WORKING_DIR_KEY] } : {}),
      oneOff: ONE_OFF.test(name),
    }];
  });
}

export interface ProjectSummary {
  name: string;
  /** `running(2), exited(1)` as docker compose ls says it. */
  status: string;
  running: boolean;
  configFiles: string[];
}

/** Every compose project under the state root (projects of `niwa run -d` are not compose projects). */
export function listComposeProjects(root: string, layout?: CgroupLayout): ProjectSummary[] {
  return listProjects(root).flatMap((name) => {
    const cs = recordedContainers(root, name, layout);
    if (!cs.length) return [];
    const counts = new Map<string, number>();
    for (const c of cs) {
      const s = describeStatus(c.state).replace(/\(.*\)$/, '');
      counts.set(s, (counts.get(s) ?? 0) + 1);
    }
    const files = [...new Set(cs.flatMap((c) => c.configFiles))];
    return [{ name, status: [...counts].map(([s, n]) => `${s}(${n})`).join(', '), running: counts.has('running') || counts.has('paused'), configFiles: files }];
  });
}

/**
 * The project as its containers recorded it: one service per container (one-off `run` containers
 * excepted), no dependencies, networks, volumes or files. Enough for the verbs that only act on
 * existing containers (ps, logs, stop, kill, pause, rm, port, wait, events, down); nothing can be
 * started from it (no canonical spec).
 */
export function loadFromState(root: string, project: string): ComposeLoad {
  const cs = recordedContainers(root, project);
  // (no containers, but steps stored by the applied plans: a `down` without -v kept those that remove volumes)
  if (!cs.length && existsSync(teardownPath(root, project))) return emptyLoad(root, project);
  if (!cs.length) {
    throw new UserError('E_NO_PROJECT', `no compose file found, and project '${project}' has no containers under ${root}`, [], 'run the command where the compose file is (or name it with -f), or see niwa compose ls');
  }
  const services = new Map<string, LoadedService>();
  for (const c of [...cs.filter((x) => !x.oneOff), ...cs.filter((x) => x.oneOff)]) {
    if (c.oneOff) continue;
    // replicas of a scaled service: the service is named by its first (`web-1`); the others are found by number
    if (services.has(c.service)) { if (c.name === `${c.service}-1`) services.get(c.service)!.compose.containerName = c.name; continue; }
    services.set(c.service, {
      spec: { name: c.service } as LoadedService['spec'],
      compose: {
        service: c.service, containerName: c.name, dependsOn: [], networkMode: { kind: 'bridge' }, networks: [], ports: [], expose: [],
        extraHosts: [], links: [], dns: [], dnsSearch: [], labels: {}, volumes: [], bindDirsToCreate: [], filesToWrite: [], profiles: [], replicas: 1, stdinOpen: false,
      },
    });
  }
  const order = [...services.keys()].sort();
  const first = cs[0];
  const load: ComposeLoad = {
    project: {
      name: project, workingDir: first.workingDir ?? root, files: first.configFiles, services: {}, networks: {}, volumes: {},
      disabledServices: {}, profiles: [], extensions: {},
    },
    services,
    plan: { levels: [order], stopLevels: [order], order },
    warnings: [],
    env: {},
  };
  fromState.add(load);
  return load;
}

/** A project with nothing recorded but its stored steps: `down` runs them. */
function emptyLoad(root: string, project: string): ComposeLoad {
  const load: ComposeLoad = {
    project: { name: project, workingDir: root, files: [], services: {}, networks: {}, volumes: {}, disabledServices: {}, profiles: [], extensions: {} },
    services: new Map(), plan: { levels: [], stopLevels: [], order: [] }, warnings: [], env: {},
  };
  fromState.add(load);
  return load;
}

const fromState = new WeakSet<ComposeLoad>();

/** Whether a load came from the recorded state (no compose file): see loadFromState. */
export const isFromState = (load: ComposeLoad): boolean => fromState.has(load);
