// Executes the host-side steps of a plan (phases prepare and cleanup) through Sys, and says
// how to undo each one, so that a failed start can be rolled back exactly.
import type { CanonicalSpec } from '../../spec/types.js';
import type { LaunchPlan, Step } from '../../plan/types.js';
import { SysError, type Sys } from '../sys/types.js';
import { runHook } from './hooks.js';
import { removeCgroup } from '../cgroup/remove.js';
import { injectedFailStep } from './inject.js';
import { RuntimeFailure } from '../../errors.js';
import type { PortHolder } from '../net/container.js';

/** Per plan: whether this start creates niwa's bridge (ip steps with ifMissing), decided at its `link add`. */
const made = new WeakMap<LaunchPlan, Map<string, boolean>>();
function bridgesMade(plan: LaunchPlan): Map<string, boolean> {
  let m = made.get(plan);
  if (!m) made.set(plan, (m = new Map()));
  return m;
}

export async function runHostStep(step: Step, sys: Sys, spec: CanonicalSpec, plan: LaunchPlan, ports?: PortHolder): Promise<void> {
  if (step.phase === 'prepare' && step.index === injectedFailStep()) throw new SysError(step.op, 'path' in step ? String(step.path) : `step ${step.index}`, 'EIO (injected by NIWA_TEST_FAIL_STEP)');
  switch (step.op) {
    case 'mkdir': {
      // A new directory gets exactly the mode the plan shows (not masked by the umask); an existing
      // one only gains the bits it lacks (e.g. search permission), never loses any (think /tmp).
      const before = sys.modeOf(step.path);
      sys.mkdir(step.path, step.mode, step.parents ?? false);
      if (before === undefined) sys.chmod(step.path, step.mode);
      else if ((before & step.mode) !== step.mode) sys.chmod(step.path, before | step.mode);
      return;
    }
    case 'write':
      sys.writeFile(step.path, step.data);
      return;
    case 'rmdir':
      // Cgroups need more than rmdir: leftover processes are killed first, EBUSY is retried,
      // and niwa's shared parents (bestEffort) are left alone while other containers use them.
      if (isCgroupPath(step.path, plan)) await removeCgroup(step.path, { bestEffort: step.bestEffort });
      else removeDir(sys, step.path, step.bestEffort);
      return;
    case 'rmtree':
      sys.rmtree(step.path);
      return;
    case 'copyroot': {
      if (sys === (await import('../sys/real.js')).realSys) await (await import('../sys/real.js')).prepareNative();
      (await import('../rootfs/copy.js')).copyLayers(step.layers, step.path, sys, {
        uidMap: step.uidMap, gidMap: step.gidMap,
        isOpaque: (dir) => sys.lgetxattr(dir, 'trusted.overlay.opaque')?.toString() === 'y',
        mknod: (path, mode, dev) => { try { sys.mknod(path, mode, dev); } catch { /* a device node this host may not create: left out, as the unpack does */ } },
      });
      return;
    }
    case 'ip':
    case 'netns': {
      // Network plumbing (runtime/net): iproute2 in the host or in a kept network namespace.
      const net = await import('../net/exec.js');
      if (step.op === 'ip' && step.ifMissing) {
        // niwa's bridge: its steps are skipped when it existed before the first of them (the `link add`)
        const made = bridgesMade(plan);
        const creates = step.args[0] === 'link' && step.args[1] === 'add';
        if (creates) made.set(step.ifMissing, !net.realNetHost.linkExists(step.ifMissing));
        if (!made.get(step.ifMissing)) return;
        try { await net.runNetSteps([step]); } catch (e) {
          if (!creates || (e as { code?: string }).code !== 'E_NET_EXISTS') throw e;
          made.set(step.ifMissing, false); // another niwa made it just now
        }
        return;
      }
      await net.runNetSteps([step]);
      return;
    }
    case 'lease':
      return (await import('../net/container.js')).lease(step);
    case 'release':
      return (await import('../net/container.js')).release(step);
    case 'hosts':
      return (await import('../net/container.js')).hosts(step);
    case 'publish':
      if (!ports) throw new RuntimeFailure('E_PORT_HOLDER', `step ${step.index}: nothing here can hold published ports`, { hint: 'niwa run (in the foreground or with -d) publishes them', field: step.field });
      return ports.publish(step);
    case 'unpublish':
      // without a holder, the process that held them is gone, and its ports with it
      return ports?.unpublish(step);
    case 'hook':
      await runHook(step, spec, plan);
      return;
    default:
      throw new Error(`step ${step.index}: op '${step.op}' cannot run on the host (phase ${step.phase})`);
  }
}

type IpStep = Extract<Step, { op: 'ip' }>;

/**
 * The `ip` steps starting at `steps[from]` that can run as one `ip -batch` process (runNetSteps):
 * consecutive, same namespace, same absentOk, same ifMissing (niwa's bridge: its steps go together),
 * and none the failure injection aims at. Fewer than two: nothing to gain, run it alone.
 */
export function ipBatchAt(steps: Step[], from: number): IpStep[] {
  const first = steps[from];
  const batchable = (s: Step | undefined): s is IpStep => s?.op === 'ip' && s.index !== injectedFailStep();
  if (!batchable(first)) return [];
  const group: IpStep[] = [];
  for (let i = from; i < steps.length; i++) {
    const s = steps[i];
    if (!batchable(s) || s.netns !== first.netns || Boolean(s.absentOk) !== Boolean(first.absentOk) || s.ifMissing !== first.ifMissing) break;
    group.push(s);
  }
  return group.length > 1 ? group : [];
}

/**
 * Runs a group from ipBatchAt as one process, in the plan's order; `onDone` is told of each step as
 * done. A failure throws the NetStepError of the exact step that failed (its `step` is the plan's).
 * niwa's bridge (ifMissing) as runHostStep does it: skipped when it existed before its `link add`;
 * `ip -batch` stops at a failing `link add`, so another niwa making it just now skips the rest too.
 */
export async function runIpBatch(group: IpStep[], plan: LaunchPlan, onDone: (s: Step) => void): Promise<void> {
  const net = await import('../net/exec.js');
  const bridge = group[0].ifMissing;
  if (!bridge) return net.runNetSteps(group, net.realNetHost, (s) => onDone(s as Step));
  const made = bridgesMade(plan);
  const creates = group[0].args[0] === 'link' && group[0].args[1] === 'add';
  if (creates) made.set(bridge, !net.realNetHost.linkExists(bridge));
  if (!made.get(bridge)) { group.forEach(onDone); return; }
  try { await net.runNetSteps(group, net.realNetHost, (s) => onDone(s as Step)); } catch (e) {
    if (!creates || (e as { step?: unknown }).step !== group[0] || (e as { code?: string }).code !== 'E_NET_EXISTS') throw e;
    made.set(bridge, false); // another niwa made it just now
    group.forEach(onDone);
  }
}

/** rmdir of a plain directory: already gone is fine; with bestEffort, so is still in use. */
function removeDir(sys: Sys, path: string, bestEffort = false): void {
  try {
    sys.rmdir(path);
  } catch (e) {
    if (!(e instanceof SysError && (e.errno === 'ENOENT' || (bestEffort && (e.errno === 'ENOTEMPTY' || e.errno === 'EEXIST' || e.errno === 'EBUSY'))))) throw e;
  }
}

/** A cgroup of this plan or one of niwa's parents of it (those are removed by removeCgroup). */
function isCgroupPath(path: string, plan: LaunchPlan): boolean {
  return plan.cgroups.some((c) => c === path || c.startsWith(path + '/'));
}
