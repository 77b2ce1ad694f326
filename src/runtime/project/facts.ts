// Reads the host facts a ProjectPlan is compiled from (the only impure part of planning): the lease
// database, the host's routes and network interfaces, mounted network namespace files, which of the
// project's paths exist, and the project's containers with the configuration each was made from.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import type { ComposeLoad } from '../../compose/index.js';
import type { HostFacts } from '../../plan/types.js';
import { CONFIG_HASH, type ProjectHostFacts } from '../../plan/project/compile.js';
import { leasesPath } from '../net/names.js';
import { loadLeases, readHostRoutes } from '../net/ipam.js';
import { isLive } from '../status.js';
import { containerDir, readSpec, type ContainerState } from '../state.js';

function mountPoints(): string[] {
  try {
    return readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter(Boolean).map((l) => l.split(' ')[4].replace(/\\(\d{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))));
  } catch { return []; }
}

export function readProjectFacts(load: ComposeLoad, host: HostFacts, stateRoot: string, containers: ContainerState[]): ProjectHostFacts {
  const project = load.project.name;
  const paths = new Set<string>();
  for (const svc of load.services.values()) {
    for (const v of svc.compose.volumes) paths.add(v.hostPath);
    for (const d of svc.compose.bindDirsToCreate) paths.add(d);
  }
  let links: string[] = [];
  try { links = readdirSync('/sys/class/net'); } catch { /* no sysfs */ }
  const nsDir = `${stateRoot}/net/ns/${project}/`;
  return {
    host,
    stateRoot,
    leases: loadLeases(leasesPath(stateRoot)),
    routes: readHostRoutes(),
    links,
    netns: mountPoints().filter((m) => m.startsWith(nsDir)),
    exists: [...paths].filter((p) => existsSync(p)),
    containers: containers.map((c) => {
      const hash = readSpec(containerDir(stateRoot, project, c.name))?.annotations?.[CONFIG_HASH];
      return { name: c.name, live: isLive(c.status) && !c.createdOnly, ...(c.pid && c.status === 'running' ? { pid: c.pid } : {}), ...(hash ? { configHash: hash } : {}) };
    }),
  };
}
