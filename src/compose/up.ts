// Owns running a loaded compose project on this host: named-volume directories, one bridge per
// project network, each container attached to its networks (veth, address, routes, generated
// /etc/hosts) and handed to the project's supervisor with its published ports; stop, kill and
// `down` (containers, networks, the supervisor, and volumes with -v). The order of starts is
// orchestrate.ts's; this file is the Backend it drives. Containers are named `<service>-1` (or
// container_name) inside the project; service name, alias and `<project>-<service>-1` resolve.
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
import { ProjectRun, type ProjectHost } from '../runtime/project/exec.js';
import { readProjectFacts } from '../runtime/project/facts.js';
import { lockProject } from '../runtime/project/lock.js';
import { probeHost } from '../validate/host.js';
import { isLive } from '../runtime/status.js';
import { containerDir, listNames, liveSupervisor, pruneProject, readJson, readState, type ContainerState } from '../runtime/state.js';
import { check, openStream, request, tryRequest, type Target } from '../runtime/supervisor/client.js';
import type { RunNet } from '../runtime/supervisor/protocol.js';
import { detachContainer, removeProjectNetworks, type NetContext } from '../runtime/net/attach.js';
import { netStateDir } from '../runtime/net/names.js';
import { removeResolvConfs } from '../runtime/net/hosts.js';
import { publishPorts, type PortMapping } from '../runtime/net/ports.js';
import type { ComposeLoad, LoadComposeOptions } from './index.js';
import { composeKeyOf } from './to-spec.js';
import { hostCpuFacts } from '../validate/host.js';
import { readiness, startError, startServices, waitUntil, type Backend, type Observed } from './orchestrate.js';

/** A message from the orchestrator (not from a container): shown by every reporter. */
export interface UpMessage { level: 'info' | 'ok' | 'warn' | 'error'; text: string; container?: string }

