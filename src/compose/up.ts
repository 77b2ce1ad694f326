// Owns running a loaded compose project on this host: named-volume directories, one bridge per
// project network, each container attached to its networks (veth, address, routes, generated
// /etc/hosts) and handed to the project's supervisor with its published ports; stop, kill and
// `down` (containers, networks, the supervisor, and volumes with -v). The order of starts is
// orchestrate.ts's; this file is the Backend it drives. Containers are named `<service>-1` (or
// container_name) inside the project; service name, alias and `<project>-<service>-1` resolve.
import type { PullEvent } from '../image/types.js';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readdirSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { NiwaError, RuntimeFailure, UserError } from '../errors.js';
import { EventBus } from '../events/types.js';
import type { HostFacts, LaunchPlan } from '../plan/types.js';
import type { CanonicalMount, CanonicalSpec } from '../spec/types.js';
import { compile } from '../plan/compile.js';
import { probeHost } from '../validate/host.js';
import { isLive } from '../runtime/status.js';
import { containerDir, listNames, liveSupervisor, pruneProject, readJson, readSpec, readState, type ContainerState } from '../runtime/state.js';
import { check, openStream, request, tryRequest, type Target } from '../runtime/supervisor/client.js';
import type { RunNet } from '../runtime/supervisor/protocol.js';
import { attachContainer, createNetwork, detachContainer, removeProjectNetworks, type NetContext } from '../runtime/net/attach.js';
import { hostsPath, netnsPath, netStateDir } from '../runtime/net/names.js';
import { removeResolvConfs, writeResolvConf } from '../runtime/net/hosts.js';
import { parsePort, publishPorts, type PortMapping } from '../runtime/net/ports.js';
import type { ComposeLoad, LoadComposeOptions, LoadedService } from './index.js';
import { hostCpuFacts } from '../validate/host.js';
import { readiness, startError, startServices, waitUntil, type Backend, type Dependency, type Observed } from './orchestrate.js';

/** A message from the orchestrator (not from a container): shown by every reporter. */
export interface UpMessage { level: 'info' | 'ok' | 'warn' | 'error'; text: string; container?: string }

export interface EngineOptions {
  /** niwa's state root (default $NIWA_STATE_ROOT or /run/niwa). */
  stateRoot?: string;
  /** Told of the orchestrator's own progress. */
  onMessage?: (m: UpMessage) => void;
}

/** The niwa container name of a service: `<service>-1`, or its container_name. */
export function containerNameOf(load: ComposeLoad, service: string): string {
  const x = load.services.get(service)?.compose;
  const dflt = `${load.project.name}-${service}-1`;
  return x && x.containerName !== dflt ? x.containerName : `${service}-1`;
}

/** Every service with its dependencies (transitively), in start order: `up web` also starts what web needs. */
export function withDependencies(load: ComposeLoad, services: string[]): string[] {
  const want = new Set<string>();
  const add = (s: string) => {
    if (want.has(s)) return;
    const svc = load.services.get(s);
    if (!svc) throw new UserError('E_NO_SERVICE', `no such service: ${s}`, [], `services: ${[...load.services.keys()].join(', ')}`);
    want.add(s);
    for (const d of svc.compose.dependsOn) if (load.services.has(d.service)) add(d.service);
    for (const l of svc.compose.links) add(l.service);
    if (svc.compose.networkMode.kind === 'service') add(svc.compose.networkMode.service);
  };
  services.forEach(add);
  return load.plan.order.filter((s) => want.has(s));
}

const hostsMount = (source: string): CanonicalMount => ({
  type: 'bind', source, target: '/etc/hosts', readonly: true, recursive: false, options: [], field: 'networks', sourceKind: 'file',
});

/** The container's /etc/resolv.conf (written by runtime/net: see writeResolvConf), bound read-only. */
function resolvMount(hostsFile: string, container: string, x: { dns: string[]; dnsSearch: string[] }): CanonicalMount {
  const file = writeResolvConf(dirname(hostsFile), container, x);
  return { type: 'bind', source: file, target: '/etc/resolv.conf', readonly: true, recursive: false, options: [], field: 'networks', sourceKind: 'file' };
}

