// The engine that executes a ProjectPlan: every step in the plan's order — images, directories,
// files, leases, bridges, veths, addresses, routes, hosts and resolv.conf files, published ports and
// launches (handed to the project's supervisor through ProjectHost) — and nothing that is not in it.
// Each step belongs to a unit (a network, a container, a volume, a file); a failure runs the
// plan's teardown steps of the units it touched, in teardown order, so nothing half-made remains.
// It emits typed events and never prints.
import { chmodSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { NiwaError, RuntimeFailure } from '../../errors.js';
import type { RuntimeEvent } from '../../events/types.js';
import type { ProjectPlan, ProjectStep } from '../../plan/project/types.js';
import type { LaunchPlan, StepDraft } from '../../plan/types.js';
import type { CanonicalSpec } from '../../spec/types.js';
import { buildStep, compileDeferred, pullStep } from './images.js';
import { describeProjectStep } from '../../plan/project/format.js';
import { isNetStep, NetStepError, realNetHost, runNetSteps, type NetHost } from '../net/exec.js';
import { leasesPath } from '../net/names.js';
import { networkKey, releaseAddress, releaseNetwork, reserveAddress, reserveNetwork, withLeases } from '../net/ipam.js';
import { writeInPlace } from '../net/hosts.js';
import { refreshHosts } from '../net/attach.js';
import type { RunNet } from '../supervisor/protocol.js';

/** A launch step with its launch plan (compiled at load, or by the engine after its image's step). */
type Launch = Extract<ProjectStep, { op: 'launch' }> & { plan: LaunchPlan; spec: CanonicalSpec };

/** What the engine needs from the world beyond files: the network programs and the supervisor. */
export interface ProjectHost {
  net?: NetHost;
  /** Run the container (the project's supervisor publishes `net.ports` first). */
  launch(step: Launch, net: RunNet | undefined): Promise<void>;
  /** Stop (when `stop`) and remove a container; gone already is fine. `recreate`: it is made again from a new configuration. */
  remove(container: string, stop: boolean, recreate: boolean): Promise<void>;
  emit?: (e: RuntimeEvent) => void;
  /** Told of each step just before it runs (a throw fails that step: how tests inject failures). */
  beforeStep?: (s: ProjectStep) => void;
}


/** An error of a step, with the compose key that produced it. */
function stepError(s: ProjectStep, e: unknown): NiwaError {
  const detail = e instanceof NetStepError ? e.detail : (e as Error)?.message ?? String(e);
  if (e instanceof NiwaError && !(e instanceof NetStepError)) return e;
  const code = /File exists/i.test(detail) ? 'E_NET_EXISTS' : /Address already in use/i.test(detail) ? 'E_ADDRESS_IN_USE' : s.op === 'ip' || s.op === 'netns' ? 'E_NET_STEP' : 'E_PROJECT_STEP';
  const hint = code === 'E_NET_EXISTS'
    ? 'a leftover of an earlier run, or another operation on this project at the same time: run niwa compose down, then up again'
    : `the step came from ${s.field}; niwa compose plan shows every step`;
  return new RuntimeFailure(code, `${s.service ? `service ${s.service}: ` : ''}step ${s.index} (${describeProjectStep(s)}) failed: ${detail}`, { hint, cause: e, field: s.field });
}

export class ProjectRun {
  /** Units touched so far, in order. */
  readonly touched: string[] = [];
  private ports = new Map<string, { address: string; ports: RunNet['ports'] }>();
  private readonly net: NetHost;
  private readonly leases: string;

  constructor(readonly plan: ProjectPlan, private host: ProjectHost) {
    this.net = host.net ?? realNetHost;
    this.leases = leasesPath(plan.stateRoot);
  }

  private touch(unit: string): void { if (!this.touched.includes(unit)) this.touched.push(unit); }

  /** The steps before any service: images, volumes and files, networks. */
  prepare(): Promise<void> { return this.run(this.plan.steps.filter((s) => s.stage !== 'service')); }

  /** One service's steps (its network, files and launch); on failure, its own units are rolled back. */
  async startService(service: string): Promise<void> {
    const steps = this.plan.steps.filter((s) => s.stage === 'service' && s.service === service);
    const mine = new Set<string>();
    try {
      await this.run(steps, mine);
    } catch (e) {
      // services start in parallel: undo only the units this service made that no other service shares
      const shared = new Set(this.plan.steps.filter((s) => s.service !== service).map((s) => s.unit));
      const own = [...mine].filter((u) => !shared.has(u));
      await this.undo(own, e);
      for (const u of own) this.touched.splice(this.touched.indexOf(u), 1);
      throw e;
    }
  }

  /** Runs the plan's teardown steps of every unit touched (all of the plan's with `all`). */
  rollback(all = false): Promise<void> {
    return this.undo(all ? undefined : [...this.touched], undefined);
  }

  /** The teardown steps of `units` (every unit when undefined), in teardown order; errors are collected, not thrown unless no cause. */
  private async undo(units: string[] | undefined, cause: unknown): Promise<void> {
    const want = units && new Set(units);
    const steps = this.plan.teardown.filter((s) => !want || want.has(s.unit));
    const failures: string[] = [];
    for (const s of steps) {
      try { await this.exec(s, []); } catch (e) { failures.push(stepError(s, e).message); }
    }
    if (!failures.length) return;
    if (cause instanceof Error) { cause.message += ` (and undoing it failed too: ${failures.join('; ')})`; return; }
    throw new RuntimeFailure('E_ROLLBACK', `undoing project '${this.plan.project}' left something behind: ${failures.join('; ')}`, { hint: 'niwa compose down removes what remains' });
  }

  private async run(steps: ProjectStep[], units?: Set<string>): Promise<void> {
    let i = 0;
    while (i < steps.length) {
      // consecutive network steps run together (runNetSteps batches `ip` commands per namespace)
      const group: ProjectStep[] = [steps[i]];
      if (isNetStep(steps[i] as unknown as StepDraft)) while (i + group.length < steps.length && isNetStep(steps[i + group.length] as unknown as StepDraft)) group.push(steps[i + group.length]);
      // and the replicas a scale-down removes stop together (each waits out its own grace period)
      const scaledDown = (x: ProjectStep | undefined) => x?.op === 'remove' && x.scaledDown === true;
      if (scaledDown(steps[i])) while (scaledDown(steps[i + group.length])) group.push(steps[i + group.length]);
      for (const s of group) { this.touch(s.unit); units?.add(s.unit); }
      await this.exec(steps[i], group);
      i += group.length;
    }
  }

  private emit(s: ProjectStep, ok: boolean, error?: string): void {
    this.host.emit?.({ type: 'project-step', project: this.plan.project, index: s.index, stage: s.stage, op: s.op, ...(s.service ? { service: s.service } : {}), ok, ...(error ? { error } : {}) });
  }

  /** Executes one step (or a group of network steps starting with it). */
  private async exec(s: ProjectStep, group: ProjectStep[]): Promise<void> {
    try {
      if (s.stage !== 'teardown') for (const g of group.length ? group : [s]) this.host.beforeStep?.(g);
      await this.act(s, group.length ? group : [s]);
      if (s.stage !== 'teardown') for (const g of group.length ? group : [s]) this.emit(g, true);
    } catch (e) {
      const failed = e instanceof NetStepError ? (group.find((g) => (g as unknown) === e.step) ?? s) : s;
      const err = stepError(failed, e);
      if (s.stage !== 'teardown') this.emit(failed, false, err.message);
      throw err;
    }
  }

  private async act(s: ProjectStep, group: ProjectStep[]): Promise<void> {
    switch (s.op) {
      case 'ip': case 'netns':
        return runNetSteps(group as unknown as StepDraft[], this.net);
      case 'image': {
        // every image of the plan is pulled at once (from its first image step on); each step waits for its own
        this.pulls ??= new Map(this.plan.steps.filter((x) => x.op === 'image').map((x) => {
          const p = pullStep(x as Extract<ProjectStep, { op: 'image' }>, this.emitEvent);
          p.catch(() => {}); // awaited by its own step
          return [x.index, p];
        }));
        try { await this.pulls.get(s.index); } catch (e) {
          await Promise.allSettled(this.pulls.values()); // no pull left running behind a failed start
          throw e;
        }
        return this.compileAfter(s.index);
      }
      case 'build':
        await buildStep(s, this.emitEvent);
        return this.compileAfter(s.index);
      case 'mkdir':
        mkdirSync(s.path, { recursive: true, mode: s.mode });
        chmodSync(s.path, s.mode);
        return;
      case 'mount': {
        const args = s.fstype ? ['-t', s.fstype, ...(s.options ? ['-o', s.options] : []), s.source, s.target] : ['--bind', s.source, s.target];
        if (this.net.isMounted(s.target)) return;
        const r = await this.net.run('mount', args);
        if (r.code !== 0) throw new Error(r.stderr.trim() || `mount exited ${r.code}`);
        return;
      }
      case 'umount':
        if (this.net.isMounted(s.target)) await this.net.umount(s.target);
        return;
      case 'file':
        if (s.inPlace) return writeInPlace(s.path, s.content);
        mkdirSync(dirname(s.path), { recursive: true, mode: 0o755 });
        writeFileSync(s.path, s.content, { mode: s.mode });
        chmodSync(s.path, s.mode); // (writeFileSync's mode applies only to a new file)
        return;
      case 'rm':
        rmSync(s.path, { force: true, recursive: Boolean(s.recursive) });
        return;
      case 'lease': return this.lease(s);
      case 'release':
        await withLeases(this.leases, (db) => ({ db: s.container ? releaseAddress(db, networkKey(this.plan.project, s.network), s.container) : releaseNetwork(db, networkKey(this.plan.project, s.network)), result: undefined }));
        return;
      case 'hosts':
        return refreshHosts({ stateRoot: this.plan.stateRoot, host: this.net }, s.project);
      case 'publish':
        this.ports.set(s.container, { address: s.address, ports: s.ports });
        return;
      case 'launch': {
        const compiled = s.plan && s.spec ? { plan: s.plan, spec: s.spec } : this.compiled.get(s.container) ?? (s.deferred ? await this.compileLaunch(s) : undefined);
        if (!compiled) throw new RuntimeFailure('E_PROJECT_STEP', `${s.container} has no launch plan`);
        const p = this.ports.get(s.container);
        const address = p?.address ?? this.plan.services.find((e) => e.container === s.container)?.addresses[s.networks[0]];
        const net: RunNet | undefined = s.networks.length || p ? { stateRoot: this.plan.stateRoot, project: this.plan.project, networks: s.networks, ...(address ? { address } : {}), ...(p?.ports?.length ? { ports: p.ports } : {}) } : undefined;
        return this.host.launch({ ...s, ...compiled }, net);
      }
      case 'remove':
        if (s.scaledDown) { await Promise.all(group.map((g) => g.op === 'remove' && this.host.remove(g.container, g.stop, false))); return; }
        return this.host.remove(s.container, s.stop, s.stage === 'service');
    }
  }

  private readonly emitEvent = (e: RuntimeEvent): void => { try { this.host.emit?.(e); } catch { /* a reporter's bug must not break the step */ } };

  /** The pulls of the plan's image steps, by step index, once the first image step ran. */
  private pulls?: Map<number, Promise<void>>;

  /** Launch plans compiled by the engine (deferred until their image's step ran), by container. */
  private compiled = new Map<string, { plan: LaunchPlan; spec: CanonicalSpec }>();

  /** Right after the step that makes an image: the launch plans that waited for it (a bad USER fails here, before any service starts). */
  private async compileAfter(index: number): Promise<void> {
    for (const l of this.plan.steps) if (l.op === 'launch' && l.deferred?.after === index && !this.compiled.has(l.container)) await this.compileLaunch(l);
  }

  private async compileLaunch(l: Extract<ProjectStep, { op: 'launch' }>): Promise<{ plan: LaunchPlan; spec: CanonicalSpec }> {
    const c = await compileDeferred(l.service, l.deferred!);
    this.compiled.set(l.container, c);
    this.host.emit?.({ type: 'plan', container: l.container, steps: c.plan.steps.length, warnings: c.plan.warnings ?? [] });
    return c;
  }

  /** Records what the plan decided; refuses when the lease database changed so that it no longer fits. */
  private async lease(s: Extract<ProjectStep, { op: 'lease' }>): Promise<void> {
    const key = networkKey(this.plan.project, s.network);
    const stale = (why: string) => new RuntimeFailure('E_PLAN_STALE', `the plan of project '${this.plan.project}' no longer fits the host: ${why}`, { hint: 'another niwa took it since the plan was made: run the command again' });
    await withLeases(this.leases, (db) => {
      if (!s.container) {
        const r = reserveNetwork(db, { project: this.plan.project, network: s.network, bridge: s.bridge, subnet: s.subnet, routes: [] });
        if (r.net.subnet !== s.subnet) throw stale(`network ${s.network} has subnet ${r.net.subnet}, not ${s.subnet}`);
        return { db: r.db, result: undefined };
      }
      if (!db.networks[key]) throw stale(`network ${s.network} is not in the lease database`);
      let r: ReturnType<typeof reserveAddress>;
      try {
        r = reserveAddress(db, key, s.container, { address: s.address, aliases: s.aliases ?? [], ifname: s.ifname!, veth: s.veth!, netns: s.netns!, ...(s.hostname ? { hostname: s.hostname } : {}), ...(s.extraHosts ? { extraHosts: s.extraHosts } : {}), ...(s.links ? { links: s.links } : {}) });
      } catch (e) { throw stale((e as Error).message); }
      return { db: r.db, result: undefined };
    });
  }
}
