// Compiles a loaded compose project + host facts into a ProjectPlan (pure: no file, process or
// network is touched). Subnets and addresses are decided here from the lease database read before
// compile (a host fact), exactly as `up` will record them, so the plan is exact; the engine only
// checks that nobody took them in between. Each service's LaunchPlan is compiled from its spec with
// its networking filled in (the network namespace it joins, its /etc/hosts and resolv.conf).
import { createHash } from 'node:crypto';
import { dirname, join } from 'node:path';
import { UserError } from '../../errors.js';
import type { ComposeLoad, LoadedService } from '../../compose/index.js';
import type { CanonicalMount, CanonicalSpec } from '../../spec/types.js';
import type { HostFacts, StepDraft } from '../types.js';
import { compile } from '../compile.js';
import { attachSteps, bridgeSteps, sandboxSteps, type AttachmentInfo } from '../steps/net.js';
import { networkKey, reserveAddress, reserveNetwork, type Cidr, type LeaseDb } from '../../runtime/net/ipam.js';
import { bridgeName, containerIfname, hostsPath, netnsPath, netStateDir, vethName } from '../../runtime/net/names.js';
import { hostsFor, resolvConf } from '../../runtime/net/hosts.js';
import { parsePort, type PortMapping } from '../../runtime/net/ports.js';
import type { ProjectPlan, ProjectStep, ProjectStepDraft, ServiceEntry } from './types.js';

/** What the compiler needs to know about the host, read before compile (faked in tests). */
export interface ProjectHostFacts {
  host: HostFacts;
  stateRoot: string;
  /** The lease database as it is now. */
  leases: LeaseDb;
  /** The host's IPv4 routes (a requested subnet must not overlap them). */
  routes: { iface: string; cidr: Cidr }[];
  /** Network interfaces of the host that exist (bridges, veths). */
  links: string[];
  /** Network namespace files that are mounted. */
  netns: string[];
  /** Paths that exist (volume directories, bind sources, files). */
  exists: string[];
  /** The project's containers as the supervisor (or the state dir) reports them. */
  containers: { name: string; live: boolean; pid?: number; configHash?: string }[];
}

/** A one-off container of a service (compose run). */
export interface OneOff {
  service: string;
  name: string;
  args?: string[];
  env?: Record<string, string>;
  /** Publish the service's ports (run --service-ports). */
  ports?: boolean;
  tty?: boolean;
}

export interface CompileProjectOptions {
  /** Services named on the command line (with their dependencies unless noDeps); default all. */
  services?: string[];
  noDeps?: boolean;
  /** Recreate running containers even when their configuration is unchanged. */
  forceRecreate?: boolean;
  /** Suffix of container ids (names their cgroups): random at run time, fixed in tests. */
  nonce: string;
  /** Instead of the services: this one-off container (its dependencies are not started). */
  oneOff?: OneOff;
}

/** Annotation holding the hash of the configuration a compose container was created from. */
export const CONFIG_HASH = 'niwa.compose.config-hash';

export function configHash(svc: LoadedService): string {
  const { positions: _p, file: _f, ...spec } = svc.canonical!;
  const { service: _s, ...compose } = svc.compose;
  return createHash('sha256').update(JSON.stringify({ spec, compose })).digest('hex').slice(0, 16);
}

/** The niwa container name of a service: `<service>-1`, or its container_name. */
export function containerNameOf(load: ComposeLoad, service: string): string {
  const x = load.services.get(service)?.compose;
  const dflt = `${load.project.name}-${service}-1`;
  return x && x.containerName !== dflt ? x.containerName : `${service}-1`;
}

const noSuchService = (load: ComposeLoad, s: string) => new UserError('E_NO_SERVICE', `no such service: ${s}`, [], `services: ${[...load.services.keys()].join(', ')}`);

