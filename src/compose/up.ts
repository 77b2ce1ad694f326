// Owns the CLI side of a compose project: load, plan (src/plan/project), preflight, then hand the
// plan to the project's supervisor, which carries it out (runtime/project/apply.ts: volumes, files,
// networks, launches in start order, rollback) and streams its events, which this side renders.
// Also stop, kill and `down` (a supervisor request: containers in stop order, then the stored
// teardown of the applied plans). Containers are named `<service>-1` (or container_name) inside the
// project; service name, alias and `<project>-<service>-1` resolve.
import type { PullEvent } from '../image/types.js';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, rmdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { NiwaError, RuntimeFailure, UserError } from '../errors.js';
import { EventBus } from '../events/types.js';
import type { HostFacts, LaunchPlan } from '../plan/types.js';
import type { CanonicalSpec } from '../spec/types.js';
import { compileProject, containerNameOf, replicaIndex, replicaPortsOf, type CompileProjectOptions, type OneOff } from '../plan/project/compile.js';
import type { ProjectPlan } from '../plan/project/types.js';
import { readProjectFacts } from '../runtime/project/facts.js';
import { lockProject } from '../runtime/project/lock.js';
import { probeHost } from '../validate/host.js';
import { isLive } from '../runtime/status.js';
import { containerDir, listNames, liveSupervisor, pruneProject, readJson, readPlan, readSpec, readState, type ContainerState } from '../runtime/state.js';
import { check, openStream, request, tryRequest, type Target } from '../runtime/supervisor/client.js';
import type { RunNet, StreamLine } from '../runtime/supervisor/protocol.js';
import { removeProjectNetworks, type NetContext } from '../runtime/net/attach.js';
import { netStateDir } from '../runtime/net/names.js';
import { removeResolvConfs } from '../runtime/net/hosts.js';
import { publishPorts, type PortMapping } from '../runtime/net/ports.js';
import type { ComposeLoad, LoadComposeOptions } from './index.js';
import { composeKeyOf } from './to-spec.js';
import { hostCpuFacts } from '../validate/host.js';
import type { Observed } from './orchestrate.js';
import { leastReady } from '../runtime/project/apply.js';

/** A message from the orchestrator (not from a container): shown by every reporter. */
export interface UpMessage { level: 'info' | 'ok' | 'warn' | 'error'; text: string; container?: string }

export interface EngineOptions {
  /** niwa's state root (default $NIWA_STATE_ROOT or /run/niwa). */
  stateRoot?: string;
  /** Told of the orchestrator's own progress. */
  onMessage?: (m: UpMessage) => void;
  /** The events stream also brings a `stats` event per running container this often (the live view). */
  statsMs?: number;
}

export interface StartOverride {
  /** Hand the prepared container to the caller instead of the supervisor (it runs it, then calls done). */
  foreground?: (run: { plan: LaunchPlan; spec: CanonicalSpec; net?: RunNet; done: () => Promise<void> }) => void;
}

export { containerNameOf, withDependencies } from '../plan/project/compile.js';

export class ComposeEngine {
  readonly project: string;
  readonly target: Target;
  readonly host: HostFacts;
  readonly net: NetContext;
  /** Every RuntimeEvent of the project's supervisor, from open() on. */
  readonly bus = new EventBus();
  private states = new Map<string, ContainerState>();
  private listeners = new Set<() => void>();
  private stream?: { close(): void };
  private poll?: NodeJS.Timeout;
  private refreshing?: Promise<void>;
  private refreshAgain = false;
  private byName = new Map<string, string>();
  /** Set when the supervisor's event stream ended without us closing it. */
  private lost?: string;

  constructor(readonly load: ComposeLoad, private opts: EngineOptions = {}) {
    this.project = load.project.name;
    const root = opts.stateRoot ?? process.env.NIWA_STATE_ROOT ?? '/run/niwa';
    this.target = { root, project: this.project };
    this.host = probeHost({ stateRoot: root });
    this.net = { stateRoot: root };
    for (const s of load.services.keys()) this.byName.set(this.name(s), s);
  }

