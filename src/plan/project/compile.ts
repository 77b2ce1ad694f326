// Compiles a loaded compose project + host facts into a ProjectPlan (pure: no file, process or
// network is touched). Subnets and addresses are decided here from the lease database read before
// compile (a host fact), exactly as `up` will record them, so the plan is exact; the engine only
// checks that nobody took them in between. Each service's LaunchPlan is compiled from its spec with
// its networking filled in (the network namespace it joins, its /etc/hosts and resolv.conf).
// A service runs one container per replica (`--scale`, `deploy.replicas`): `web-1` … `web-N`, each
// with its own address, hosts file, ports and launch plan; a scale-down removes the highest ones.
import { createHash } from 'node:crypto';
import { dirname, join } from 'node:path';
import { UserError } from '../../errors.js';
import type { ComposeLoad, LoadedService } from '../../compose/index.js';
import type { CanonicalMount, CanonicalSpec, ContainerSpec } from '../../spec/types.js';
import type { HostFacts, StepDraft } from '../types.js';
import { compile } from '../compile.js';
import { attachSteps, bridgeSteps, sandboxSteps, type AttachmentInfo } from '../steps/net.js';
import { networkKey, reserveAddress, reserveNetwork, type Cidr, type LeaseDb } from '../../runtime/net/ipam.js';
import { bridgeName, containerIfname, hostsPath, netnsPath, netStateDir, vethName } from '../../runtime/net/names.js';
import { hostsFor, resolvConf } from '../../runtime/net/hosts.js';
import { parsePort, type PortMapping } from '../../runtime/net/ports.js';
import { shellSplit } from '../../compose/to-spec.js';
import type { DeferredLaunch, ProjectPlan, ProjectStep, ProjectStepDraft, ServiceEntry, SpecPatch } from './types.js';

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
  /** run -v: binds (replacing the service's mount at the same target). */
  mounts?: CanonicalMount[];
  /** run -w: the working directory. */
  cwd?: string;
  /** run --entrypoint: replaces the service's (and the image's) entrypoint. */
  entrypoint?: string[];
  /** run -u USER[:GROUP]: resolved (uid…) when the image was in the store at plan time; else looked up in the image by the late compile. */
  user?: { name: string; uid?: number; gid?: number; groups?: number[] };
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
  /** An image (and build) step for every runnable service, whatever becomes of its container (`compose pull`, `compose build`). */
  allImages?: boolean;
  /** Image steps pull with policy always, and built images are left out (`compose pull`). */
  pullAlways?: boolean;
  /** Replicas per service (up --scale SERVICE=N), over the file's scale / deploy.replicas. */
  scale?: Record<string, number>;
}

/** Annotation holding the hash of the configuration a compose container was created from. */
export const CONFIG_HASH = 'niwa.compose.config-hash';

export function configHash(svc: LoadedService): string {
  const { service: _s, ...compose } = svc.compose;
  return specHash(svc.canonical!, compose);
}

/** The configuration hash of a canonical spec and a service's compose settings. */
export function specHash(canonical: CanonicalSpec, compose: Omit<LoadedService['compose'], 'service'>): string {
  const { positions: _p, file: _f, ...spec } = canonical;
  return createHash('sha256').update(JSON.stringify({ spec, compose })).digest('hex').slice(0, 16);
}