/** Every service with its dependencies (transitively), in start order: `up web` also starts what web needs. */
export function withDependencies(load: ComposeLoad, services: string[]): string[] {
  const want = new Set<string>();
  const add = (s: string) => {
    if (want.has(s)) return;
    const svc = load.services.get(s);
    if (!svc) throw noSuchService(load, s);
    want.add(s);
    for (const d of svc.compose.dependsOn) if (load.services.has(d.service)) add(d.service);
    for (const l of svc.compose.links) add(l.service);
    if (svc.compose.networkMode.kind === 'service') add(svc.compose.networkMode.service);
  };
  services.forEach(add);
  return load.plan.order.filter((s) => want.has(s));
}

/** The ports a service publishes (none off the project's bridge networks, or only on internal networks). */
export function portsOf(load: ComposeLoad, svc: LoadedService): PortMapping[] {
  const x = svc.compose;
  if (x.networkMode.kind !== 'bridge' || !x.networks.length) return [];
  if (x.networks.every((n) => load.project.networks[n.name]?.internal)) return [];
  return x.ports.flatMap((p) => parsePort({ target: p.target, ...(p.published !== undefined ? { published: p.published } : {}), ...(p.hostIp ? { host_ip: p.hostIp } : {}), protocol: p.protocol }));
}

const fileMount = (source: string, target: string): CanonicalMount => ({
  type: 'bind', source, target, readonly: true, recursive: false, options: [], field: 'networks', sourceKind: 'file',
});

/** A compose network's local-driver options on a volume: a bind of a host path, or a tmpfs. */
function volumeMount(o: Record<string, unknown> | undefined, path: string, field: string): { source: string; fstype: string | null; options: string } | undefined {
  if (!o) return undefined;
  const type = String(o.type ?? '');
  const opts = String(o.o ?? '');
  if (type === 'none' && opts.split(',').includes('bind')) {
    if (typeof o.device !== 'string' || !o.device.startsWith('/')) throw new UserError('E_COMPOSE_VOLUME', `${field}.driver_opts.device must be an absolute host path for a bind (type: none, o: bind)`, [{ field: `${field}.driver_opts.device`, message: `got '${String(o.device)}'` }]);
    return { source: o.device, fstype: null, options: opts };
  }
  if (type === 'tmpfs') return { source: 'tmpfs', fstype: 'tmpfs', options: opts };
  throw new UserError('E_COMPOSE_VOLUME', `${field}.driver_opts: only the local driver's 'type: none, o: bind, device: PATH' and 'type: tmpfs' are supported`, [{ field: `${field}.driver_opts`, message: `type '${type}', o '${opts}'` }]);
}

class Builder {
  steps: ProjectStepDraft[] = [];
  teardown: ProjectStepDraft[] = [];
  add(d: ProjectStepDraft): void { this.steps.push(d); }
  /** Network steps (StepDraft) as project steps of a stage and unit, with their compose key. */
  net(list: StepDraft[], stage: ProjectStepDraft['stage'], unit: string, field: string, service?: string, into: ProjectStepDraft[] = this.steps): void {
    for (const s of list) into.push({ ...(s as ProjectStepDraft), stage, unit, field, ...(service ? { service } : {}) });
  }
}

const hostsRefresh = (project: string, stage: ProjectStepDraft['stage'], unit: string, field: string, service?: string): ProjectStepDraft => ({
  op: 'hosts', project, stage, unit, field, ...(service ? { service } : {}), man: 'hosts(5)',
  why: stage === 'teardown' ? 'the other containers\' /etc/hosts forget it' : 'every container of the project learns it: their /etc/hosts are rewritten in place from the lease database (those that ended have left it)',
});

const number = <T extends ProjectStepDraft>(list: T[], from = 0): ProjectStep[] => list.map((s, i) => ({ ...s, index: from + i }) as ProjectStep);