  name(service: string): string { return containerNameOf(this.load, service); }
  /** Every container of a service among `pool` (default: those the supervisor reports), by replica number; at least the first one's name. */
  names(service: string, pool: Iterable<string> = this.states.keys()): string[] {
    const mine = [...pool].map((n) => [n, replicaIndex(this.load, service, n)] as const).filter((r): r is readonly [string, number] => r[1] !== undefined);
    return mine.length ? mine.sort((p, q) => p[1] - q[1]).map(([n]) => n) : [this.name(service)];
  }
  /** The service a container belongs to, any replica (undefined for one-off or foreign containers). */
  serviceOf(container: string): string | undefined {
    return this.byName.get(container) ?? [...this.load.services.keys()].find((s) => replicaIndex(this.load, s, container) !== undefined);
  }

  private say(m: UpMessage): void { this.opts.onMessage?.(m); }

  // --- watching the supervisor ------------------------------------------------------------------

  /** Starts (or finds) the supervisor and follows its events; the view and the waits read them. */
  async open(): Promise<void> {
    if (this.stream) return;
    const stream = await openStream(this.target, { op: 'events', ...(this.opts.statsMs ? { statsMs: this.opts.statsMs } : {}) }, (l) => {
      // an operation's messages and steps come on its own stream (apply)
      if (!('event' in l) || l.event.type === 'message' || l.event.type === 'project-step') return;
      this.bus.emit(l.event);
      if (l.event.type === 'status' || l.event.type === 'health' || l.event.type === 'exited') void this.refresh();
    });
    this.stream = stream;
    void stream.ended.then(() => {
      if (this.stream !== stream) return; // closed by us
      this.lost = `the supervisor of project '${this.project}' went away (see ${join(this.target.root, this.project, '_supervisor.log')})`;
      for (const l of [...this.listeners]) l();
    });
    await this.refresh();
    this.poll = setInterval(() => void this.refresh(), 500);
    this.poll.unref();
  }

  close(): void {
    this.stream?.close();
    this.stream = undefined;
    clearInterval(this.poll);
  }

  /** Reads every container's state from the supervisor (or the disk); coalesces concurrent calls. */
  refresh(): Promise<void> {
    if (this.refreshing) { this.refreshAgain = true; return this.refreshing; }
    this.refreshing = (async () => {
      do {
        this.refreshAgain = false;
        const r = await tryRequest(this.target, { op: 'ps' }).catch(() => undefined);
        let list: ContainerState[];
        if (r?.ok) list = (r as unknown as { containers: ContainerState[] }).containers;
        else list = listNames(this.target.root, this.project).flatMap((n) => readState(containerDir(this.target.root, this.project, n)) ?? []);
        this.states = new Map(list.map((s) => [s.name, s]));
        for (const l of [...this.listeners]) l();
      } while (this.refreshAgain);
    })().finally(() => { this.refreshing = undefined; });
    return this.refreshing;
  }

  state(container: string): ContainerState | undefined { return this.states.get(container); }
  containers(): ContainerState[] { return [...this.states.values()]; }

  /** A service's containers (`containers`, default its first) as one: the least ready of them (a missing one: undefined). */
  observe(service: string, containers: string[] = [this.name(service)]): Observed | undefined {
    if (this.lost) throw new RuntimeFailure('E_SUPERVISOR', this.lost);
    const s = leastReady(containers.map((n) => this.states.get(n)));
    return s && { status: s.status, health: s.health, exitCode: s.exitCode, signal: s.signal, error: s.error };
  }

  onChange(cb: () => void): () => void {
    this.listeners.add(cb);
    return () => { this.listeners.delete(cb); };
  }

  /** Runs `f` holding the project's lock (one operation at a time per project; a second one waits, saying for whom). */
  async locked<T>(verb: string, f: () => Promise<T>): Promise<T> {
    if (this.holding) return f();
    const lock = await lockProject(this.target.root, this.project, verb, { onWait: (text) => this.say({ level: 'warn', text }) });
    this.holding = true;
    try { return await f(); } finally { this.holding = false; lock.release(); }
  }
  private holding = false;

