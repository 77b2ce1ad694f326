// Owns the supervisor's operations on the whole project (protocol.ts `apply`, `down`, `undo`,
// `cancel`): a ProjectPlan carried out in this process by runtime/project/apply.ts with the
// supervisor's own containers as its host (launch = the `run` request's code, remove = stop + rm),
// its events streamed to the client, the project's lock held while it works; `down` and a removed
// container's networks undone by the teardown the applied plans stored (teardown-store.ts).
import type { Socket } from 'node:net';
import { existsSync } from 'node:fs';
import type { EventBus } from '../../events/types.js';
import { UserError } from '../../errors.js';
import type { CgroupLayout, LaunchPlan } from '../../plan/types.js';
import type { ProjectStep } from '../../plan/project/types.js';
import type { CanonicalSpec } from '../../spec/types.js';
import type { ApplyHost } from '../project/apply.js';
import { handOverLock } from '../project/lock.js';
import type { Observed } from '../project/orchestrate.js';
import { containerDir, deriveState, listNames, readState, NAME_RE, type ContainerState } from '../state.js';
import { errorBody, type Supervised } from './container.js';
import type { Request, Response, RunNet, StreamLine } from './protocol.js';

/** What the project operations use of the supervisor (daemon.ts). */
export interface SupervisorCore {
  readonly root: string;
  readonly project: string;
  readonly bus: EventBus;
  readonly containers: Map<string, Supervised>;
  readonly layout: CgroupLayout;
  exiting(): boolean;
  /** The `run` request: a launch plan as a new supervised container. */
  runContainer(req: Extract<Request, { op: 'run' }>): Promise<Response>;
  /** `compose create`'s launch: the container's record (status created), not started. */
  createContainer(req: Extract<Request, { op: 'run' }>): void;
  /** The `rm` request (force). */
  removeByName(name: string, force: boolean): Promise<void>;
  send(s: Socket, l: StreamLine | Response): void;
  /** Keeps the supervisor from exiting idle until the returned function is called. */
  hold(): () => void;
  /** Exit (containers, if any, left running). */
  shutdown(): void;
  log(msg: string): void;
}

export class ProjectOps {
  /** The `apply` operations under way (a `cancel` request aborts them). */
  private applying = new Set<AbortController>();

  constructor(private core: SupervisorCore) {}

  /** `cancel`: aborts every apply under way; answers how many. */
  cancel(): number {
    for (const a of this.applying) a.abort();
    return this.applying.size;
  }

  /** The container's state as the orchestrator reads it (undefined when there is none). */
  private observe(name: string): Observed | undefined {
    const c = this.core.containers.get(name);
    let st: ContainerState | undefined = c?.view();
    if (!st && NAME_RE.test(name)) {
      const dir = containerDir(this.core.root, this.core.project, name);
      const disk = readState(dir);
      if (disk) st = deriveState(disk, this.core.layout, dir);
    }
    return st && { status: st.status, health: st.health, exitCode: st.exitCode, signal: st.signal, error: st.error };
  }

  /** How the project engine reaches this supervisor's containers: in-process, as the `run`, `stop` and `rm` requests do. */
  private projectHost(onHandoff?: { container: string; send: (h: { plan: LaunchPlan; spec: CanonicalSpec; net?: RunNet }) => void }, createOnly = false): ApplyHost {
    return {
      emit: (e) => this.core.bus.emit(e),
      observe: (name) => this.observe(name),
      onChange: (cb) => {
        const off = this.core.bus.on((e) => { if (e.type === 'status' || e.type === 'health' || e.type === 'exited') cb(); });
        const t = setInterval(cb, 1000);
        return () => { off(); clearInterval(t); };
      },
      launch: async (step, net) => {
        if (onHandoff && step.container === onHandoff.container) { onHandoff.send({ plan: step.plan, spec: step.spec, ...(net ? { net } : {}) }); return; }
        if (createOnly) { this.core.createContainer({ op: 'run', plan: step.plan, spec: step.spec, ...(net ? { net } : {}) }); return; }
        await this.core.runContainer({ op: 'run', plan: step.plan, spec: step.spec, ...(net ? { net } : {}) });
      },
      remove: async (name, stop, recreate) => {
        const c = this.core.containers.get(name);
        if (c && stop && c.isLive()) {
          if (recreate) this.core.bus.emit({ type: 'message', level: 'info', container: name, text: 'configuration changed: recreating', at: Date.now() });
          await c.stop();
        }
        if (!c && !(NAME_RE.test(name) && existsSync(containerDir(this.core.root, this.core.project, name)))) return; // gone already
        await this.core.removeByName(name, true);
      },
    };
  }

  /** Runs stored teardown steps (teardown-store.ts) with this supervisor as the host of their removals; if that fails they are stored again, for the next down. */
  async undo(steps: ProjectStep[]): Promise<void> {
    const [{ undoSteps }, { storeTeardown }] = await Promise.all([import('../project/exec.js'), import('../project/teardown-store.js')]);
    try { await undoSteps(this.core.root, this.core.project, steps, this.projectHost()); } catch (e) {
      storeTeardown(this.core.root, this.core.project, steps);
      throw e;
    }
  }