export interface StartOverride {
  name?: string;
  args?: string[];
  env?: Record<string, string>;
  ports?: boolean;
  restart?: 'no';
  tty?: boolean;
  /** Hand the prepared container to the caller instead of the supervisor (it runs it, then calls done). */
  foreground?: (run: { plan: LaunchPlan; spec: CanonicalSpec; net?: RunNet; done: () => Promise<void> }) => void;
}

/** Annotation holding the hash of the configuration a compose container was created from. */
const CONFIG_HASH = 'niwa.compose.config-hash';
function configHash(svc: LoadedService): string {
  const { positions: _p, file: _f, ...spec } = svc.canonical!;
  const { service: _s, ...compose } = svc.compose;
  return createHash('sha256').update(JSON.stringify({ spec, compose })).digest('hex').slice(0, 16);
}

export class ComposeEngine implements Backend {
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
  /** The service a container belongs to (undefined for one-off or foreign containers). */
  serviceOf(container: string): string | undefined { return this.byName.get(container); }

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

  observe(service: string): Observed | undefined {
    if (this.lost) throw new RuntimeFailure('E_SUPERVISOR', this.lost);
    const s = this.states.get(this.name(service));
    return s && { status: s.status, health: s.health, exitCode: s.exitCode, signal: s.signal, error: s.error };
  }

  onChange(cb: () => void): () => void {
    this.listeners.add(cb);
    return () => { this.listeners.delete(cb); };
  }

  // --- before anything starts -------------------------------------------------------------------