  // --- the plan ---------------------------------------------------------------------------------

  /** The plan of an operation on the host as it is now (after a fresh look at the containers). */
  async planFor(o: Omit<CompileProjectOptions, 'nonce'> & { nonce?: string } = {}): Promise<ProjectPlan> {
    await this.refresh();
    const facts = readProjectFacts(this.load, this.host, this.target.root, this.containers());
    return compileProject(this.load, facts, { ...o, nonce: o.nonce ?? randomBytes(4).toString('hex') });
  }

  /** preflight; when it refuses, the plan's warnings are said first (the real cause is often an unset variable). The supervisor says them otherwise. */
  private async preflightSaying(plan: ProjectPlan): Promise<void> {
    try { await this.preflight(plan); } catch (e) {
      for (const w of plan.warnings) this.say({ level: 'warn', text: w });
      throw e;
    }
  }

  /** Everything that can be checked before starting anything: runnable, healthchecks, free ports, volumes. */
  async preflight(plan: ProjectPlan): Promise<void> {
    const problems: string[] = [];
    const seen = new Map<string, string>();
    const toProbe: [string, PortMapping[]][] = [];
    for (const e of plan.services) {
      const s = e.service;
      const svc = this.load.services.get(s)!;
      if (e.action === 'unrunnable') problems.push(`${s}: cannot start (${e.reason})`);
      for (const d of svc.compose.dependsOn) {
        const dep = this.load.services.get(d.service);
        // (a launch compiled after its image's step may get its healthcheck from that image)
        if (d.condition === 'service_healthy' && dep && !dep.deferred && !dep.canonical?.lifecycle.healthcheck) {
          problems.push(`${s} waits for ${d.service} to be healthy, but ${d.service} has no healthcheck`);
        }
      }
      for (const v of svc.compose.volumes) {
        if (v.external && !existsSync(v.hostPath)) problems.push(`${s}: external volume '${v.fullName}' does not exist (${v.hostPath})`);
      }
      const mine: PortMapping[] = [];
      toProbe.push([s, mine]);
      for (const m of replicaPortsOf(this.load, svc, e.replica ?? 1, plan.services.filter((x) => x.service === s).length)) {
        if (m.hostPort === 0) continue;
        const other = seen.get(`${m.hostPort}/${m.protocol}`);
        if (other && other !== s) problems.push(`${s} and ${other} both publish port ${m.hostPort}/${m.protocol}`);
        seen.set(`${m.hostPort}/${m.protocol}`, s);
        if (e.action !== 'running' && e.action !== 'recreate') mine.push(m);
      }
    }
    if (problems.length) throw new UserError('E_COMPOSE_UP', `cannot start project '${this.project}'`, problems.map((message) => ({ message })));
    // A port someone else holds fails `up` before anything starts (the supervisor checks again at each start).
    for (const [s, ports] of toProbe) {
      if (!ports.length) continue;
      try { await (await publishPorts(ports, '127.0.0.1')).close(); } catch (e) {
        if (e instanceof NiwaError) throw new NiwaError(e.code, `service ${s}: ${e.message}`, { hint: `${e.hint ? e.hint + '; ' : ''}nothing of project '${this.project}' was started`, cause: e, exitCode: e.exitCode });
        throw e;
      }
    }
  }

