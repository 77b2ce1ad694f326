// Executes the host-side steps of a single container's network that are not iproute2 commands
// (those run through exec.ts): the lease and its release (with niwa's bridge removed by its last
// container), the /etc/hosts refresh, and the published ports, held by whoever runs the plan
// (a PortHolder: `niwa run` in the foreground, the supervisor with -d).
import type { LaunchPlan, Step } from '../../plan/types.js';
import type { RunNet } from '../supervisor/protocol.js';
import { RuntimeFailure } from '../../errors.js';
import { leasesPath } from './names.js';
import { networkKey, releaseAddress, releaseNetwork, reserveAddress, reserveNetwork, withLeases } from './ipam.js';
import { refreshHosts } from './attach.js';
import { realNetHost, runNetSteps, type NetHost } from './exec.js';
import { publishPorts, type PortProxy } from './ports.js';
import { BRIDGE_PROJECT } from '../../plan/steps/net.js';

type S<K extends Step['op']> = Extract<Step, { op: K }>;

/** Holds the published ports of a plan while its container lives. */
export interface PortHolder {
  publish(step: S<'publish'>): Promise<void>;
  unpublish(step: S<'unpublish'>): Promise<void>;
}

/** The foreground holder: this process listens while the container runs, and closes the ports after. */
export function ownPorts(): PortHolder & { proxy(): PortProxy | undefined } {
  let proxy: PortProxy | undefined;
  return {
    proxy: () => proxy,
    async publish(s) { if (!proxy) proxy = await publishPorts(s.ports, s.address); },
    async unpublish() { const p = proxy; proxy = undefined; await p?.close(); },
  };
}

/** Records the plan's lease; refuses when the lease database changed so that it no longer fits. */
export async function lease(s: S<'lease'>): Promise<void> {
  const stale = (why: string) => new RuntimeFailure('E_PLAN_STALE', `the network plan of ${s.container} no longer fits the host: ${why}`, { hint: 'another niwa changed the network since the plan was made: run the command again', field: s.field });
  await withLeases(leasesPath(s.stateRoot), (db) => {
    const key = networkKey(s.project, s.network);
    let next = db;
    if (!db.networks[key]) {
      if (s.project !== BRIDGE_PROJECT) throw stale(`network ${s.project}_${s.network} is gone (its project is down)`);
      try { next = reserveNetwork(db, { project: s.project, network: s.network, bridge: s.bridge, subnet: s.subnet, routes: [] }).db; } catch (e) { throw stale((e as Error).message); }
    } else if (db.networks[key].subnet !== s.subnet) throw stale(`network ${s.network} has subnet ${db.networks[key].subnet}, not ${s.subnet}`);
    const had = next.networks[key].leases[s.container];
    if (had && had.netns !== s.netns) throw stale(`a container named ${s.container} is already on network ${s.network}`);
    try {
      next = reserveAddress(next, key, s.container, { address: s.address, aliases: s.aliases, ifname: s.ifname, veth: s.veth, netns: s.netns, ...(s.hostname ? { hostname: s.hostname } : {}) }).db;
    } catch (e) { throw stale((e as Error).message); }
    return { db: next, result: undefined };
  });
}

/** Forgets the lease (when it is this container's); niwa's bridge goes with its last container. */
export async function release(s: S<'release'>, host: NetHost = realNetHost): Promise<void> {
  await withLeases(leasesPath(s.stateRoot), async (db) => {
    const key = networkKey(s.project, s.network);
    const net = db.networks[key];
    if (!net) return { db, result: undefined };
    let next = net.leases[s.container]?.netns === s.netns ? releaseAddress(db, key, s.container) : db;
    if (s.bridge && !Object.keys(next.networks[key].leases).length) {
      // under the lease lock: a container joining now waits, then finds neither the record nor the bridge and makes both
      await runNetSteps([{ op: 'ip', args: ['link', 'del', s.bridge], absentOk: true, field: s.field, why: s.why }], host);
      next = releaseNetwork(next, key);
    }
    return { db: next, result: undefined };
  });
}

export function hosts(s: S<'hosts'>): Promise<void> {
  return refreshHosts({ stateRoot: s.stateRoot }, s.project);
}

/**
 * What the supervisor holds for a plan with published ports (RunNet): it publishes them before the
 * container exists (a busy port fails the request) and again after its own restart (net.json).
 * The plan's own steps undo the network, so `networks` stays empty.
 */
export function runNetOf(plan: LaunchPlan, stateRoot: string): RunNet | undefined {
  const p = plan.steps.find((s): s is S<'publish'> => s.op === 'publish');
  return p ? { stateRoot, project: plan.project, networks: [], address: p.address, ports: p.ports } : undefined;
}