/** A service's canonical spec with the project compiler's changes (pure): its container's name, namespaces, network files. */
export function patchSpec(canonical: CanonicalSpec, p: SpecPatch): CanonicalSpec {
  const spec: CanonicalSpec = structuredClone(canonical);
  spec.name = p.name;
  for (const m of spec.mounts) if (m.type === 'bind' && p.fileSources.includes(m.source)) m.sourceKind = 'file';
  if (p.oneOff) {
    if (p.oneOff.args) spec.process.args = p.oneOff.args;
    if (p.oneOff.env) spec.process.env = { ...spec.process.env, ...p.oneOff.env };
    spec.lifecycle = { ...spec.lifecycle, restart: { policy: 'no' } };
    if (p.oneOff.tty !== undefined) spec.process.tty = p.oneOff.tty;
    if (p.oneOff.cwd) spec.process.cwd = p.oneOff.cwd;
    const u = p.oneOff.user;
    if (u?.uid !== undefined) spec.process = { ...spec.process, uid: u.uid, gid: u.gid ?? u.uid, groups: u.groups ?? [u.gid ?? u.uid], user: u.name };
    for (const m of p.oneOff.mounts ?? []) spec.mounts = [...spec.mounts.filter((x) => x.target !== m.target), m];
  }
  if (spec.namespaces.uts?.mode === 'new' && !spec.hostname) spec.hostname = p.defaultHostname;
  for (const [kind, ns] of Object.entries(spec.namespaces)) {
    if (ns?.mode === 'container' && p.containers[ns.container]) (spec.namespaces as Record<string, typeof ns>)[kind] = { mode: 'container', container: p.containers[ns.container] };
  }
  if (p.net) spec.namespaces.net = p.net;
  spec.mounts.push(...p.mounts);
  return spec;
}

/**
 * A one-off's whole command when it gives arguments or --entrypoint, as Docker Compose combines them:
 * the arguments replace the service's command (the image's Cmd), not its entrypoint — the run's
 * --entrypoint, else the service's `entrypoint:`, else the image's Entrypoint; --entrypoint alone
 * runs with the service's command (or none). Undefined when the run changes neither.
 */
function oneOffArgs(load: ComposeLoad, svc: LoadedService, service: string, one: OneOff): string[] | undefined {
  if (!one.args && !one.entrypoint) return undefined;
  const raw = load.project.services[service] as { entrypoint?: unknown; command?: unknown } | undefined;
  const words = (v: unknown): string[] | undefined => (v === undefined || v === null ? undefined : Array.isArray(v) ? v.map(String) : shellSplit(String(v)) ?? [String(v)]);
  const entry = one.entrypoint ?? words(raw?.entrypoint) ?? svc.image?.entrypoint ?? [];
  return [...entry, ...(one.args ?? words(raw?.command) ?? [])];
}

/** A one-off's arguments and --entrypoint in the spec the late compile loads with the image (which combines them with its Entrypoint and Cmd). */
function withCommand(spec: ContainerSpec, one: OneOff): ContainerSpec {
  if (!one.args && !one.entrypoint) return spec;
  return { ...spec, process: { ...spec.process, ...(one.args ? { args: one.args } : {}), ...(one.entrypoint ? { entrypoint: one.entrypoint } : {}) } };
}

/** A one-off's `-u USER[:GROUP]` in the spec the late compile loads with the image (which looks the names up in it). */
function withUser(spec: ContainerSpec, u: string): ContainerSpec {
  const [user, group] = u.split(':');
  const { group: _g, ...process } = spec.process ?? {};
  return { ...spec, process: { ...process, user, ...(group ? { group } : {}) } };
}

/** The niwa container name of a service: `<service>-1`, or its container_name. */
export function containerNameOf(load: ComposeLoad, service: string): string {
  const x = load.services.get(service)?.compose;
  const dflt = `${load.project.name}-${service}-1`;
  return x && x.containerName !== dflt ? x.containerName : `${service}-1`;
}

/** How many containers a service runs: --scale, else the file's scale / deploy.replicas, else 1. */
export function replicasOf(load: ComposeLoad, service: string, scale?: Record<string, number>): number {
  return scale?.[service] ?? load.services.get(service)?.compose.replicas ?? 1;
}

/**
 * The containers of a service with `count` replicas: `<service>-1` … `<service>-N`. A container_name
 * names one container only, so it cannot go with more than one (as in Compose).
 */