  /**
   * Hands `plan` to the project's supervisor, which carries it out (runtime/project/apply.ts) while
   * this process renders its events; resolves with the services started. The supervisor holds the
   * project's lock while it works, so a client killed meanwhile does not free the project early.
   * `foreground`: that container's launch step comes back here to be run by the caller.
   */
  private async apply(plan: ProjectPlan, o: { wait?: boolean; timeoutMs?: number; prepareOnly?: boolean; createOnly?: boolean; foreground?: { container: string; run: NonNullable<StartOverride['foreground']> } } = {}): Promise<string[]> {
    let settle!: (r: Extract<StreamLine, { result: unknown }> | undefined) => void;
    const result = new Promise<Extract<StreamLine, { result: unknown }> | undefined>((r) => { settle = r; });
    let handoff: Extract<StreamLine, { handoff: unknown }>['handoff'] | undefined;
    const stream = await openStream(this.target, {
      op: 'apply', plan, ...(o.wait ? { wait: true } : {}), ...(o.timeoutMs !== undefined ? { timeoutMs: o.timeoutMs } : {}),
      ...(o.prepareOnly ? { prepareOnly: true } : {}), ...(o.createOnly ? { createOnly: true } : {}), ...(o.foreground ? { foreground: o.foreground.container } : {}),
      ...(this.holding ? { lockPid: process.pid } : {}),
      names: Object.fromEntries([...this.load.services.keys()].map((s) => [s, this.names(s)])),
    }, (l) => {
      if ('event' in l) {
        // the operation's own word comes here; everything else arrives on the events stream (open())
        if (l.event.type === 'message') this.say({ level: l.event.level, text: l.event.text, ...(l.event.container ? { container: l.event.container } : {}) });
        else if (l.event.type === 'project-step') this.bus.emit(l.event);
      } else if ('handoff' in l) handoff = l.handoff;
      else if ('result' in l) settle(l);
    });
    void stream.ended.then(() => settle(undefined));
    const r = await result;
    stream.close();
    if (!r) throw new RuntimeFailure('E_SUPERVISOR', `the supervisor of project '${this.project}' went away while it carried out the plan`, { hint: `see ${join(this.target.root, this.project, '_supervisor.log')}; niwa compose down removes what remains` });
    await this.refresh();
    if (r.error) {
      const e = new NiwaError(r.error.code, r.error.message, { hint: r.error.hint, exitCode: r.error.exitCode });
      const service = /^([\w.-]+): /.exec(e.message)?.[1];
      throw service && this.load.services.has(service) ? this.inComposeTerms(service, e) : e;
    }
    if (o.foreground && handoff) {
      const units = [`container:${o.foreground.container}`];
      o.foreground.run({ ...handoff, done: async () => { await tryRequest(this.target, { op: 'undo', units }).catch(() => undefined); } });
    }
    return r.result.started;
  }

  /** An error of a container that names a spec field (`spec field process.cwd`) names the compose key instead. */
  private inComposeTerms(service: string, e: unknown): unknown {
    if (!(e instanceof NiwaError)) return e;
    const map = this.load.services.get(service)?.fieldMap ?? [];
    const key = (f: string) => composeKeyOf(map, service, f);
    const message = e.message.replace(/spec field ([\w.[\]-]+)/g, (_, f: string) => `${key(f)} (spec field ${f})`);
    const hint = e.hint?.replace(/check ([a-z_]+(?:\.[\w[\]-]+)+)/g, (all, f: string) => (/^(process|mounts|rootfs|namespaces|cgroup|capabilities|lifecycle|user|hostname)\b/.test(f) ? `check ${key(f)}` : all));
    if (message === e.message && hint === e.hint) return e;
    return new NiwaError(e.code, message, { hint, cause: e, exitCode: e.exitCode });
  }

  // --- the project ------------------------------------------------------------------------------

  /**
   * `up`: the project's plan (images, volumes, files, networks), then every service once its
   * dependencies meet their conditions (in parallel where the graph allows), each by its own
   * steps of the plan. `wait`: also until each is healthy (or running).
   */
    async up(o: { services?: string[]; noDeps?: boolean; wait?: boolean; timeoutMs?: number; forceRecreate?: boolean; scale?: Record<string, number> } = {}): Promise<string[]> {
    return this.locked('compose up', () => this.upUnlocked(o));
  }

  private async upUnlocked(o: { services?: string[]; noDeps?: boolean; wait?: boolean; timeoutMs?: number; forceRecreate?: boolean; scale?: Record<string, number> } = {}): Promise<string[]> {
    const plan = await this.planFor({ services: o.services, noDeps: o.noDeps, forceRecreate: o.forceRecreate, scale: o.scale });
    await this.preflightSaying(plan);
    await this.open();
    return this.apply(plan, { wait: o.wait, timeoutMs: o.timeoutMs });
  }

