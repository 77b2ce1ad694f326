// A foreground `niwa run` registers its container in the same state layout as the supervisor's
// (state.json, plan.json, spec.json under ${stateRoot}/${project}/${name}/), so that `niwa ps`
// lists it, `niwa exec` enters it, and `niwa stop`/`kill`/`rm -f` act on it from another
// terminal. The running `niwa run` process is its supervisor: it removes the directory when the
// container ends. `foreground.ownerPid` keeps a project supervisor from adopting it. It also holds
// the container's published ports (niwa run -p) for the container's lifetime.
import { UserError } from '../errors.js';
import type { LaunchPlan } from '../plan/types.js';
import type { CanonicalSpec } from '../spec/types.js';
import { startTime, sameProcessAlive } from './proc.js';
import { ownPorts, runNetOf, type PortHolder } from './net/container.js';
import { containerDir, createContainerDir, pruneProject, readState, removeContainerDir, writeAtomic, writeState, type ContainerState } from './state.js';
import { join } from 'node:path';

export interface ForegroundRegistration {
  dir: string;
  /** The container runs: record its pid and its stage (the shim), which `ps` checks for liveness. */
  started(pid: number, stagePid: number | undefined): void;
  /** The container is gone and cleaned up: remove its directory. */
  done(): void;
  /** Its published ports (the plan's publish step): this process listens while the container runs, closed by the plan's cleanup. */
  ports: PortHolder;
}

export function registerForeground(root: string, plan: LaunchPlan, spec: CanonicalSpec): ForegroundRegistration {
  let state: ContainerState = {
    version: 1, id: plan.id, name: plan.name, project: plan.project, status: 'created',
    createdAt: new Date().toISOString(), oomKilled: false, restarts: 0, health: 'none',
    specFile: spec.file, cgroups: plan.cgroups, restart: { policy: 'no' },
    foreground: { ownerPid: process.pid, ownerStart: startTime(process.pid) },
  };
  let dir: string;
  try {
    // with its state.json at once (a full disk fails here, cleanly, with nothing left behind)
    dir = createContainerDir(root, plan.project, plan, spec, state);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    const old = readState(containerDir(root, plan.project, plan.name));
    const stale = old?.foreground && !sameProcessAlive(old.foreground.ownerPid, old.foreground.ownerStart);
    throw new UserError('E_NAME_IN_USE', `run: a container named '${plan.name}' already exists in project '${plan.project}'${stale ? ' (left by a niwa run that was killed)' : ''}`, [],
      `give this one another name with --name, or remove the old one: niwa rm -f ${plan.name}${plan.project === 'default' ? '' : ' --project ' + plan.project}`);
  }
  const own = ownPorts();
  // once listening, the ports are recorded in net.json as the supervisor records them (a port published
  // without a host port as the one the kernel chose), so `inspect` from another terminal shows them
  const ports: PortHolder = {
    publish: async (s) => {
      await own.publish(s);
      const net = runNetOf(plan, root);
      const proxy = own.proxy();
      if (!net || !proxy) return;
      try { writeAtomic(join(dir, 'net.json'), JSON.stringify({ ...net, ports: proxy.published.map((p) => ({ ...p.mapping, hostPort: p.hostPort })) }) + '\n'); } catch { /* inspect then shows the planned ports */ }
    },
    unpublish: (s) => own.unpublish(s),
  };
  return {
    dir,
    ports,
    started(pid, stagePid) {
      state = { ...state, status: 'running', pid, startedAt: new Date().toISOString(), ...(stagePid ? { stagePid, stageStart: startTime(stagePid) } : {}) };
      // the container runs whether or not its record can say so (a full disk): warn, do not fail it
      try { writeState(dir, state); } catch (e) { process.stderr.write(`niwa: warning: ${(e as Error).message}: niwa ps shows '${plan.name}' as created\n`); }
    },
    done() {
      void own.proxy()?.close(); // closed by the plan's cleanup; this is for a run that never got there
      removeContainerDir(dir);
      pruneProject(root, plan.project);
    },
  };
}

/**
 * stop/kill for a foreground container, from another terminal: signals go to its stage, which
 * forwards them to the container; SIGKILL goes to the container itself (the stage then reaps it
 * and the owning `niwa run` cleans up). Resolves once the container has ended (stop) or at once.
 */
export async function signalForeground(st: ContainerState, signal: string, graceMs?: number): Promise<void> {
  const send = (pid: number | undefined, sig: string) => { try { if (pid) process.kill(pid, sig as NodeJS.Signals); } catch { /* gone */ } };
  if (signal === 'SIGKILL') { send(st.pid, 'SIGKILL'); return; }
  send(st.stagePid, signal);
  if (graceMs === undefined) return;
  const end = Date.now() + graceMs;
  while (Date.now() < end && sameProcessAlive(st.stagePid, st.stageStart)) await new Promise((r) => setTimeout(r, 50));
  if (sameProcessAlive(st.stagePid, st.stageStart)) send(st.pid, 'SIGKILL');
  for (let i = 0; i < 100 && sameProcessAlive(st.stagePid, st.stageStart); i++) await new Promise((r) => setTimeout(r, 20));
}