export function compileProject(load: ComposeLoad, facts: ProjectHostFacts, opts: CompileProjectOptions): ProjectPlan {
  const project = load.project.name;
  const { stateRoot } = facts;
  for (const s of opts.services ?? []) if (!load.services.has(s)) throw noSuchService(load, s);
  if (opts.oneOff && !load.services.has(opts.oneOff.service)) throw noSuchService(load, opts.oneOff.service);
  const names = opts.oneOff
    ? [opts.oneOff.service]
    : opts.services?.length ? (opts.noDeps ? load.plan.order.filter((s) => opts.services!.includes(s)) : withDependencies(load, opts.services)) : [...load.plan.order];
  const nameOf = (s: string) => (opts.oneOff?.service === s ? opts.oneOff.name : containerNameOf(load, s));
  const exists = new Set(facts.exists);
  const links = new Set(facts.links);
  const mounted = new Set(facts.netns);
  const live = new Map(facts.containers.map((c) => [c.name, c]));
  const warnings: string[] = [];
  const b = new Builder();

  // --- what becomes of each service --------------------------------------------------------------
  const entries: ServiceEntry[] = names.map((s) => {
    const svc = load.services.get(s)!;
    const container = nameOf(s);
    const dependsOn = svc.compose.dependsOn.filter((d) => load.services.has(d.service)).map((d) => ({ service: d.service, condition: d.condition, required: d.required }));
    const base = { service: s, container, dependsOn, addresses: {} };
    if (!svc.canonical) return { ...base, action: 'unrunnable' as const, reason: svc.problem ?? (svc.compose.image ? `no command (image ${svc.compose.image} gives none niwa can read)` : 'no command to run (a build-only service whose image was not built)') };
    // an image root that was never read (a build: service loaded without building, or no image store)
    if (svc.canonical.rootfs.kind === 'image' && !svc.canonical.rootfs.image) return { ...base, action: 'unrunnable' as const, reason: `its image ${svc.canonical.rootfs.ref} is not in the store${load.project.services[s]?.build !== undefined ? ' (build it: niwa compose build, or up --build)' : ''}` };
    const had = live.get(container);
    if (!had) return { ...base, action: 'create' as const };
    if (!had.live) return { ...base, action: 'replace' as const };
    if (!opts.oneOff && !opts.forceRecreate && had.configHash === configHash(svc)) return { ...base, action: 'running' as const };
    return { ...base, action: 'recreate' as const };
  });
  const starting = entries.filter((e) => e.action !== 'running' && e.action !== 'unrunnable');
  for (const e of entries) if (e.action === 'unrunnable') warnings.push(`${e.service}: cannot start: ${e.reason}`);

  // --- images ------------------------------------------------------------------------------------
  const images = new Map<string, { digest?: string; services: string[] }>();
  for (const e of starting) {
    const r = load.services.get(e.service)!.canonical!.rootfs;
    if (r.kind !== 'image') continue;
    const i = images.get(r.ref) ?? { digest: r.image?.digest, services: [] };
    i.services.push(e.service);
    images.set(r.ref, i);
  }
  for (const [ref, i] of images) {
    b.add({ op: 'image', ref, ...(i.digest ? { digest: i.digest } : {}), services: i.services, stage: 'images', unit: `image:${ref}`, field: `services.${i.services[0]}.image`, why: `the root of ${i.services.join(', ')}: resolved in the image store (pulled when missing, as pull_policy says) before anything starts` });
  }
  for (const e of entries) {
    const x = load.project.services[e.service];
    if (e.action !== 'unrunnable' || x?.build === undefined) continue;
    const build = typeof x.build === 'string' ? { context: x.build } : (x.build as { context?: string; dockerfile?: string });
    b.add({ op: 'build', service: e.service, context: join(load.project.workingDir, build.context ?? '.'), ...(build.dockerfile ? { dockerfile: build.dockerfile } : {}), image: x.image ?? `${project}-${e.service}`, stage: 'images', unit: `image:${e.service}`, field: `services.${e.service}.build`, why: 'its image is not in the store: built from this context by niwa compose build (up builds missing images while the project loads)' });
  }

  // --- volumes and files -------------------------------------------------------------------------
  const seenPath = new Set<string>();
  for (const e of starting) {
    const x = load.services.get(e.service)!.compose;
    x.volumes.forEach((v) => {
      if (v.external || seenPath.has(v.hostPath)) return;
      seenPath.add(v.hostPath);
      const top = v.anonymous ? undefined : load.project.volumes[v.name];
      const field = v.anonymous ? `services.${e.service}.volumes` : `volumes.${v.name}`;
      const m = volumeMount(top?.driver_opts as Record<string, unknown> | undefined, v.hostPath, field);
      if (!exists.has(v.hostPath)) {
        b.add({ op: 'mkdir', path: v.hostPath, mode: 0o755, stage: 'volumes', unit: `volume:${v.fullName}`, field, why: `the ${v.anonymous ? 'anonymous' : 'named'} volume ${v.fullName} under niwa's data root` });
        b.teardown.push({ op: 'rm', path: v.hostPath, recursive: true, stage: 'teardown', unit: `volume:${v.fullName}`, field, why: `remove volume ${v.fullName} and its data (down -v only)` });
      }
      if (m) {
        b.add({ op: 'mount', source: m.source, target: v.hostPath, fstype: m.fstype, options: m.options, stage: 'volumes', unit: `volume:${v.fullName}`, field: `${field}.driver_opts`, man: 'mount(8)', why: m.fstype ? `driver_opts type tmpfs: the volume is a tmpfs (${m.options || 'default size'})` : `driver_opts type none, o bind: the volume is the host directory ${m.source}` });
        b.teardown.unshift({ op: 'umount', target: v.hostPath, stage: 'teardown', unit: `volume:${v.fullName}`, field: `${field}.driver_opts`, man: 'umount(8)', why: `unmount volume ${v.fullName} (the bound directory keeps its data)` });
      }
    });
    for (const d of x.bindDirsToCreate) {
      if (exists.has(d) || seenPath.has(d)) continue;
      seenPath.add(d);
      b.add({ op: 'mkdir', path: d, mode: 0o755, stage: 'volumes', unit: `dir:${d}`, field: `services.${e.service}.volumes`, why: 'a bind source that does not exist: created, as Compose does for the short syntax' });
    }
    for (const f of x.filesToWrite) {
      if (seenPath.has(f.path)) continue;
      seenPath.add(f.path);
      b.add({ op: 'mkdir', path: dirname(f.path), mode: 0o700, stage: 'volumes', unit: `file:${f.path}`, field: `services.${e.service}`, why: 'a directory readable by root only for the secret or config' });
      b.add({ op: 'file', path: f.path, content: f.content, mode: 0o600, stage: 'volumes', unit: `file:${f.path}`, field: `services.${e.service}`, why: 'a secret or config given by value, written for the container to bind read-only' });
      b.teardown.push({ op: 'rm', path: f.path, stage: 'teardown', unit: `file:${f.path}`, field: `services.${e.service}`, why: 'a secret or config written from a value: derived data, gone with the project' });
      b.teardown.push({ op: 'rm', path: dirname(f.path), stage: 'teardown', unit: `file:${f.path}`, field: `services.${e.service}`, why: 'its directory, once empty' });
    }
  }

  // --- networks: subnets and addresses decided against the leases read before compile --------------
  let db = facts.leases;
  const netField = (n: string) => `networks.${n}`;
  const usedNets = new Set<string>();
  for (const e of entries) {
    const x = load.services.get(e.service)!.compose;
    if (e.action !== 'unrunnable' && x.networkMode.kind === 'bridge') for (const n of x.networks) usedNets.add(n.name);
  }
  const netOrder = [...usedNets].sort();
  const netTeardown: ProjectStepDraft[] = [];
  for (const n of netOrder) {
    const bridge = bridgeName(project, n);
    const existed = Boolean(db.networks[networkKey(project, n)]);
    const subnet = load.project.networks[n]?.ipam?.config?.[0]?.subnet;
    let r: ReturnType<typeof reserveNetwork>;
    try {
      r = reserveNetwork(db, { project, network: n, bridge, subnet, routes: facts.routes });
    } catch (err) {
      throw new UserError('E_NET_SUBNET', (err as Error).message, [{ field: `networks.${n}.ipam.config[0].subnet`, message: (err as Error).message }], 'choose a subnet no other network of the host uses, or leave it out');
    }
    db = r.db;
    const unit = `network:${n}`;
    if (!existed) b.add({ op: 'lease', network: n, bridge, subnet: r.net.subnet, gateway: r.net.gateway, stage: 'networks', unit, field: netField(n), why: `record subnet ${r.net.subnet} for network ${n} in niwa's lease database` });
    if (!links.has(bridge)) b.net(bridgeSteps({ network: n, bridge, subnet: r.net.subnet, gateway: r.net.gateway }).prepare, 'networks', unit, netField(n));
    b.net(bridgeSteps({ network: n, bridge, subnet: r.net.subnet, gateway: r.net.gateway }).cleanup, 'teardown', unit, netField(n), undefined, netTeardown);
    netTeardown.push({ op: 'release', network: n, stage: 'teardown', unit, field: netField(n), why: `forget network ${n}'s subnet in the lease database` });
  }

  // addresses first (all of them), so every /etc/hosts lists the whole project
  const attachments = new Map<string, AttachmentInfo[]>();
  for (const e of starting) {
    const svc = load.services.get(e.service)!;
    const x = svc.compose;
    if (x.networkMode.kind !== 'bridge' || !x.networks.length) continue;
    const nets = [...x.networks].sort((p, q) => (q.priority ?? 0) - (p.priority ?? 0));
    const netns = netnsPath(stateRoot, project, e.container);
    const hostname = svc.canonical!.hostname ?? (svc.canonical!.namespaces.uts?.mode === 'new' ? e.service : undefined);
    let routeGiven = false;
    const infos = nets.map((n, i): AttachmentInfo => {
      const key = networkKey(project, n.name);
      const veth = vethName(project, n.name, e.container);
      const aliases = [...new Set([e.service, x.containerName, ...n.aliases].filter((a) => a !== e.container))];
      let r: ReturnType<typeof reserveAddress>;
      try {
        r = reserveAddress(db, key, e.container, { address: n.ipv4Address, aliases, ifname: containerIfname(i), veth, netns, ...(hostname ? { hostname } : {}), extraHosts: x.extraHosts, links: x.links.map((l) => ({ container: nameOf(l.service), alias: l.alias })) });
      } catch (err) {
        throw new UserError('E_NET_ADDRESS', `service ${e.service}: ${(err as Error).message}`, [{ field: `services.${e.service}.networks.${n.name}.ipv4_address`, message: (err as Error).message }]);
      }
      db = r.db;
      const net = db.networks[key];
      const internal = Boolean(load.project.networks[n.name]?.internal);
      const defaultRoute = !routeGiven && !internal;
      routeGiven ||= defaultRoute;
      e.addresses[n.name] = r.lease.address;
      return { network: n.name, bridge: net.bridge, subnet: net.subnet, gateway: net.gateway, container: e.container, veth, ifname: r.lease.ifname, address: r.lease.address, defaultRoute };
    });
    attachments.set(e.service, infos);
  }
  for (const e of entries) {
    if (e.action !== 'running') continue;
    for (const n of Object.values(db.networks)) if (n.project === project && n.leases[e.container]) e.addresses[n.network] = n.leases[e.container].address;
  }

  // --- each service: its network, its files, its launch plan ---------------------------------------
  const hostsDir = join(netStateDir(stateRoot), 'hosts', project);
  const containerTeardown: ProjectStepDraft[][] = [];
  for (const e of starting) {
    const svc = load.services.get(e.service)!;
    const x = svc.compose;
    const s = e.service;
    const unit = `container:${e.container}`;
    const sf = `services.${s}`;
    const td: ProjectStepDraft[] = [{ op: 'remove', container: e.container, stop: true, stage: 'teardown', unit, field: sf, why: 'stop the container (stop signal, then SIGKILL after the grace period) and remove it' }];
    containerTeardown.push(td);
    if (e.action === 'recreate' || e.action === 'replace') {
      b.add({ op: 'remove', container: e.container, stop: e.action === 'recreate', stage: 'service', service: s, unit, field: sf, why: e.action === 'recreate' ? 'it runs from another configuration (or --force-recreate): stopped and removed, then created again' : 'an ended container of the service: removed before it is created again' });
    }
    const spec: CanonicalSpec = structuredClone(svc.canonical!);
    spec.name = e.container;
    for (const m of spec.mounts) if (m.type === 'bind' && x.filesToWrite.some((f) => f.path === m.source)) m.sourceKind = 'file';
    const one = opts.oneOff;
    if (!one) spec.annotations = { ...spec.annotations, [CONFIG_HASH]: configHash(svc) };
    else {
      if (one.args) spec.process.args = one.args;
      if (one.env) spec.process.env = { ...spec.process.env, ...one.env };
      spec.lifecycle = { ...spec.lifecycle, restart: { policy: 'no' } };
      if (one.tty !== undefined) spec.process.tty = one.tty;
    }
    if (spec.namespaces.uts?.mode === 'new' && !spec.hostname) spec.hostname = s;
    for (const [kind, ns] of Object.entries(spec.namespaces)) {
      if (ns?.mode === 'container' && load.services.has(ns.container)) (spec.namespaces as Record<string, typeof ns>)[kind] = { mode: 'container', container: nameOf(ns.container) };
    }
    const infos = attachments.get(s) ?? [];
    const resolv = resolvConf(hostsDir, e.container, x);
    if (infos.length) {
      const netns = netnsPath(stateRoot, project, e.container);
      const fresh = e.action !== 'running' && (e.action !== 'create' || !mounted.has(netns));
      if (fresh) b.net(sandboxSteps(netns, false).prepare, 'service', unit, `${sf}.networks`, s);
      infos.forEach((a, i) => {
        const f = `${sf}.networks.${a.network}`;
        if (e.action === 'create' && links.has(a.veth)) b.net(attachSteps(a, netns).cleanup, 'service', unit, f, s); // a leftover of a crash: start clean
        const lease = db.networks[networkKey(project, a.network)].leases[e.container];
        b.add({ op: 'lease', network: a.network, bridge: a.bridge, subnet: a.subnet, gateway: a.gateway, container: e.container, ...lease, stage: 'service', service: s, unit, field: f, why: `record ${a.address} on ${a.network} for ${e.container}` });
        b.net(attachSteps(a, netns, i === 0 && fresh).prepare, 'service', unit, f, s);
      });
      const hosts = hostsPath(stateRoot, project, e.container);
      b.add({ op: 'file', path: hosts, content: hostsFor(db, project, e.container, spec.hostname), mode: 0o644, inPlace: true, stage: 'service', service: s, unit, field: `${sf}.networks`, man: 'hosts(5)', why: 'its /etc/hosts: itself, every container of the project on a network it shares (by name, service and aliases), extra_hosts and links' });
      b.add({ op: 'file', path: resolv.path, content: resolv.content, mode: 0o644, stage: 'service', service: s, unit: resolv.path.endsWith('_resolv.conf') ? `file:${resolv.path}` : unit, field: x.dns.length || x.dnsSearch.length ? `${sf}.dns` : `${sf}.networks`, man: 'resolv.conf(5)', why: 'its /etc/resolv.conf: project networks have no route to the host\'s name servers, so lookups of unknown names fail at once' });
      b.add(hostsRefresh(project, 'service', unit, `${sf}.networks`, s));
      spec.namespaces.net = { mode: 'join', path: netns };
      spec.mounts.push(fileMount(hosts, '/etc/hosts'), fileMount(resolv.path, '/etc/resolv.conf'));
      for (const a of [...infos].reverse()) {
        b.net(attachSteps(a, netns).cleanup, 'teardown', unit, `${sf}.networks.${a.network}`, undefined, td);
        td.push({ op: 'release', network: a.network, container: e.container, stage: 'teardown', unit, field: `${sf}.networks.${a.network}`, why: `forget ${e.container}'s address on ${a.network}` });
      }
      td.push(hostsRefresh(project, 'teardown', unit, `${sf}.networks`));
      b.net(sandboxSteps(netns).cleanup, 'teardown', unit, `${sf}.networks`, undefined, td);
      td.push({ op: 'rm', path: hosts, stage: 'teardown', unit, field: `${sf}.networks`, why: 'its /etc/hosts' });
      if (!resolv.path.endsWith('_resolv.conf')) td.push({ op: 'rm', path: resolv.path, stage: 'teardown', unit, field: `${sf}.dns`, why: 'its own resolv.conf' });
    } else if (x.networkMode.kind === 'service') {
      const other = load.services.get(x.networkMode.service);
      const otherName = nameOf(x.networkMode.service);
      if (other?.compose.networkMode.kind === 'bridge' && other.compose.networks.length) {
        spec.namespaces.net = { mode: 'join', path: netnsPath(stateRoot, project, otherName) };
        b.add({ op: 'file', path: resolv.path, content: resolv.content, mode: 0o644, stage: 'service', service: s, unit: resolv.path.endsWith('_resolv.conf') ? `file:${resolv.path}` : unit, field: `${sf}.network_mode`, man: 'resolv.conf(5)', why: 'its /etc/resolv.conf' });
        spec.mounts.push(fileMount(hostsPath(stateRoot, project, otherName), '/etc/hosts'), fileMount(resolv.path, '/etc/resolv.conf'));
      } else spec.namespaces.net = { mode: 'container', container: otherName };
    }
    const ports = one && !one.ports ? [] : portsOf(load, svc);
    if (x.ports.length && !ports.length && x.networks.length && x.networks.every((n) => load.project.networks[n.name]?.internal)) {
      warnings.push(`${s}: ports are not published: every network of the service is internal (no route in or out)`);
    }
    const address = infos[0]?.address;
    if (ports.length && address) {
      b.add({ op: 'publish', container: e.container, address, ports, stage: 'service', service: s, unit, field: `${sf}.ports`, why: `the supervisor listens on the host port${ports.length === 1 ? '' : 's'} and forwards to ${address} (published before the container starts: a busy port starts nothing)` });
    }
    const byName = new Map(facts.containers.map((c) => [c.name, c.pid]));
    const plan = compile(spec, facts.host, { id: `${e.container}-${opts.nonce}`, project, resolveContainer: (n) => byName.get(n) });
    b.add({ op: 'launch', service: s, container: e.container, plan, spec, networks: infos.map((a) => a.network), stage: 'service', unit, field: sf, why: `hand ${e.container}'s launch plan (${plan.steps.length} steps) to the project's supervisor, which runs it and supervises the container` });
  }
  // resolv.conf files shared by the project, after its containers
  const sharedResolv = new Set(b.steps.filter((s) => s.op === 'file' && s.unit.startsWith('file:') && s.path.endsWith('_resolv.conf')).map((s) => (s as { path: string }).path));
  const fileTeardown = b.teardown;
  const teardown: ProjectStepDraft[] = [
    ...containerTeardown.reverse().flat(),
    ...[...sharedResolv].map((p): ProjectStepDraft => ({ op: 'rm', path: p, stage: 'teardown', unit: `file:${p}`, field: 'networks', why: 'the project\'s shared resolv.conf' })),
    ...netTeardown,
    ...fileTeardown,
  ];
  const order = { images: 0, volumes: 1, networks: 2, service: 3, teardown: 4 };
  const steps = b.steps.map((s, i) => [s, i] as const).sort((p, q) => order[p[0].stage] - order[q[0].stage] || p[1] - q[1]).map(([s]) => s);
  const inPlan = new Set(names);
  return {
    version: 1,
    project,
    stateRoot,
    services: entries,
    levels: load.plan.levels.map((l) => l.filter((s) => inPlan.has(s))).filter((l) => l.length),
    steps: number(steps),
    teardown: number(teardown),
    warnings,
  };
}