  /**
   * A one-off container of a service (compose run) by its own plan: detached it goes to the
   * supervisor; with `foreground` the caller runs it in this process.
   */
    async runOneOff(one: OneOff, foreground?: StartOverride['foreground']): Promise<ProjectPlan> {
    return this.locked('compose run', () => this.runOneOffUnlocked(one, foreground));
  }

  private async runOneOffUnlocked(one: OneOff, foreground?: StartOverride['foreground']): Promise<ProjectPlan> {
    // the one-off waits for no dependency: the run started them before (or --no-deps asked for none);
    // left in, the supervisor would wait for a dependency that is not running, for ever
    const planned = await this.planFor({ oneOff: one });
    const plan = { ...planned, services: planned.services.map((e) => ({ ...e, dependsOn: [] })) };
    await this.preflightSaying(plan);
    await this.open();
    const launch = plan.steps.find((s) => s.op === 'launch' && s.service === one.service);
    await this.apply(plan, foreground && launch?.op === 'launch' ? { foreground: { container: launch.container, run: foreground } } : {});
    return plan;
  }

  /**
   * `create`: the plan carried out as `up` does — images, volumes, files, networks, each service's
   * steps — except that each container is only made (status `created`), not started; `start` and
   * `up` then start them by their plan (a created container is made again there, as an ended one is).
   */
  async create(o: { services?: string[]; forceRecreate?: boolean } = {}): Promise<void> {
    return this.locked('compose create', async () => {
      const plan = await this.planFor({ services: o.services, forceRecreate: o.forceRecreate });
      await this.preflightSaying(plan);
      await this.open();
      await this.apply(plan, { createOnly: true });
      const made = plan.services.filter((e) => e.action !== 'running' && e.action !== 'unrunnable').map((e) => e.container);
      this.say({ level: 'ok', text: `project ${this.project}: ${made.length ? `created ${made.join(', ')}` : 'nothing to create'} (niwa compose start starts them)` });
    });
  }

  /**
   * `start`/`restart` with no compose file (-p NAME): the ended containers of `services` (default:
   * every service with a container) made again from the steps the supervisor stored when their plan
   * was applied (runtime/project/service-store.ts), in dependency order; running ones are left alone.
   */
  async startStored(o: { services?: string[]; verb?: string } = {}): Promise<string[]> {
    return this.locked(`compose ${o.verb ?? 'start'}`, async () => {
      await this.refresh();
      const { readServices, startPlan } = await import('../runtime/project/service-store.js');
      const { root } = this.target;
      const records = new Map(this.containers().map((c) => {
        const dir = containerDir(root, this.project, c.name);
        return [c.name, { live: isLive(c.status) && !c.createdOnly, plan: readPlan(dir), spec: readSpec(dir) }] as const;
      }));
      const stored = readServices(root, this.project);
      const wanted = o.services?.length ? o.services : [...this.load.services.keys()].filter((s) => this.names(s).some((n) => records.has(n)));
      if (!wanted.length) throw new UserError('E_NO_CONTAINER', `${o.verb ?? 'start'}: no containers in project '${this.project}'`, [], 'create them with niwa compose up');
      const plan = startPlan(root, this.project, stored, wanted, records);
      await this.open();
      return this.apply(plan, {});
    });
  }

  /** Containers of the project that belong to no service of the file (a service since removed or renamed); one-offs of current services are kept. */
  orphans(): string[] {
    const names = new Set([...this.containers().map((c) => c.name), ...listNames(this.target.root, this.project)]);
    const services = [...this.load.services.keys()];
    return [...names].filter((n) => !this.serviceOf(n) && !services.some((s) => n.startsWith(`${s}-run-`)));
  }