export interface EngineOptions {
  /** niwa's state root (default $NIWA_STATE_ROOT or /run/niwa). */
  stateRoot?: string;
  /** Told of the orchestrator's own progress. */
  onMessage?: (m: UpMessage) => void;
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
    const stream = await openStream(this.target, { op: 'events' }, (l) => {
      if (!('event' in l)) return;
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
    const seen = containers.map((n) => this.states.get(n));
    if (!seen.length || seen.some((s) => !s)) return undefined;
    const rank = (s: ContainerState) => (isLive(s.status)
      ? (s.health === 'unhealthy' ? 0 : s.status === 'created' || s.health === 'starting' ? 1 : 2)
      : (s.status === 'exited' && s.exitCode === 0 ? 3 : 0));
    const s = (seen as ContainerState[]).reduce((p, q) => (rank(q) < rank(p) ? q : p));
    return { status: s.status, health: s.health, exitCode: s.exitCode, signal: s.signal, error: s.error };
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

  /** How the engine reaches the supervisor (or, for an attached one-off, this process). */
  private projectHost(foreground?: StartOverride['foreground']): ProjectHost {
    return {
      emit: (e) => this.bus.emit(e),
      launch: async (step, net) => {
        if (foreground) {
          // A one-off in this process (compose run, attached): the caller runs it and calls done().
          const done = async () => { for (const n of step.networks) await detachContainer(this.net, this.project, n, step.container).catch(() => {}); };
          foreground({ plan: step.plan, spec: step.spec, net, done });
          return;
        }
        try {
          check(await request(this.target, { op: 'run', plan: step.plan, spec: step.spec, ...(net ? { net } : {}) }));
        } catch (e) {
          // a retried request that the supervisor had already carried out: that container is ours (same id)
          const mine = e instanceof NiwaError && e.code === 'E_NAME_IN_USE' && readState(containerDir(this.target.root, this.project, step.container))?.id === step.plan.id;
          if (!mine) throw this.inComposeTerms(step.service, e);
        }
        await this.refresh();
      },
      remove: async (name, stop, recreate) => {
        const st = this.states.get(name);
        if (stop && st && isLive(st.status)) {
          if (recreate) this.say({ level: 'info', container: name, text: 'configuration changed: recreating' });
          const r = await tryRequest(this.target, { op: 'stop', name }, undefined, (this.load.services.get(this.serviceOf(name) ?? '')?.canonical?.lifecycle.stopTimeoutMs ?? 10_000) + 60_000);
          if (r && !r.ok && r.error.code !== 'E_NO_CONTAINER' && r.error.code !== 'E_NOT_RUNNING') check(r);
        }
        const r = await tryRequest(this.target, { op: 'rm', name, force: true });
        if (r && !r.ok && r.error.code !== 'E_NO_CONTAINER') check(r);
      },
    };
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
    for (const w of plan.warnings) this.say({ level: 'warn', text: w });
    await this.preflight(plan);
    const run = new ProjectRun(plan, this.projectHost());
    try { await run.prepare(); } catch (e) { await run.rollback(); throw e; }
    for (const e of plan.services) if (e.action === 'running') this.say({ level: 'info', container: e.container, text: 'already running' });
    const created = plan.steps.filter((s) => s.stage === 'networks' && s.op === 'lease' && !s.container);
    for (const s of created) if (s.op === 'lease') this.say({ level: 'ok', text: `network ${s.network} created (${s.bridge}, ${s.subnet})` });
    await this.open();
    // a service is its replicas: started by its steps (those that run, or scaled down, have some), observed together
    const services = [...new Set(plan.services.map((e) => e.service))];
    const containersOf = (s: string) => { const l = plan.services.filter((e) => e.service === s).map((e) => e.container); return l.length ? l : this.names(s); }; // (a dependency outside the plan: its containers as they are)
    const backend: Backend = {
      observe: (s) => this.observe(s, containersOf(s)),
      onChange: (cb) => this.onChange(cb),
      start: async (s) => { if (plan.steps.some((p) => p.stage === 'service' && p.service === s)) await run.startService(s); },
    };
    const outcome = await startServices(backend, {
      order: services, deps: Object.fromEntries(plan.services.map((e) => [e.service, e.dependsOn])), timeoutMs: o.timeoutMs,
      onMessage: (m) => this.say({ level: m.level, container: this.name(m.service), text: m.text }),
    });
    const err = startError(outcome);
    if (err) {
      const running = outcome.started.flatMap(containersOf);
      const failed = [...outcome.failed.keys()].flatMap(containersOf);
      throw new NiwaError(err.code, err.message, { hint: [err.hint, `running: ${running.join(', ') || 'none'}; failed or not started: ${failed.join(', ')}`].filter(Boolean).join('; '), cause: err.cause, exitCode: err.exitCode });
    }
    if (o.wait) {
      await Promise.all(outcome.started.map((s) => waitUntil(backend, () => readiness(backend.observe(s)), `${s} is not ready`, o.timeoutMs ?? 600_000)));
    }
    return outcome.started;
  }

  /**
   * A one-off container of a service (compose run) by its own plan: detached it goes to the
   * supervisor; with `foreground` the caller runs it in this process.
   */
    async runOneOff(one: OneOff, foreground?: StartOverride['foreground']): Promise<ProjectPlan> {
    return this.locked('compose run', () => this.runOneOffUnlocked(one, foreground));
  }

  private async runOneOffUnlocked(one: OneOff, foreground?: StartOverride['foreground']): Promise<ProjectPlan> {
    const plan = await this.planFor({ oneOff: one });
    for (const w of plan.warnings) this.say({ level: 'warn', text: w });
    await this.preflight({ ...plan, services: plan.services.map((e) => ({ ...e, dependsOn: [] })) });
    await this.open();
    const run = new ProjectRun(plan, this.projectHost(foreground));
    try {
      await run.prepare();
      await run.startService(one.service);
    } catch (e) { await run.rollback(); throw e; }
    return plan;
  }

  /** `create`: the plan's images, volumes, files and networks; the containers are made when they start. */
  async create(o: { services?: string[]; forceRecreate?: boolean } = {}): Promise<void> {
    return this.locked('compose create', async () => {
      const plan = await this.planFor({ services: o.services, forceRecreate: o.forceRecreate });
      for (const w of plan.warnings) this.say({ level: 'warn', text: w });
      const run = new ProjectRun(plan, this.projectHost());
      try { await run.prepare(); } catch (e) { await run.rollback(); throw e; }
      this.say({ level: 'ok', text: `project ${this.project}: ${plan.steps.filter((s) => s.stage !== 'service').length} steps done; the containers are made when they start (niwa compose up / start)` });
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

  /** Emits a `stats` event per running container every `ms` (the reporters render them like any event). */
  pollStats(ms: number): { stop(): void } {
    let busy = false;
    const t = setInterval(() => {
      if (busy) return;
      busy = true;
      void import('../runtime/cgroup/stats.js').then(({ readCgroupStats }) => {
        const at = Date.now();
        for (const c of this.containers()) {
          if (c.status !== 'running') continue;
          try { this.bus.emit({ type: 'stats', container: c.name, stats: readCgroupStats(c.cgroups, this.host.cgroup), at }); } catch { /* it just ended */ }
        }
      }).finally(() => { busy = false; });
    }, ms);
    t.unref();
    return { stop: () => clearInterval(t) };
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

  /** `stop`: the stop signal, SIGKILL after the grace period; dependents before what they depend on. */
    async stop(o: { services?: string[]; timeoutMs?: number; force?: boolean } = {}): Promise<void> {
    return this.locked('compose stop', () => this.stopUnlocked(o));
  }

  private async stopUnlocked(o: { services?: string[]; timeoutMs?: number; force?: boolean } = {}): Promise<void> {
    await this.refresh();
    for (const level of this.stopOrder(o.services)) {
      await Promise.all(level.map(async (n) => {
        const st = this.states.get(n);
        if (!st || !isLive(st.status)) return;
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
    const hadState = existsSync(join(root, this.project)) && listNames(root, this.project).length > 0;
    if (hadState) {
      await this.refresh();
      for (const level of this.stopOrder()) {
        await Promise.all(level.map(async (n) => {
          const st = this.states.get(n) ?? readState(containerDir(root, this.project, n));
          if (st && isLive(st.status)) check(await request(this.target, { op: 'stop', name: n, timeoutMs: o.timeoutMs }, undefined, (o.timeoutMs ?? 600_000) + 60_000));
          const r = await request(this.target, { op: 'rm', name: n, force: true });
          if (!r.ok && r.error.code === 'E_NO_CONTAINER') return; // removed meanwhile (a failed start's record): already gone
          check(r);
          this.say({ level: 'ok', container: n, text: 'removed' });
        }));
      }
    }
    this.close();
    await removeProjectNetworks(this.net, this.project);
    const hostsDir = join(netStateDir(root), 'hosts', this.project);
    removeResolvConfs(hostsDir);
    for (const d of [join(netStateDir(root), 'ns', this.project), join(netStateDir(root), 'hosts', this.project)]) {
      try { if (!readdirSync(d).length) rmdirSync(d); } catch { /* not there */ }
    }
    // secrets and configs written from values: derived data, gone with the project
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
    if (o.volumes) {
      for (const svc of this.load.services.values()) {
        for (const v of svc.compose.volumes) {
          if (v.external || !existsSync(v.hostPath)) continue;
          rmSync(v.hostPath, { recursive: true, force: true });
          this.say({ level: 'ok', text: `volume ${v.fullName} removed` });
        }
      }
    }
    await this.shutdownSupervisor();
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