export function containerNamesOf(load: ComposeLoad, service: string, count: number): string[] {
  if (count === 1) return [containerNameOf(load, service)];
  const x = load.services.get(service)?.compose;
  if (x && containerNameOf(load, service) !== `${service}-1`) {
    throw new UserError('E_COMPOSE_SCALE', `services.${service}: container_name '${x.containerName}' names one container, so the service cannot run ${count} replicas`, [{ field: `services.${service}.container_name`, message: `${count} replicas asked for` }], 'remove container_name, or run one replica');
  }
  return Array.from({ length: count }, (_, i) => `${service}-${i + 1}`);
}

/** The replica number of a service's container (`web-3` → 3), undefined when it is not one of them. */
export function replicaIndex(load: ComposeLoad, service: string, container: string): number | undefined {
  if (container === containerNameOf(load, service)) return 1;
  const m = /^(.+)-([1-9]\d*)$/.exec(container);
  return m && m[1] === service && containerNameOf(load, service) === `${service}-1` ? Number(m[2]) : undefined;
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
  return replicaPortsOf(load, svc, 1, 1);
}

/**
 * The ports replica `index` of `count` publishes. With several replicas a fixed host port is an
 * error (only one could listen on it; Compose says "port is already allocated"); a port without a
 * host port gets its own free port per replica, and a host range gives replica N the range's Nth port.
 */