  /** `up --remove-orphans`: stops and removes the orphans. */
  async removeOrphans(): Promise<void> {
    await this.refresh();
    for (const n of this.orphans()) {
      const st = this.states.get(n);
      if (st && isLive(st.status)) check(await request(this.target, { op: 'stop', name: n }, undefined, 600_000));
      check(await request(this.target, { op: 'rm', name: n, force: true }));
      this.say({ level: 'ok', container: n, text: 'orphan removed' });
    }
  }

  /** Containers of the project in stop order: one-off and unknown ones first, then services by reverse dependency level. */
  stopOrder(services?: string[]): string[][] {
    const names = new Set(this.containers().map((c) => c.name));
    for (const n of listNames(this.target.root, this.project)) names.add(n);
    const levels = this.load.plan.stopLevels.map((l) => l.filter((s) => !services || services.includes(s)).flatMap((s) => this.names(s, names)).filter((n) => names.has(n)));
    const known = new Set(levels.flat());
    const others = services ? [] : [...names].filter((n) => !known.has(n) && !this.serviceOf(n));
    return [others, ...levels].filter((l) => l.length);
  }

  /** Cancels what the supervisor is starting for this project (Ctrl-C during up): nothing more starts. */
  async cancel(): Promise<void> {
    await tryRequest(this.target, { op: 'cancel' }).catch(() => undefined);
  }

  /** `stop`: the stop signal, SIGKILL after the grace period; dependents before what they depend on. */
    async stop(o: { services?: string[]; timeoutMs?: number; force?: boolean } = {}): Promise<void> {
    return this.locked('compose stop', () => this.stopUnlocked(o));
  }

  private async stopUnlocked(o: { services?: string[]; timeoutMs?: number; force?: boolean } = {}): Promise<void> {
    await this.refresh();
    for (const level of this.stopOrder(o.services)) {
      await Promise.all(level.map(async (n) => {
        const st = this.states.get(n);
        if (!st || !isLive(st.status) || st.createdOnly) return; // (created by compose create: nothing runs)
        this.say({ level: 'info', container: n, text: o.force ? 'killing' : 'stopping' });
        if (o.force) {
          const r = await tryRequest(this.target, { op: 'kill', name: n, signal: 'SIGKILL' });
          if (r && !r.ok && r.error.code !== 'E_NOT_RUNNING') check(r);
        }
        check(await request(this.target, { op: 'stop', name: n, timeoutMs: o.force ? 0 : o.timeoutMs }, undefined, (o.timeoutMs ?? 600_000) + 60_000));
      }));
    }
    await this.refresh();
  }

  /** `down`: stop and remove every container of the project, its networks, its supervisor; volumes too with `volumes`. */
    async down(o: { timeoutMs?: number; volumes?: boolean } = {}): Promise<void> {
    return this.locked('compose down', () => this.downUnlocked(o));
  }

  private async downUnlocked(o: { timeoutMs?: number; volumes?: boolean } = {}): Promise<void> {
    const { root } = this.target;
    if (existsSync(join(root, this.project))) {
      // the supervisor stops and removes the containers, then runs the teardown that the applied plans stored
      await this.refresh();
      const r = check(await request(this.target, { op: 'down', order: this.stopOrder(), ...(o.volumes ? { volumes: true } : {}), ...(o.timeoutMs !== undefined ? { timeoutMs: o.timeoutMs } : {}), ...(this.holding ? { lockPid: process.pid } : {}) }, undefined, (o.timeoutMs ?? 600_000) + 120_000)) as unknown as { removed: string[]; volumes: string[] };
      for (const n of r.removed) this.say({ level: 'ok', container: n, text: 'removed' });
      for (const v of r.volumes) this.say({ level: 'ok', text: `volume ${v} removed` });
    }
    this.close();
    await this.leftovers(o.volumes === true);
    await this.shutdownSupervisor();
  }