  /** Everything that can be checked before starting anything: runnable, healthchecks, free ports, volumes. */
  async preflight(services: string[]): Promise<void> {
    const problems: string[] = [];
    const seen = new Map<string, string>();
    const toProbe: [string, PortMapping[]][] = [];
    for (const s of services) {
      const svc = this.load.services.get(s)!;
      if (!svc.canonical) problems.push(`${s}: cannot start (no command to run)`);
      for (const d of svc.compose.dependsOn) {
        const dep = this.load.services.get(d.service);
        if (d.condition === 'service_healthy' && dep && !dep.canonical?.lifecycle.healthcheck) {
          problems.push(`${s} waits for ${d.service} to be healthy, but ${d.service} has no healthcheck`);
        }
      }
      for (const v of svc.compose.volumes) {
        if (v.external && !existsSync(v.hostPath)) problems.push(`${s}: external volume '${v.fullName}' does not exist (${v.hostPath})`);
      }
      const live = this.states.get(this.name(s));
      const mine: PortMapping[] = [];
      toProbe.push([s, mine]);
      for (const m of this.portsOf(svc)) {
        if (m.hostPort === 0) continue;
        const other = seen.get(`${m.hostPort}/${m.protocol}`);
        if (other && other !== s) problems.push(`${s} and ${other} both publish port ${m.hostPort}/${m.protocol}`);
        seen.set(`${m.hostPort}/${m.protocol}`, s);
        if (!(live && isLive(live.status))) mine.push(m);
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

  portsOf(svc: LoadedService): PortMapping[] {
    if (svc.compose.networkMode.kind !== 'bridge') return [];
    return svc.compose.ports.flatMap((p) => parsePort({ target: p.target, ...(p.published !== undefined ? { published: p.published } : {}), ...(p.hostIp ? { host_ip: p.hostIp } : {}), protocol: p.protocol }));
  }

  /** Volume directories and the project networks the services use. */
  async prepare(services: string[]): Promise<void> {
    const nets = new Map<string, string | undefined>();
    for (const s of services) {
      const x = this.load.services.get(s)!.compose;
      for (const v of x.volumes) if (!v.external) mkdirSync(v.hostPath, { recursive: true, mode: 0o755 });
      for (const d of x.bindDirsToCreate) mkdirSync(d, { recursive: true, mode: 0o755 });
      for (const f of x.filesToWrite) { // secrets/configs given by value: readable by root only on the host
        mkdirSync(dirname(f.path), { recursive: true, mode: 0o700 });
        writeFileSync(f.path, f.content, { mode: 0o600 });
        chmodSync(dirname(f.path), 0o700);
        chmodSync(f.path, 0o600); // (writeFileSync's mode applies only to a new file)
      }
      for (const n of x.networks) nets.set(n.name, this.load.project.networks[n.name]?.ipam?.config?.[0]?.subnet);
    }
    for (const [n, subnet] of nets) {
      const r = await createNetwork(this.net, this.project, n, subnet ? { subnet } : {});
      if (r.steps.length) this.say({ level: 'ok', text: `network ${n} created (${r.bridge}, ${r.subnet})` });
    }
  }

  // --- one service ------------------------------------------------------------------------------

  /** Backend.start: attach the container to its networks and have the supervisor run it. */
  async start(service: string, override?: StartOverride): Promise<void> {
    const svc = this.load.services.get(service);
    if (!svc?.canonical) throw new UserError('E_COMPOSE_UP', `${service}: cannot start (no command to run)`);
    const x = svc.compose;
    const name = override?.name ?? this.name(service);
    // What the service is configured as now; a running container made from another configuration
    // is recreated (as `docker compose up` does after the compose file changed).
    const hash = configHash(svc);
    const existing = this.states.get(name);
    if (existing && isLive(existing.status)) {
      const was = readSpec(containerDir(this.target.root, this.project, name))?.annotations?.[CONFIG_HASH];
      if (override || was === hash) {
        this.say({ level: 'info', container: name, text: 'already running' });
        return;
      }
      this.say({ level: 'info', container: name, text: 'configuration changed: recreating' });
      check(await request(this.target, { op: 'stop', name }, undefined, svc.canonical.lifecycle.stopTimeoutMs + 60_000));
    }
    if (existing) check(await request(this.target, { op: 'rm', name, force: true }));

    const spec: CanonicalSpec = structuredClone(svc.canonical);
    spec.name = name;
    // secrets/configs given by value exist only once prepare() wrote them: bind them as files
    for (const m of spec.mounts) if (m.type === 'bind' && x.filesToWrite.some((f) => f.path === m.source)) m.sourceKind = 'file';
    if (!override) spec.annotations = { ...spec.annotations, [CONFIG_HASH]: hash };
    if (override?.args) spec.process.args = override.args;
    if (override?.env) spec.process.env = { ...spec.process.env, ...override.env };
    if (override?.restart) spec.lifecycle = { ...spec.lifecycle, restart: { policy: 'no' } };
    if (override?.tty !== undefined) spec.process.tty = override.tty;
    if (spec.namespaces.uts?.mode === 'new' && !spec.hostname) spec.hostname = service;
    // joins of another service's namespaces name that service's container
    for (const [kind, ns] of Object.entries(spec.namespaces)) {
      if (ns?.mode === 'container' && this.load.services.has(ns.container)) (spec.namespaces as Record<string, typeof ns>)[kind] = { mode: 'container', container: this.name(ns.container) };
    }

    const attached: string[] = [];
    let address: string | undefined;
    const mode = x.networkMode;
    try {
      if (mode.kind === 'bridge' && x.networks.length) {
        const nets = [...x.networks].sort((a, b) => (b.priority ?? 0) - (a.priority ?? 0));
        let netns = '';
        let hostsFile = '';
        for (const [i, n] of nets.entries()) {
          const aliases = [...new Set([service, x.containerName, ...n.aliases].filter((a) => a !== name))];
          const att = await attachContainer(this.net, { project: this.project, network: n.name, container: name, aliases, hostname: spec.hostname, address: n.ipv4Address, defaultRoute: i === 0, extraHosts: x.extraHosts, links: x.links.map((l) => ({ container: this.name(l.service), alias: l.alias })) });
          attached.push(n.name);
          address ??= att.address;
          netns = att.netnsPath;
          hostsFile = att.hostsFile;
        }
        spec.namespaces.net = { mode: 'join', path: netns };
        spec.mounts.push(hostsMount(hostsFile), resolvMount(hostsFile, name, x));
      } else if (mode.kind === 'service') {
        const other = this.load.services.get(mode.service);
        const otherName = this.name(mode.service);
        if (other?.compose.networkMode.kind === 'bridge' && other.compose.networks.length) {
          spec.namespaces.net = { mode: 'join', path: netnsPath(this.net.stateRoot, this.project, otherName) };
          const otherHosts = hostsPath(this.net.stateRoot, this.project, otherName);
          spec.mounts.push(hostsMount(otherHosts), resolvMount(otherHosts, name, x));
        } else spec.namespaces.net = { mode: 'container', container: otherName };
      }
      const plan = compile(spec, this.host, {
        id: `${name}-${randomBytes(4).toString('hex')}`,
        project: this.project,
        resolveContainer: (n) => { const st = this.states.get(n); return st && st.status === 'running' ? st.pid : undefined; },
      });
      const ports = override?.ports === false ? [] : this.portsOf(svc);
      const net: RunNet | undefined = attached.length || ports.length ? { stateRoot: this.net.stateRoot, project: this.project, networks: attached, ...(address ? { address } : {}), ...(ports.length ? { ports } : {}) } : undefined;
      if (override?.foreground) {
        // A one-off in this process (compose run, attached): the caller runs it and calls done().
        const done = async () => { for (const n of attached) await detachContainer(this.net, this.project, n, name).catch(() => {}); };
        override.foreground({ plan, spec, net, done });
        return;
      }
      check(await request(this.target, { op: 'run', plan, spec, ...(net ? { net } : {}) }));
    } catch (e) {
      for (const n of attached) await detachContainer(this.net, this.project, n, name).catch(() => {});
      throw e;
    }
    await this.refresh();
  }

  // --- the project ------------------------------------------------------------------------------

  /**
   * `up`: networks and volumes, then every service once its dependencies meet their conditions
   * (in parallel where the graph allows). `wait`: also until each is healthy (or running).
   */
  async up(o: { services?: string[]; noDeps?: boolean; wait?: boolean; timeoutMs?: number } = {}): Promise<string[]> {
    const services = o.services?.length ? (o.noDeps ? this.load.plan.order.filter((s) => o.services!.includes(s)) : withDependencies(this.load, o.services)) : [...this.load.plan.order];
    for (const s of o.services ?? []) if (!this.load.services.has(s)) throw new UserError('E_NO_SERVICE', `no such service: ${s}`, [], `services: ${[...this.load.services.keys()].join(', ')}`);
    await this.refresh(); // what already runs (without starting a supervisor)
    await this.preflight(services);
    await this.prepare(services);
    await this.open();
    const deps: Record<string, Dependency[]> = {};
    for (const s of services) deps[s] = this.load.services.get(s)!.compose.dependsOn.map((d) => ({ service: d.service, condition: d.condition, required: d.required }));
    const outcome = await startServices(this, {
      order: services, deps, timeoutMs: o.timeoutMs,
      onMessage: (m) => this.say({ level: m.level, container: this.name(m.service), text: m.text }),
    });
    const err = startError(outcome);
    if (err) throw err;
    if (o.wait) {
      await Promise.all(outcome.started.map((s) => waitUntil(this, () => readiness(this.observe(s)), `${s} is not ready`, o.timeoutMs ?? 600_000)));
    }
    return outcome.started;
  }

  /** Containers of the project in stop order: one-off and unknown ones first, then services by reverse dependency level. */
  stopOrder(services?: string[]): string[][] {
    const names = new Set(this.containers().map((c) => c.name));
    for (const n of listNames(this.target.root, this.project)) names.add(n);
    const levels = this.load.plan.stopLevels.map((l) => l.filter((s) => !services || services.includes(s)).map((s) => this.name(s)).filter((n) => names.has(n)));
    const known = new Set(levels.flat());
    const others = services ? [] : [...names].filter((n) => !known.has(n) && !this.byName.has(n));
    return [others, ...levels].filter((l) => l.length);
  }

  /** `stop`: the stop signal, SIGKILL after the grace period; dependents before what they depend on. */
  async stop(o: { services?: string[]; timeoutMs?: number; force?: boolean } = {}): Promise<void> {
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
    const { root } = this.target;
    const hadState = existsSync(join(root, this.project)) && listNames(root, this.project).length > 0;
    if (hadState) {
      await this.refresh();
      for (const level of this.stopOrder()) {
        await Promise.all(level.map(async (n) => {
          const st = this.states.get(n) ?? readState(containerDir(root, this.project, n));
          if (st && isLive(st.status)) check(await request(this.target, { op: 'stop', name: n, timeoutMs: o.timeoutMs }, undefined, (o.timeoutMs ?? 600_000) + 60_000));
          check(await request(this.target, { op: 'rm', name: n, force: true }));
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