export function replicaPortsOf(load: ComposeLoad, svc: LoadedService, index: number, count: number): PortMapping[] {
  const x = svc.compose;
  if (x.networkMode.kind !== 'bridge' || !x.networks.length) return [];
  if (x.networks.every((n) => load.project.networks[n.name]?.internal)) return [];
  return x.ports.flatMap((p, k) => {
    let published = p.published;
    if (count > 1 && published !== undefined && published !== '' && published !== '0') {
      const range = /^(\d+)-(\d+)$/.exec(String(published));
      const field = `services.${x.service}.ports[${k}]`;
      if (!range) throw new UserError('E_COMPOSE_SCALE', `${field}: host port ${published} is fixed, so only one of the ${count} replicas of ${x.service} could publish it (port is already allocated)`, [{ field, message: `${count} replicas asked for` }], `publish it without a host port ("${p.target}") or on a host range ("8000-${8000 + count - 1}:${p.target}"), or run one replica`);
      const port = Number(range[1]) + index - 1;
      if (port > Number(range[2])) throw new UserError('E_COMPOSE_SCALE', `${field}: host range ${published} has no port left for replica ${index} of ${x.service}`, [{ field, message: `${count} replicas asked for` }], `widen the range to at least ${count} ports`);
      published = String(port);
    }
    return parsePort({ target: p.target, ...(published !== undefined ? { published } : {}), ...(p.hostIp ? { host_ip: p.hostIp } : {}), protocol: p.protocol });
  });
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
  // each service's containers: its replicas (one unless --scale or the file says more), or the one-off
  const replicas = new Map(names.map((s) => [s, opts.oneOff?.service === s ? [opts.oneOff.name] : containerNamesOf(load, s, replicasOf(load, s, opts.scale))]));
  const nameOf = (s: string) => replicas.get(s)?.[0] ?? containerNameOf(load, s);
  /** Replica number and count of a container of the plan (1 of 1 for a service that runs one). */
  const replicaOf = (e: { service: string; container: string }) => { const l = replicas.get(e.service) ?? [e.container]; return { index: l.indexOf(e.container) + 1, count: l.length }; };
  const exists = new Set(facts.exists);
  const links = new Set(facts.links);
  const mounted = new Set(facts.netns);
  const live = new Map(facts.containers.map((c) => [c.name, c]));
  const warnings: string[] = [];
  const b = new Builder();

  // --- what becomes of each service --------------------------------------------------------------
  const entries: ServiceEntry[] = names.flatMap((s) => replicas.get(s)!.map((container, i, all) => {
    const svc = load.services.get(s)!;
    // a dependency scaled to 0 has nothing to wait for
    const dependsOn = svc.compose.dependsOn.filter((d) => load.services.has(d.service) && replicas.get(d.service)?.length !== 0).map((d) => ({ service: d.service, condition: d.condition, required: d.required }));
    const base = { service: s, container, ...(all.length > 1 ? { replica: i + 1 } : {}), dependsOn, addresses: {} };
    if (!svc.canonical) return { ...base, action: 'unrunnable' as const, reason: svc.problem ?? (svc.compose.image ? `no command (image ${svc.compose.image} gives none niwa can read)` : 'no command to run (a build-only service whose image was not built)') };
    // an image root that was never read (a build: service loaded without building, or no image store)
    if (svc.canonical.rootfs.kind === 'image' && !svc.canonical.rootfs.image && !svc.deferred) return { ...base, action: 'unrunnable' as const, reason: `its image ${svc.canonical.rootfs.ref} is not in the store${load.project.services[s]?.build !== undefined ? ' (build it: niwa compose build, or up --build)' : ''}` };
    const had = live.get(container);
    if (!had) return { ...base, action: 'create' as const };
    if (!had.live) return { ...base, action: 'replace' as const };
    if (!opts.oneOff && !opts.forceRecreate && !svc.deferred && had.configHash === configHash(svc)) return { ...base, action: 'running' as const };
    return { ...base, action: 'recreate' as const };
  }));
  const starting = entries.filter((e) => e.action !== 'running' && e.action !== 'unrunnable');
  for (const e of entries) if (e.action === 'unrunnable' && replicaOf(e).index === 1) warnings.push(`${e.service}: cannot start: ${e.reason}`);

  // --- images: pulled (layers only when missing) or built, one step per image ----------------------
  const dataRoot = facts.host.dataRoot ?? '/var/lib/niwa';
  const images = new Map<string, { img: NonNullable<LoadedService['image']>; services: string[] }>();
  for (const e of opts.allImages ? entries.filter((x) => x.action !== 'unrunnable') : starting) {
    const svc = load.services.get(e.service)!;
    if (images.get(svc.image?.ref ?? '')?.services.includes(e.service)) continue; // replicas: one image per service
    if (!svc.image || svc.deferred?.after === 'build' || (opts.pullAlways && (svc.build || svc.image.pull === 'never'))) continue;
    const i = images.get(svc.image.ref) ?? { img: svc.image, services: [] };
    // services of one image with other pull policies: one step, pulling if any of them needs it
    if (i.services.length && (svc.image.pull === 'always' || !svc.image.present)) i.img = { ...svc.image, present: i.img.present && svc.image.present, pull: svc.image.pull === 'always' ? 'always' : i.img.pull, size: Math.max(i.img.size, svc.image.size) };
    i.services.push(e.service);
    images.set(svc.image.ref, i);
  }
  for (const [ref, { img, services }] of images) {
    const built = services.every((s) => load.services.get(s)!.build);
    const why = img.present && img.pull !== 'always'
      ? `the root of ${services.join(', ')}: present in the store${built ? ' (built before; up --build builds it again)' : ''}`
      : `the root of ${services.join(', ')}: ${img.present ? 'pull_policy always: the registry is asked again' : 'not in the store'}; its layers are downloaded and unpacked before anything starts`;
    if (opts.pullAlways) {
      b.add({ op: 'image', ref, name: img.name, pull: 'always', present: img.present, layers: img.layers, size: img.size, dataRoot, services, stage: 'images', unit: `image:${ref}`, field: `services.${services[0]}.image`, why: `the image of ${services.join(', ')}: the registry is asked again, and what the store lacks is downloaded (compose pull)` });
      continue;
    }
    b.add({ op: 'image', ref, name: img.name, digest: img.digest, pull: img.pull, present: img.present, layers: img.layers, size: img.size, dataRoot, services, stage: 'images', unit: `image:${ref}`, field: `services.${services[0]}.${built ? 'build' : 'image'}`, why });
  }
  for (const e of opts.allImages ? entries : starting) {
    const svc = load.services.get(e.service)!;
    if (svc.deferred?.after !== 'build' || !svc.build || replicaOf(e).index !== 1) continue;
    const r = svc.build.request;
    b.add({ op: 'build', service: e.service, context: r.context, ...(r.dockerfile ? { dockerfile: r.dockerfile } : {}), image: svc.build.image, request: r, dataRoot, stage: 'images', unit: `image:${svc.build.image}`, field: `services.${e.service}.build`, why: svc.build.always ? 'built again (--build or compose build; the layer cache keeps an unchanged build cheap); the service\'s launch plan is compiled from the built image' : 'its image is not in the store: built from this context; the service\'s launch plan is compiled from the built image' });
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
    const { index, count } = replicaOf(e);
    // one container answers to the service's name as its hostname; each of several replicas to its own name
    const hostname = svc.canonical!.hostname ?? (svc.canonical!.namespaces.uts?.mode === 'new' ? (count > 1 ? e.container : e.service) : undefined);
    const fullName = count > 1 ? `${project}-${e.service}-${index}` : x.containerName;
    let routeGiven = false;
    const infos = nets.map((n, i): AttachmentInfo => {
      const key = networkKey(project, n.name);
      const veth = vethName(project, n.name, e.container);
      const aliases = [...new Set([e.service, fullName, ...n.aliases].filter((a) => a !== e.container))];
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
    attachments.set(e.container, infos);
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
    const one = opts.oneOff;
    const replica = replicaOf(e);
    const patch: SpecPatch = { name: e.container, fileSources: x.filesToWrite.map((f) => f.path), defaultHostname: replica.count > 1 ? e.container : s, containers: {}, mounts: [] };
    const oneArgs = one && !svc.deferred ? oneOffArgs(load, svc, s, one) : undefined;
    if (one) patch.oneOff = { ...(oneArgs ? { args: oneArgs } : {}), ...(one.env ? { env: one.env } : {}), ...(one.tty !== undefined ? { tty: one.tty } : {}), ...(one.cwd ? { cwd: one.cwd } : {}), ...(one.user ? { user: one.user } : {}), ...(one.mounts?.length ? { mounts: one.mounts } : {}) };
    for (const ns of Object.values(svc.canonical!.namespaces)) if (ns?.mode === 'container' && load.services.has(ns.container)) patch.containers[ns.container] = nameOf(ns.container);
    const hostname = svc.canonical!.hostname ?? (svc.canonical!.namespaces.uts?.mode === 'new' ? (replica.count > 1 ? e.container : s) : undefined);
    const infos = attachments.get(e.container) ?? [];
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
      b.add({ op: 'file', path: hosts, content: hostsFor(db, project, e.container, hostname), mode: 0o644, inPlace: true, stage: 'service', service: s, unit, field: `${sf}.networks`, man: 'hosts(5)', why: 'its /etc/hosts: itself, every container of the project on a network it shares (by name, service and aliases), extra_hosts and links' });
      b.add({ op: 'file', path: resolv.path, content: resolv.content, mode: 0o644, stage: 'service', service: s, unit: resolv.path.endsWith('_resolv.conf') ? `file:${resolv.path}` : unit, field: x.dns.length || x.dnsSearch.length ? `${sf}.dns` : `${sf}.networks`, man: 'resolv.conf(5)', why: 'its /etc/resolv.conf: project networks have no route to the host\'s name servers, so lookups of unknown names fail at once' });
      b.add(hostsRefresh(project, 'service', unit, `${sf}.networks`, s));
      patch.net = { mode: 'join', path: netns };
      patch.mounts.push(fileMount(hosts, '/etc/hosts'), fileMount(resolv.path, '/etc/resolv.conf'));
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
        patch.net = { mode: 'join', path: netnsPath(stateRoot, project, otherName) };
        b.add({ op: 'file', path: resolv.path, content: resolv.content, mode: 0o644, stage: 'service', service: s, unit: resolv.path.endsWith('_resolv.conf') ? `file:${resolv.path}` : unit, field: `${sf}.network_mode`, man: 'resolv.conf(5)', why: 'its /etc/resolv.conf' });
        patch.mounts.push(fileMount(hostsPath(stateRoot, project, otherName), '/etc/hosts'), fileMount(resolv.path, '/etc/resolv.conf'));
      } else patch.net = { mode: 'container', container: otherName };
    }
    const ports = one && !one.ports ? [] : replicaPortsOf(load, svc, replica.index, replica.count);
    if (x.ports.length && !ports.length && x.networks.length && x.networks.every((n) => load.project.networks[n.name]?.internal)) {
      warnings.push(`${s}: ports are not published: every network of the service is internal (no route in or out)`);
    }
    const address = infos[0]?.address;
    if (ports.length && address) {
      b.add({ op: 'publish', container: e.container, address, ports, stage: 'service', service: s, unit, field: `${sf}.ports`, why: `the supervisor listens on the host port${ports.length === 1 ? '' : 's'} and forwards to ${address} (published before the container starts: a busy port starts nothing)` });
    }
    const byName = new Map(facts.containers.map((c) => [c.name, c.pid]));
    const id = `${e.container}-${opts.nonce}`;
    const networks = infos.map((a) => a.network);
    if (svc.deferred) {
      const { service: _s, ...compose } = svc.compose;
      const pids = Object.fromEntries(facts.containers.filter((c) => c.pid !== undefined).map((c) => [c.name, c.pid!]));
      const deferred: DeferredLaunch = { after: -1, kind: svc.deferred.after, ref: svc.deferred.ref, input: one ? withCommand(one.user && one.user.uid === undefined ? withUser(svc.spec, one.user.name) : svc.spec, one) : svc.spec, load: svc.deferred, patch, ...(svc.canonical!.annotations ? { annotations: svc.canonical!.annotations } : {}), ...(one ? {} : { compose }), host: facts.host, id, project, pids };
      b.add({ op: 'launch', service: s, container: e.container, networks, deferred, stage: 'service', unit, field: sf, why: `hand ${e.container}'s launch plan to the project's supervisor, which runs it and supervises the container; the plan is compiled once its image ${svc.deferred.ref} is ${svc.deferred.after === 'build' ? 'built' : 'pulled'} (the image's config and files decide its command, user and working directory)` });
      continue;
    }
    const spec = patchSpec(svc.canonical!, patch);
    if (!one) spec.annotations = { ...spec.annotations, [CONFIG_HASH]: configHash(svc) };
    const plan = compile(spec, facts.host, { id, project, resolveContainer: (n) => byName.get(n) });
    b.add({ op: 'launch', service: s, container: e.container, plan, spec, networks, stage: 'service', unit, field: sf, why: `hand ${e.container}'s launch plan (${plan.steps.length} steps) to the project's supervisor, which runs it and supervises the container` });
  }
  // scaled down: the replicas above the count asked for are stopped and removed, highest first
  if (!opts.oneOff) {
    for (const s of names) {
      const count = replicas.get(s)!.length;
      const extra = facts.containers.map((c) => ({ c, i: replicaIndex(load, s, c.name) ?? 0 })).filter((r) => r.i > count).sort((p, q) => q.i - p.i);
      for (const { c } of extra) b.add({ op: 'remove', container: c.name, stop: c.live, scaledDown: true, stage: 'service', service: s, unit: `container:${c.name}`, field: `services.${s}`, why: `scaled to ${count}: the replicas above it are stopped and removed (highest first); leaving, it gives up its address and its name stops resolving` });
    }
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
  const numbered = number(steps);
  // a deferred launch names the step that makes its image
  for (const l of numbered) {
    if (l.op !== 'launch' || !l.deferred) continue;
    const ref = l.deferred.ref;
    l.deferred.after = numbered.find((x) => (x.op === 'build' && x.image === ref) || (x.op === 'image' && x.ref === ref))?.index ?? -1;
  }
  return {
    version: 1,
    project,
    stateRoot,
    services: entries,
    levels: load.plan.levels.map((l) => l.filter((s) => inPlan.has(s))).filter((l) => l.length),
    steps: numbered,
    teardown: number(teardown),
    warnings: [...new Set(warnings)],
  };
}