  /**
   * What the compose file names that no stored plan may have made (a project started by an older
   * niwa, or never started): its networks in the lease database, secret and config files, volume
   * mounts, and volumes with -v. Everything here is already gone after a stored teardown.
   */
  private async leftovers(volumes: boolean): Promise<void> {
    const { root } = this.target;
    await removeProjectNetworks(this.net, this.project);
    const hostsDir = join(netStateDir(root), 'hosts', this.project);
    removeResolvConfs(hostsDir);
    for (const d of [join(netStateDir(root), 'ns', this.project), join(netStateDir(root), 'hosts', this.project)]) {
      try { if (!readdirSync(d).length) rmdirSync(d); } catch { /* not there */ }
    }
    for (const svc of this.load.services.values()) {
      for (const f of svc.compose.filesToWrite) {
        rmSync(f.path, { force: true });
        try { rmdirSync(dirname(f.path)); } catch { /* other files, or gone */ }
      }
    }
    // volumes with driver_opts are mounts (a bound host directory, a tmpfs): unmounted first, so
    // that removing the volume never reaches through into the bound directory
    const { realNetHost } = await import('../runtime/net/exec.js');
    const mounted = new Set<string>();
    for (const svc of this.load.services.values()) {
      for (const v of svc.compose.volumes) {
        if (v.anonymous || !this.load.project.volumes[v.name]?.driver_opts || mounted.has(v.hostPath)) continue;
        mounted.add(v.hostPath);
        for (let i = 0; i < 8 && realNetHost.isMounted(v.hostPath); i++) await realNetHost.umount(v.hostPath);
        if (realNetHost.isMounted(v.hostPath)) throw new RuntimeFailure('E_VOLUME_BUSY', `volume ${v.fullName} is still mounted at ${v.hostPath}`, { hint: `umount ${v.hostPath}` });
      }
    }
    if (volumes) {
      for (const svc of this.load.services.values()) {
        for (const v of svc.compose.volumes) {
          if (v.external || !existsSync(v.hostPath)) continue;
          rmSync(v.hostPath, { recursive: true, force: true });
          this.say({ level: 'ok', text: `volume ${v.fullName} removed` });
        }
      }
    }
  }

  /** Asks the supervisor to exit and waits (bounded) until it has; then the project's directory goes. */
  async shutdownSupervisor(): Promise<void> {
    const { root } = this.target;
    if (!liveSupervisor(root, this.project)) { pruneProject(root, this.project); return; }
    await tryRequest(this.target, { op: 'shutdown', leave: true }).catch(() => undefined);
    const end = Date.now() + 5000;
    while (liveSupervisor(root, this.project) && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    pruneProject(root, this.project);
  }

  /** `kill -s SIG`: every live container (or those of `services`). */
  async kill(signal: string, services?: string[]): Promise<void> {
    await this.refresh();
    const errors: NiwaError[] = [];
    for (const n of this.stopOrder(services).flat()) {
      const st = this.states.get(n);
      if (!st || st.status !== 'running') continue;
      try { check(await request(this.target, { op: 'kill', name: n, signal })); } catch (e) { errors.push(e as NiwaError); }
    }
    if (errors.length) throw errors[0];
  }

  /** Published ports of a container, from its net.json. */
  portsOfContainer(name: string): PortMapping[] {
    return readJson<RunNet>(join(containerDir(this.target.root, this.project, name), 'net.json'))?.ports ?? [];
  }
}

/** Loads the project for a verb that acts on it. */
export async function loadProject(opts: LoadComposeOptions & { canonical?: boolean; onPull?: (e: PullEvent) => void }): Promise<ComposeLoad> {
  const { loadCompose } = await import('./index.js');
  const host = probeHost();
  const controllers = [...host.cgroup.v2Controllers, ...Object.keys(host.cgroup.v1)];
  // Canonical specs are compiled and run: their images are read from the store, pulled when missing
  // (as pull_policy says), all services' at once, one pull per image however many services use it.
  const image = opts.canonical === false ? undefined : (await import('../image/resolve.js')).sharedResolver({ root: host.dataRoot, onEvent: opts.onPull });
  return loadCompose({ build: 'missing', ...opts, skipCanonical: opts.canonical === false, load: { hostCgroupControllers: controllers, ...hostCpuFacts(), ...(image ? { image } : {}), ...opts.load } });
}