  /**
   * `apply`: a project's plan carried out here (runtime/project/apply.ts), its events streamed to the
   * client. The operation does not depend on the client: if it goes, the plan still runs to its end
   * (or its rollback), and the project's lock is let go once it has.
   */
  apply(req: Extract<Request, { op: 'apply' }>, s: Socket): void {
    this.core.send(s, { ok: true, stream: true });
    const off = this.core.bus.on((e) => this.core.send(s, { event: e }));
    const lock = req.lockPid ? this.holdLock(req.lockPid) : undefined;
    const release = this.core.hold();
    const host = this.projectHost(req.foreground ? { container: req.foreground, send: (h) => this.core.send(s, { handoff: h }) } : undefined, req.createOnly);
    // removing a container before it is made again undoes its unit by the stored teardown (container.ts
    // detachNetworks takes it out of the store): the plan's teardown of the unit goes back in for the new one
    const remove = host.remove;
    host.remove = async (name, stop, recreate) => {
      await remove(name, stop, recreate);
      if (recreate) (await import('../project/teardown-store.js')).storeTeardown(this.core.root, this.core.project, req.plan.teardown.filter((st) => st.unit === `container:${name}`));
    };
    const abort = new AbortController();
    this.applying.add(abort);
    const done = (async () => {
      const [{ applyPlan }, { storeServices }] = await Promise.all([import('../project/apply.js'), import('../project/service-store.js')]);
      if (this.core.exiting()) throw new UserError('E_SUPERVISOR_EXITING', 'the supervisor is shutting down', [], 'try again');
      if (!req.prepareOnly) storeServices(req.plan);
      // created, not started: nothing waits for a dependency's start or health
      const plan = req.createOnly ? { ...req.plan, services: req.plan.services.map((e) => ({ ...e, dependsOn: [] })) } : req.plan;
      return applyPlan(plan, host, { wait: req.wait && !req.createOnly, timeoutMs: req.timeoutMs, prepareOnly: req.prepareOnly, names: req.names, signal: abort.signal });
    })().finally(() => this.applying.delete(abort));
    void done.then(
      (result) => ({ result }),
      (e) => { this.core.log(`apply: ${(e as Error).message}`); return { result: (e as { result?: { started: string[]; failed: string[] } }).result ?? { started: [], failed: [] }, error: errorBody(e) }; },
    ).then((line) => {
      off();
      lock?.(s.destroyed);
      this.core.send(s, line);
      if (!s.destroyed) s.end(JSON.stringify({ end: true }) + '\n');
    }).finally(release);
  }

  /** Takes over the project's lock from client `pid` while it works; the returned function hands it back (or lets it go when the client is gone). */
  private holdLock(pid: number): (clientGone: boolean) => void {
    const held = handOverLock(this.core.root, this.core.project, pid, process.pid);
    return (gone) => { if (held) handOverLock(this.core.root, this.core.project, process.pid, gone ? undefined : pid); };
  }

  /** `down`: containers in stop order, then the stored teardown; the supervisor exits afterwards. */
  async down(req: Extract<Request, { op: 'down' }>): Promise<Response> {
    const lock = req.lockPid ? this.holdLock(req.lockPid) : undefined;
    try {
      const removed: string[] = [];
      const named = new Set(req.order.flat());
      const levels = [[...new Set([...listNames(this.core.root, this.core.project), ...this.core.containers.keys()])].filter((n) => !named.has(n)), ...req.order];
      for (const level of levels) {
        await Promise.all(level.map(async (n) => {
          const c = this.core.containers.get(n);
          if (!c && !(NAME_RE.test(n) && existsSync(containerDir(this.core.root, this.core.project, n)))) return;
          if (c?.isLive()) await c.stop(req.timeoutMs);
          await this.core.removeByName(n, true);
          removed.push(n);
        }));
      }
      const [{ mergeTeardown, storeTeardown, takeTeardown }, { dropServices }] = await Promise.all([import('../project/teardown-store.js'), import('../project/service-store.js')]);
      const all = mergeTeardown(takeTeardown(this.core.root, this.core.project), req.teardown ?? []).filter((st) => st.op !== 'remove');
      const isVolume = (st: ProjectStep) => st.op === 'rm' && st.unit.startsWith('volume:');
      const steps = all.filter((st) => req.volumes || !isVolume(st));
      dropServices(this.core.root, this.core.project);
      await this.undo(steps);
      // without -v the volumes stay, and so do the steps that remove them: a later `down -v -p NAME` needs no compose file
      if (!req.volumes) storeTeardown(this.core.root, this.core.project, all.filter(isVolume));
      const volumes = req.volumes ? steps.filter((st) => st.op === 'rm' && st.unit.startsWith('volume:')).map((st) => st.unit.slice('volume:'.length)) : [];
      return { ok: true, removed, volumes };
    } finally {
      lock?.(false);
      setImmediate(() => this.core.shutdown());
    }
  }
}
