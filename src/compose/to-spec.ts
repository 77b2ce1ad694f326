// Compose phase 9, map: one resolved compose service → a niwa ContainerSpec (what one container
// is) + ServiceExtras (what only makes sense among several: dependencies, networks, ports,
// volumes to create). Every service key is in KEYS: mapped, compose-level, or unsupported — an
// unsupported key gives exactly one warning for that service, with its file:line:col.
// serviceToSpec runs one small mapper per concern (root, command, environment, identity,
// namespaces, volumes, secrets, privileges, limits, devices, resources, lifecycle, dependencies,
// networks, deploy), each mapping its compose keys to spec fields and recording the field map.
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { isAbsolute, join } from 'node:path';
import type { ErrorDetail } from '../errors.js';
import type { ContainerSpec, MountSpec, ProcessSpec, NamespaceKind, NamespaceOptions, RlimitValue, SeccompAction, SeccompOp, SeccompProfile, SeccompRule } from '../spec/types.js';
import { builtImageName } from '../build/compose.js';
import { readDotenv } from './env.js';
import { detailAt } from './loc.js';
import type { ComposeProject, ComposeService, ComposeVolumeMount, DependsOnCondition } from './model.js';

export interface ServiceExtras {
  /** The compose service name (also the spec's name). */
  service: string;
  /** container_name, or `<project>-<service>-1` as Compose names it. */
  containerName: string;
  /** The image the service names (not pulled yet unless images are enabled). */
  image?: string;
  /** Services to wait for before starting, and for what. */
  dependsOn: { service: string; condition: DependsOnCondition; restart: boolean; required: boolean }[];
  /** bridge = the project networks below; none = a net namespace with loopback only; host = the host's;
   *  service = join another service's net namespace. */
  networkMode: { kind: 'bridge' } | { kind: 'none' } | { kind: 'host' } | { kind: 'service'; service: string };
  /** Project networks this service joins (empty unless networkMode is bridge). */
  networks: { name: string; fullName: string; aliases: string[]; ipv4Address?: string; ipv6Address?: string; priority?: number }[];
  /** Published ports: host → container. */
  ports: { target: number; published?: string; hostIp?: string; protocol: string }[];
  /** Ports reachable from the project's other services only. */
  expose: { port: number; protocol: string }[];
  /** /etc/hosts entries. */
  extraHosts: { host: string; ip: string }[];
  /** Compose `links` (SERVICE or SERVICE:ALIAS): the alias names that service in this container's /etc/hosts only. */
  links: { service: string; alias: string }[];
  dns: string[];
  dnsSearch: string[];
  labels: Record<string, string>;
  /** Volumes niwa must create under its data root before starting (named and anonymous). */
  volumes: { name: string; fullName: string; hostPath: string; target: string; external: boolean; anonymous: boolean }[];
  /** Bind sources from the short syntax that Compose creates when missing. */
  bindDirsToCreate: string[];
  /** Secrets and configs given by value (environment, content): written by `up`, mounted read-only. */
  filesToWrite: { path: string; content: string }[];
  profiles: string[];
  /** Replicas asked for (scale / deploy.replicas): the containers `up` runs (`--scale` overrides it). */
  replicas: number;
  stdinOpen: boolean;
}

export interface MapOptions {
  project: ComposeProject;
  /** The merged data with locations (for warnings). */
  root: unknown;
  /** Interpolation environment (for `environment: [VAR]` with no value, and env_file interpolation). */
  env: Record<string, string>;
  /** Where named volumes live: <dataRoot>/volumes/<full name>. */
  dataRoot: string;
  /** 'image' (default): rootfs {image}, pulled as pull_policy says. 'host': a service with `image:` runs on x-niwa-rootfs or the embedded host rootfs, with a warning. */
  images: 'host' | 'image';
  /** File of the service, for messages without a location. */
  file: string;
}

export interface Mapped {
  spec: ContainerSpec;
  extras: ServiceExtras;
  warnings: ErrorDetail[];
  errors: ErrorDetail[];
  /** Spec field prefix → compose path, to relocate errors from the container loader. */
  fieldMap: [string, (string | number)[]][];
  /** false when the spec cannot run yet (e.g. an image with no command); canonicalisation is skipped. */
  runnable: boolean;
  /** Host paths the loader may treat as existing (volumes created at start). */
  createdPaths: string[];
}

type Rule = 'mapped' | 'extra' | 'meta' | string;

/**
 * Every service key: 'mapped' (into the ContainerSpec), 'extra' (ServiceExtras), 'meta' (consumed by the
 * loader), or the warning text for a key niwa does not support.
 */
export const KEYS: Record<string, Rule> = {
  image: 'mapped', command: 'mapped', entrypoint: 'mapped', environment: 'mapped', env_file: 'mapped', volumes: 'mapped',
  tmpfs: 'mapped', working_dir: 'mapped', user: 'mapped', group_add: 'mapped', hostname: 'mapped', domainname: 'mapped', read_only: 'mapped',
  cap_add: 'mapped', cap_drop: 'mapped', privileged: 'mapped', security_opt: 'mapped', ulimits: 'mapped', sysctls: 'mapped',
  mem_limit: 'mapped', mem_reservation: 'mapped', memswap_limit: 'mapped', cpus: 'mapped', cpu_shares: 'mapped', cpu_period: 'mapped',
  cpu_quota: 'mapped', cpuset: 'mapped', pids_limit: 'mapped', deploy: 'mapped', init: 'mapped', stop_signal: 'mapped', stop_grace_period: 'mapped',
  healthcheck: 'mapped', restart: 'mapped', tty: 'mapped', oom_score_adj: 'mapped', pid: 'mapped', ipc: 'mapped', uts: 'mapped',
  annotations: 'mapped', network_mode: 'mapped', devices: 'mapped',
  depends_on: 'extra', networks: 'extra', links: 'extra', ports: 'extra', expose: 'extra', extra_hosts: 'extra', labels: 'extra', dns: 'extra',
  dns_search: 'extra', container_name: 'extra', scale: 'extra', stdin_open: 'extra', profiles: 'extra',
  extends: 'meta', 'x-niwa-rootfs': 'meta', label_file: 'meta',
  build: 'mapped', // built by src/build (compose.ts) into the image the service runs on
  develop: 'meta', // develop.watch: niwa compose watch (src/build/watch.ts)
  device_cgroup_rules: 'device cgroup rules are not supported',
  gpus: 'GPU access is not supported',
  logging: 'logging drivers are not supported; niwa keeps each container\'s output in its own log',
  platform: 'platform is not used: niwa runs native binaries only',
  pull_policy: 'mapped',
  secrets: 'mapped', configs: 'mapped', shm_size: 'mapped',
  external_links: 'external_links are not supported',
  volumes_from: 'volumes_from is not supported; name the volumes in each service',
  cgroup_parent: 'cgroup_parent is not supported: niwa places containers under niwa/<project>/<service>',
  cgroup: 'cgroup (namespace mode) is not supported',
  runtime: 'runtime is not used: niwa is the runtime',
  isolation: 'isolation is a Windows option',
  mac_address: 'mac_address is not supported',
  storage_opt: 'storage_opt is not supported',
  blkio_config: 'blkio_config is not supported yet',
  cpu_count: 'cpu_count is a Windows option',
  cpu_percent: 'cpu_percent is a Windows option',
  cpu_rt_period: 'real-time CPU scheduling is not supported',
  cpu_rt_runtime: 'real-time CPU scheduling is not supported',
  credential_spec: 'credential_spec is a Windows option',
  mem_swappiness: 'mem_swappiness is not supported',
  oom_kill_disable: 'oom_kill_disable is not supported',
  userns_mode: 'userns_mode is not supported; use niwa\'s user namespace in a niwa spec',
  attach: 'attach is not used: niwa shows every service\'s output',
  post_start: 'post_start hooks are not supported yet',
  pre_stop: 'pre_stop hooks are not supported yet',
  dns_opt: 'dns_opt is not supported',
  provider: 'provider services are not supported',
  use_api_socket: 'use_api_socket is not supported',
  models: 'models are not supported',
  version: 'meta',
};

const CONDITIONS: DependsOnCondition[] = ['service_started', 'service_healthy', 'service_completed_successfully'];

/** Split a command string as a POSIX shell would into words (quotes, backslashes), without running a shell. */
export function shellSplit(s: string): string[] | undefined {
  const out: string[] = [];
  let cur = '';
  let has = false;
  let i = 0;
  while (i < s.length) {
    const c = s[i];
    if (/\s/.test(c)) { if (has) { out.push(cur); cur = ''; has = false; } i++; continue; }
    has = true;
    if (c === "'") {
      const j = s.indexOf("'", i + 1);
      if (j < 0) return undefined;
      cur += s.slice(i + 1, j);
      i = j + 1;
    } else if (c === '"') {
      i++;
      for (;;) {
        if (i >= s.length) return undefined;
        if (s[i] === '"') { i++; break; }
        if (s[i] === '\\' && i + 1 < s.length && '"\\$`\n'.includes(s[i + 1])) { cur += s[i + 1]; i += 2; continue; }
        cur += s[i++];
      }
    } else if (c === '\\' && i + 1 < s.length) { cur += s[i + 1]; i += 2; }
    else { cur += c; i++; }
  }
  if (has) out.push(cur);
  return out;
}

const truthy = (v: unknown) => v === true || v === 'true' || v === 'True' || v === 'yes' || v === '1';
const num = (v: unknown): number | undefined => (typeof v === 'number' ? v : typeof v === 'string' && /^-?\d+(\.\d+)?$/.test(v.trim()) ? Number(v) : undefined);

/** A Docker-format seccomp profile (JSON) → niwa's SeccompProfile. */
export function dockerSeccomp(json: unknown): SeccompProfile | string {
  const j = json as { defaultAction?: string; defaultErrnoRet?: number; syscalls?: { names?: string[]; name?: string; action?: string; errnoRet?: number; args?: { index: number; value: number; valueTwo?: number; op: string }[] }[] };
  const action = (a: string | undefined): SeccompAction | undefined => ({
    SCMP_ACT_ALLOW: 'allow', SCMP_ACT_ERRNO: 'errno', SCMP_ACT_KILL: 'kill', SCMP_ACT_KILL_THREAD: 'kill', SCMP_ACT_KILL_PROCESS: 'kill_process',
    SCMP_ACT_TRAP: 'trap', SCMP_ACT_LOG: 'log', SCMP_ACT_TRACE: 'trace',
  } as Record<string, SeccompAction>)[a ?? ''];
  const op = (o: string): SeccompOp | undefined => ({ SCMP_CMP_EQ: 'eq', SCMP_CMP_NE: 'ne', SCMP_CMP_LT: 'lt', SCMP_CMP_LE: 'le', SCMP_CMP_GT: 'gt', SCMP_CMP_GE: 'ge', SCMP_CMP_MASKED_EQ: 'masked_eq' } as Record<string, SeccompOp>)[o];
  const def = action(j?.defaultAction);
  if (!def) return `defaultAction ${JSON.stringify(j?.defaultAction)} is not a seccomp action`;
  const p: SeccompProfile = { default_action: def, syscalls: [] };
  if (j.defaultErrnoRet !== undefined) p.default_errno = j.defaultErrnoRet;
  for (const [i, r] of (j.syscalls ?? []).entries()) {
    const a = action(r.action);
    if (!a) return `syscalls[${i}].action ${JSON.stringify(r.action)} is not a seccomp action`;
    const rule: SeccompRule = { names: r.names ?? (r.name ? [r.name] : []), action: a };
    if (r.errnoRet !== undefined) rule.errno = r.errnoRet;
    if (r.args?.length) {
      rule.args = [];
      for (const x of r.args) {
        const o = op(x.op);
        if (!o) return `syscalls[${i}] has an unknown comparison ${JSON.stringify(x.op)}`;
        rule.args.push({ index: x.index, value: x.value, op: o, ...(x.valueTwo ? { value_two: x.valueTwo } : {}) });
      }
    }
    p.syscalls!.push(rule);
  }
  return p;
}

/** What the per-key mappers of serviceToSpec share: the service, the options, and how to report. */
interface Ctx {
  name: string;
  svc: ComposeService;
  o: MapOptions;
  project: ComposeProject;
  P: (...p: (string | number)[]) => (string | number)[];
  warn: (p: (string | number)[], msg: string, hint?: string) => void;
  fail: (p: (string | number)[], msg: string, hint?: string) => void;
  map: (specField: string, ...composePath: (string | number)[]) => void;
  createdPaths: string[];
  /** Errors as they are (an env_file's own, with its line), besides fail's. */
  errors: ErrorDetail[];
}

/** network_mode, pid, ipc, uts → spec.namespaces; returns how the service is networked. */
function mapNamespaces(c: Ctx, spec: ContainerSpec): ServiceExtras['networkMode'] {
  const { svc, project, P, warn, fail, map } = c;
  const ns: Partial<Record<NamespaceKind, NamespaceOptions | boolean>> = { mount: true, uts: true, ipc: true, pid: true, net: true };
  let networkMode: ServiceExtras['networkMode'] = { kind: 'bridge' };
  const nm = svc.network_mode;
  if (nm !== undefined) {
    map('namespaces.net', 'network_mode');
    if (nm === 'host') { ns.net = false; networkMode = { kind: 'host' }; }
    else if (nm === 'none') networkMode = { kind: 'none' };
    else if (nm === 'bridge' || nm === 'default') networkMode = { kind: 'bridge' };
    else if (nm.startsWith('service:')) {
      const other = nm.slice('service:'.length);
      if (!project.services[other]) fail(P('network_mode'), `network_mode refers to service '${other}', which is not defined${project.disabledServices[other] ? ' (it is disabled by profiles)' : ''}`);
      ns.net = { container: other };
      networkMode = { kind: 'service', service: other };
    } else if (nm.startsWith('container:')) warn(P('network_mode'), `network_mode '${nm}' (a container outside the project) is not supported; the service gets its own network`);
    else fail(P('network_mode'), `network_mode ${JSON.stringify(nm)} is not one of none, host, bridge, service:NAME`);
  }
  const shareMode = (key: 'pid' | 'ipc' | 'uts', kind: NamespaceKind) => {
    const v = svc[key];
    if (v === undefined || v === '' || v === 'private' || v === 'shareable') return;
    map(`namespaces.${kind}`, key);
    if (v === 'host') ns[kind] = false;
    else if (v.startsWith('service:')) {
      const other = v.slice('service:'.length);
      if (!project.services[other]) fail(P(key), `${key} refers to service '${other}', which is not defined`);
      ns[kind] = { container: other };
    } else warn(P(key), `${key}: ${JSON.stringify(v)} is not supported; the service gets its own ${kind} namespace`);
  };
  shareMode('pid', 'pid');
  shareMode('ipc', 'ipc');
  shareMode('uts', 'uts');
  if (Object.values(ns).some((v) => v !== true)) spec.namespaces = Object.fromEntries(Object.entries(ns).filter(([, v]) => v !== false)) as ContainerSpec['namespaces'];

  return networkMode;
}

/** volumes (bind, named, anonymous, tmpfs) and tmpfs → mounts, and the volumes and directories up creates. */
function mapVolumes(c: Ctx) {
  const { name, svc, o, project, P, warn, fail, map, createdPaths } = c;
  const mounts: MountSpec[] = [];
  const extrasVolumes: ServiceExtras['volumes'] = [];
  const bindDirsToCreate: string[] = [];
  const filesToWrite: ServiceExtras['filesToWrite'] = [];
  (svc.volumes ?? []).forEach((v: ComposeVolumeMount, i) => {
    const at = mounts.length;
    const field = P('volumes', i);
    if (v.type === 'bind') {
      if (!v.source) { fail([...field, 'source'], 'a bind volume needs a source'); return; }
      const m: MountSpec = { type: 'bind', source: v.source, target: v.target };
      if (v.read_only) m.readonly = true;
      if (v.bind?.propagation) m.propagation = v.bind.propagation as never;
      if (v.bind?.create_host_path) { bindDirsToCreate.push(v.source); createdPaths.push(v.source); }
      mounts.push(m);
    } else if (v.type === 'volume') {
      const anonymous = !v.source;
      const key = v.source ?? `anon-${createHash('sha256').update(`${name}\0${v.target}`).digest('hex').slice(0, 12)}`;
      const top = v.source ? project.volumes[v.source] : undefined;
      if (v.source && !top) { fail([...field], `refers to volume '${v.source}', which the top-level volumes: does not define`, `add it: volumes: {${v.source}: {}} at the top level (or write ./${v.source} for a host directory)`); return; }
      const external = !!top?.external;
      const fullName = top?.name ?? (typeof top?.external === 'object' ? top.external.name : undefined) ?? (external ? key : `${project.name}_${key}`);
      const hostPath = join(o.dataRoot, 'volumes', fullName);
      const source = v.volume?.subpath ? join(hostPath, v.volume.subpath) : hostPath;
      extrasVolumes.push({ name: key, fullName, hostPath, target: v.target, external, anonymous });
      createdPaths.push(hostPath, source);
      if (top?.driver && top.driver !== 'local') warn(['volumes', v.source!, 'driver'], `volume driver '${top.driver}' is not supported; '${v.source}' is a directory under ${o.dataRoot}/volumes`);
      const m: MountSpec = { type: 'bind', source, target: v.target };
      if (v.read_only) m.readonly = true;
      mounts.push(m);
    } else if (v.type === 'tmpfs') {
      const m: MountSpec = { type: 'tmpfs', target: v.target };
      if (v.tmpfs?.size !== undefined) m.size = v.tmpfs.size;
      if (v.tmpfs?.mode !== undefined) m.mode = typeof v.tmpfs.mode === 'number' ? v.tmpfs.mode.toString(8) : v.tmpfs.mode;
      if (v.read_only) m.readonly = true;
      mounts.push(m);
    } else { warn(field, `volume type '${v.type}' is not supported; ignored`); return; }
    map(`mounts.${at}`, 'volumes', i);
  });
  (svc.tmpfs ?? []).forEach((t, i) => {
    const [target, opts = ''] = t.split(/:(.*)/s);
    const m: MountSpec = { type: 'tmpfs', target };
    const extra: string[] = [];
    for (const opt of opts.split(',').filter(Boolean)) {
      const [k, v] = opt.split('=');
      if (k === 'size' && v) m.size = v;
      else if (k === 'mode' && v) m.mode = v;
      else if (k === 'ro') m.readonly = true;
      else if (k !== 'rw') extra.push(opt);
    }
    if (extra.length) m.options = extra;
    map(`mounts.${mounts.length}`, 'tmpfs', i);
    mounts.push(m);
  });
  return { mounts, extrasVolumes, bindDirsToCreate, filesToWrite };
}

/** secrets and configs → read-only bind mounts (values given inline are written by up). */
function mapSecretsAndConfigs(c: Ctx, mounts: MountSpec[], filesToWrite: ServiceExtras['filesToWrite']): void {
  const { svc, o, project, P, warn, fail, map, createdPaths } = c;
  // --- secrets and configs: the file (or an environment variable's value, written to a file under
  // the data root) bind-mounted read-only at /run/secrets/<name> (secrets) or /<name> (configs) ---
  for (const kind of ['secrets', 'configs'] as const) {
    const refs = (svc[kind] ?? []) as (string | { source: string; target?: string; mode?: number | string; uid?: string; gid?: string })[];
    refs.forEach((ref, i) => {
      const r = typeof ref === 'string' ? { source: ref } : ref;
      const own = typeof ref === 'object' ? [ref.uid !== undefined && `uid ${ref.uid}`, ref.gid !== undefined && `gid ${ref.gid}`, typeof ref.mode === 'number' && `mode 0${ref.mode.toString(8)}`].filter(Boolean) : [];
      if (own.length) warn(P(kind, i), `${own.join(', ')}: not applied; the file is mounted read-only with the owner and mode it has on the host`);
      const top = (project[kind] ?? {})[r.source] as { file?: string; environment?: string; content?: string; external?: unknown } | undefined;
      const field = P(kind, i);
      if (!top) { fail(field, `refers to ${kind.slice(0, -1)} '${r.source}', which the top-level ${kind}: does not define`, `add it: ${kind}: {${r.source}: {file: ./${r.source}.txt}} at the top level`); return; }
      let source: string;
      if (top.file) source = isAbsolute(top.file) ? top.file : join(project.workingDir, top.file);
      else if (top.environment !== undefined || top.content !== undefined) {
        // The value goes into a file of this project's data (written by `up`, not while loading),
        // mounted like a file-based one.
        source = join(o.dataRoot, kind, project.name, r.source);
        const value = top.content ?? o.env[top.environment!] ?? '';
        if (top.environment !== undefined && o.env[top.environment] === undefined) warn(field, `${kind.slice(0, -1)} '${r.source}' takes its value from \$${top.environment}, which is not set: it is empty`);
        if (!filesToWrite.some((f) => f.path === source)) filesToWrite.push({ path: source, content: value });
        createdPaths.push(source);
      } else { warn(field, `${kind.slice(0, -1)} '${r.source}' is external or has no file/environment/content: not supported; ignored`); return; }
      const target = r.target ? (r.target.startsWith('/') ? r.target : (kind === 'secrets' ? `/run/secrets/${r.target}` : `/${r.target}`)) : (kind === 'secrets' ? `/run/secrets/${r.source}` : `/${r.source}`);
      map(`mounts.${mounts.length}`, kind, i);
      mounts.push({ type: 'bind', source, target, readonly: true });
    });
  }
}

/** Every key of the service that niwa does not map: one warning each. */
function checkKeys(c: Ctx): void {
  const { svc, P, warn } = c;
  for (const k of Object.keys(svc)) {
    if (k.startsWith('x-')) continue;
    const rule = KEYS[k];
    if (rule === undefined) warn(P(k), `'${k}' is not supported by niwa; ignored`);
    else if (!['mapped', 'extra', 'meta'].includes(rule)) {
      warn(P(k), `${k}: ${rule}; ignored`);
    }
  }
}

/** x-niwa-rootfs, build, image, pull_policy, read_only → spec.rootfs; true when the image is not used (the host rootfs stands in). */
function mapRootfs(c: Ctx, spec: ContainerSpec): boolean {
  const { name, svc, o, project, P, warn, fail, map } = c;
  const rootDir = svc['x-niwa-rootfs'];
  let hostFallback = false;
  if (rootDir) spec.rootfs = rootDir;
  else if (svc.build !== undefined && o.images === 'image') {
    spec.rootfs = { image: builtImageName(project.name, name, svc), pull: 'never' }; // built before loading (compose/index.ts step 12)
    map('rootfs', 'build');
  } else if (svc.image && o.images === 'image') {
    const pull = pullPolicy(svc.pull_policy, (msg) => warn(P('pull_policy'), msg), (msg, hint) => fail(P('pull_policy'), msg, hint));
    spec.rootfs = { image: svc.image, ...(pull ? { pull } : {}) };
    map('rootfs.pull', 'pull_policy');
  } else if (svc.image) {
    hostFallback = true;
    warn(P('image'), `image '${svc.image}' is not used (images are off for this load); the service runs on the embedded host rootfs`, 'set x-niwa-rootfs: DIR to run it on a directory of your own');
  }
  map('rootfs', rootDir ? 'x-niwa-rootfs' : 'image');
  if (truthy(svc.read_only)) {
    spec.rootfs = typeof spec.rootfs === 'string' ? { path: spec.rootfs, readonly: true } : { ...(spec.rootfs ?? {}), readonly: true };
    map('rootfs.readonly', 'read_only');
  }
  return hostFallback;
}

/** entrypoint, command → process.args / process.entrypoint; false when the service has no command to run. */
function mapCommand(c: Ctx, spec: ContainerSpec & { process: ProcessSpec }, native: boolean): boolean {
  const { svc, P, warn, fail, map } = c;
  let runnable = true;
  const words = (v: unknown, key: string): string[] | undefined => {
    if (v === undefined || v === null) return undefined;
    if (Array.isArray(v)) return v.map(String);
    const w = shellSplit(String(v));
    if (!w) { fail(P(key), `unbalanced quotes in ${JSON.stringify(v)}`, 'close every quote, or write the command as a list'); return []; }
    return w;
  };
  const entry = words(svc.entrypoint, 'entrypoint');
  const cmd = words(svc.command, 'command');
  const fromImage = typeof spec.rootfs === 'object' && spec.rootfs.image !== undefined;
  // With an image, command replaces its Cmd and entrypoint its Entrypoint (the loader's image phase
  // combines them as Docker does); without one, the two together are the whole command.
  const args = fromImage ? [...(cmd ?? [])] : [...(entry ?? []), ...(cmd ?? [])];
  if (fromImage && entry !== undefined) { spec.process.entrypoint = entry; map('process.entrypoint', 'entrypoint'); }
  map('process.args', svc.command !== undefined ? 'command' : 'entrypoint');
  if (!args.length && !native && !fromImage) {
    runnable = false;
    if (svc.image) warn(P('image'), `no command: it would come from image '${svc.image}', which niwa cannot read yet; this service cannot start`, 'give command: (and entrypoint:) explicitly');
    else if (svc.build !== undefined) warn(P('build'), 'a build-only service: images are not used for this load, so this service cannot start (the others can)', 'give it x-niwa-rootfs: and command:');
    else fail(P(), 'the service has no command', 'give command: [...] (niwa has no image to take a default from)');
  }
  if (args.length || !fromImage) spec.process.args = args;
  else delete spec.process.args;
  return runnable;
}

/** env_file, environment → process.env: env_file entries first, then environment over them; VAR without a value from the shell. */
function mapEnvironment(c: Ctx, spec: ContainerSpec & { process: ProcessSpec }): void {
  const { svc, o, P, map, errors } = c;
  const env: Record<string, string> = {};
  (svc.env_file ?? []).forEach((f, i) => {
    const r = readDotenv(f.path, (n) => env[n] ?? o.env[n], !f.required);
    if (r.missing && !f.required) return;
    for (const e of r.errors) errors.push(e.line ? e : detailAt(o.root, P('env_file', i), e.message, 'env_file paths are relative to the project directory', o.file));
    for (const [k, v] of Object.entries(r.env)) {
      if (v !== null) env[k] = v;
      else if (o.env[k] !== undefined) env[k] = o.env[k];
    }
  });
  for (const [k, v] of Object.entries(svc.environment ?? {})) {
    if (v !== null && v !== undefined) env[k] = String(v);
    else if (o.env[k] !== undefined) env[k] = o.env[k];
  }
  if (Object.keys(env).length) spec.process.env = env;
  map('process.env', 'environment');
}

/** working_dir, user, group_add, tty, init, hostname, domainname → process and identity fields. */
function mapIdentity(c: Ctx, spec: ContainerSpec & { process: ProcessSpec }, hostFallback: boolean): void {
  const { svc, P, warn, map } = c;
  if (svc.working_dir) { spec.process.cwd = svc.working_dir; map('process.cwd', 'working_dir'); }
  if (svc.user !== undefined && svc.user !== '') {
    const [u, g] = String(svc.user).split(':');
    const id = (x: string) => (/^\d+$/.test(x) ? Number(x) : x);
    if (hostFallback && (!/^\d+$/.test(u) || (g !== undefined && !/^\d+$/.test(g)))) {
      warn(P('user'), `user '${svc.user}' names an account of image '${svc.image}', which is not used yet; running as root`, 'give numeric ids (uid:gid), or set x-niwa-rootfs');
    } else {
      spec.process.user = id(u);
      if (g !== undefined && g !== '') spec.process.group = id(g);
      map('process.user', 'user');
      map('process.group', 'user');
    }
  }
  if (Array.isArray(svc.group_add) && svc.group_add.length) {
    spec.process.groups = (svc.group_add as unknown[]).map((g) => (/^\d+$/.test(String(g)) ? Number(g) : String(g)));
    map('process.groups', 'group_add');
  }
  if (truthy(svc.tty)) spec.process.tty = true;
  if (truthy(svc.init)) { spec.process.init = true; map('process.init', 'init'); }
  if (svc.hostname) { spec.hostname = svc.hostname; map('hostname', 'hostname'); }
  if (svc.domainname) { spec.domainname = svc.domainname; map('domainname', 'domainname'); }
}

/** shm_size: a /dev/shm of that size above niwa's default one. */
function mapShm(c: Ctx, mounts: MountSpec[]): void {
  const { svc, map } = c;
  if (svc.shm_size !== undefined) {
    map(`mounts.${mounts.length}`, 'shm_size');
    mounts.push({ type: 'tmpfs', target: '/dev/shm', size: svc.shm_size as string | number, mode: '1777' });
  }
}

/** cap_add, cap_drop, privileged, security_opt → capabilities, seccomp, no_new_privs, masked paths. */
function mapPrivileges(c: Ctx, spec: ContainerSpec): void {
  const { svc, project, P, warn, fail, map } = c;
  // --- privileges ---
  const caps: NonNullable<ContainerSpec['capabilities']> = {};
  if (svc.cap_add?.length) { caps.add = svc.cap_add; map('capabilities.add', 'cap_add'); }
  if (svc.cap_drop?.length) { caps.drop = svc.cap_drop; map('capabilities.drop', 'cap_drop'); }
  if (truthy(svc.privileged)) {
    warn(P('privileged'), 'privileged: the container gets every capability, no seccomp filter, no masked or read-only /proc paths, and may gain privileges', 'grant only what it needs with cap_add instead');
    caps.allow = ['ALL'];
    spec.seccomp = 'unconfined';
    spec.no_new_privs = false;
    spec.masked_paths = [];
    spec.readonly_paths = [];
    map('capabilities', 'privileged');
  }
  if (Object.keys(caps).length) spec.capabilities = caps;
  (svc.security_opt ?? []).forEach((opt, i) => {
    const m = /^([a-z-]+)(?:[:=](.*))?$/s.exec(opt);
    const [k, v] = m ? [m[1], m[2]] : [opt, undefined];
    if (k === 'no-new-privileges') {
      if (v !== undefined && v !== 'true' && v !== 'false') { fail(P('security_opt', i), `no-new-privileges takes true or false, not ${JSON.stringify(v)}`); return; }
      spec.no_new_privs = v !== 'false';
      map('no_new_privs', 'security_opt', i);
    } else if (k === 'seccomp') {
      map('seccomp', 'security_opt', i);
      if (v === 'unconfined') spec.seccomp = 'unconfined';
      else if (!v) fail(P('security_opt', i), 'seccomp needs a value: unconfined or a profile file');
      else {
        const path = v.startsWith('/') ? v : join(project.workingDir, v);
        try {
          const p = dockerSeccomp(JSON.parse(readFileSync(path, 'utf8')));
          if (typeof p === 'string') fail(P('security_opt', i), `seccomp profile ${path}: ${p}`);
          else spec.seccomp = p;
        } catch (e) {
          fail(P('security_opt', i), `cannot read seccomp profile ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, 'a Docker-format JSON profile, relative to the project directory');
        }
      }
    } else warn(P('security_opt', i), `security_opt '${opt}' is not supported; ignored`, 'niwa understands no-new-privileges and seccomp');
  });

}

/** ulimits, sysctls → rlimits, sysctls. */
function mapKernelLimits(c: Ctx, spec: ContainerSpec): void {
  const { svc, map } = c;
  // --- limits ---
  if (svc.ulimits) {
    const rl: Record<string, RlimitValue> = {};
    for (const [k, v] of Object.entries(svc.ulimits)) {
      const lim = (x: unknown): number | 'unlimited' => (x === -1 || x === '-1' || x === 'unlimited' ? 'unlimited' : (num(x) ?? 0));
      rl[k] = typeof v === 'object' ? { soft: lim(v.soft), hard: lim(v.hard) } : lim(v);
      map(`rlimits.${k}`, 'ulimits', k);
    }
    spec.rlimits = rl;
  }
  if (svc.sysctls && Object.keys(svc.sysctls).length) {
    spec.sysctls = { ...svc.sysctls };
    for (const k of Object.keys(svc.sysctls)) map(`sysctls.${k}`, 'sysctls', k);
  }
}

/** devices: "HOST[:CONTAINER[:PERMISSIONS]]" or {source, target, permissions} → spec.devices. */
function mapDevices(c: Ctx, spec: ContainerSpec): void {
  const { svc, P, fail, map } = c;
  if (Array.isArray(svc.devices) && svc.devices.length) {
    spec.devices = [];
    (svc.devices as unknown[]).forEach((d, i) => {
      const o = typeof d === 'string' ? (() => { const [source, target, permissions] = d.split(':'); return { source, target, permissions }; })() : (d ?? {}) as { source?: string; target?: string; permissions?: string };
      if (!o.source) { fail(P('devices', i), 'a device needs a host path', 'write it as /dev/fuse or /dev/fuse:/dev/fuse:rwm'); return; }
      spec.devices!.push({ path: o.source, ...(o.target && o.target !== o.source ? { container_path: o.target } : {}), ...(o.permissions ? { permissions: o.permissions } : {}) });
      map(`devices.${spec.devices!.length - 1}`, 'devices', i);
    });
  }
}

/** mem_limit, cpus, pids_limit, cpu_*, cpuset (or deploy.resources) → spec.cgroup; oom_score_adj. */
function mapResources(c: Ctx, spec: ContainerSpec): void {
  const { svc, P, warn, map } = c;
  const limits = svc.deploy?.resources?.limits ?? {};
  const res = svc.deploy?.resources?.reservations ?? {};
  const cg: NonNullable<ContainerSpec['cgroup']> = {};
  const pick = <T>(key: string, direct: T | undefined, deployKey: string, fromDeploy: T | undefined): T | undefined => {
    if (direct !== undefined && fromDeploy !== undefined && String(direct) !== String(fromDeploy)) warn(P(key), `${key} (${direct}) and deploy.resources.${deployKey} (${fromDeploy}) differ; using ${key}`);
    if (direct !== undefined) map(cgField(key), key);
    else if (fromDeploy !== undefined) map(cgField(key), 'deploy', 'resources', ...deployKey.split('.'));
    return direct ?? fromDeploy;
  };
  const cgField = (key: string) => `cgroup.${({ mem_limit: 'memory', mem_reservation: 'memory_reservation', memswap_limit: 'memory_swap', cpus: 'cpus', pids_limit: 'pids' } as Record<string, string>)[key] ?? key}`;
  const mem = pick('mem_limit', svc.mem_limit, 'limits.memory', limits.memory);
  if (mem !== undefined) cg.memory = size(mem);
  const memRes = pick('mem_reservation', svc.mem_reservation, 'reservations.memory', res.memory);
  if (memRes !== undefined) cg.memory_reservation = size(memRes);
  if (svc.memswap_limit !== undefined) { cg.memory_swap = size(svc.memswap_limit); map('cgroup.memory_swap', 'memswap_limit'); }
  const cpus = pick('cpus', svc.cpus, 'limits.cpus', limits.cpus);
  if (cpus !== undefined && Number(cpus) > 0) cg.cpus = num(cpus) ?? (cpus as string);
  if (svc.cpu_shares !== undefined) { cg.cpu_shares = Number(svc.cpu_shares); map('cgroup.cpu_shares', 'cpu_shares'); }
  if (svc.cpu_period !== undefined) { cg.cpu_period = Number(svc.cpu_period); map('cgroup.cpu_period', 'cpu_period'); }
  if (svc.cpu_quota !== undefined && cg.cpus === undefined) {
    const period = Number(svc.cpu_period ?? 100000);
    cg.cpus = Number(svc.cpu_quota) / period;
    map('cgroup.cpus', 'cpu_quota');
  }
  if (svc.cpuset) { cg.cpuset_cpus = String(svc.cpuset); map('cgroup.cpuset_cpus', 'cpuset'); }
  const pids = pick('pids_limit', svc.pids_limit, 'limits.pids', limits.pids);
  if (pids !== undefined && Number(pids) > 0) cg.pids = Number(pids);
  if (Object.keys(cg).length) spec.cgroup = cg;
  if (svc.oom_score_adj !== undefined) { spec.oom_score_adj = Number(svc.oom_score_adj); map('oom_score_adj', 'oom_score_adj'); }

}

/** stop_signal, stop_grace_period, healthcheck, restart (or deploy.restart_policy), annotations. */
function mapLifecycle(c: Ctx, spec: ContainerSpec): void {
  const { svc, o, P, warn, fail, map } = c;
  // --- lifecycle ---
  if (svc.stop_signal) { spec.stop_signal = svc.stop_signal; map('stop_signal', 'stop_signal'); }
  if (svc.stop_grace_period) { spec.stop_grace_period = svc.stop_grace_period; map('stop_grace_period', 'stop_grace_period'); }
  const hc = svc.healthcheck;
  if (hc && !truthy(hc.disable) && !(hc.test && hc.test[0] === 'NONE')) {
    const h: NonNullable<ContainerSpec['healthcheck']> = {};
    const t = hc.test;
    if (!t || !t.length) { if (!svc.image || o.images !== 'image') warn(P('healthcheck'), 'healthcheck without test: the test would come from the image; no health check is run'); }
    else if (t[0] === 'CMD') h.test = t.slice(1);
    else if (t[0] === 'CMD-SHELL') h.test = t.slice(1).join(' ');
    else fail(P('healthcheck', 'test'), `a healthcheck test starts with CMD, CMD-SHELL or NONE, not ${JSON.stringify(t[0])}`, 'e.g. test: ["CMD", "pg_isready"] or test: "curl -f http://localhost/"');
    if (h.test !== undefined) {
      for (const k of ['interval', 'timeout', 'start_period'] as const) if (hc[k] !== undefined) h[k] = hc[k];
      if (hc.retries !== undefined) h.retries = Number(hc.retries);
      if (hc.start_interval !== undefined) warn(P('healthcheck', 'start_interval'), 'healthcheck.start_interval is not supported; interval applies from the start');
      spec.healthcheck = h;
      map('healthcheck', 'healthcheck');
    }
  }
  const restart = svc.restart ?? deployRestart(svc, warn, P);
  if (restart !== undefined) {
    if (/^(no|always|unless-stopped|on-failure(:\d+)?)$/.test(restart)) spec.restart = restart as ContainerSpec['restart'];
    else fail(P('restart'), `restart ${JSON.stringify(restart)} is not one of no, always, on-failure[:N], unless-stopped`);
    map('restart', 'restart');
  }
  if (svc.annotations && Object.keys(svc.annotations).length) { spec.annotations = { ...svc.annotations }; map('annotations', 'annotations'); }

}

/** depends_on, links (and volumes_from, which must name a service): the service's place among the others. */
function mapDependencies(c: Ctx): Pick<ServiceExtras, 'dependsOn' | 'links'> {
  const { svc, project, P, warn, fail } = c;
  // --- compose-level extras ---
  const dependsOn = Object.entries(svc.depends_on ?? {}).map(([service, d]) => {
    if (!CONDITIONS.includes(d.condition)) fail(P('depends_on', service, 'condition'), `unknown condition ${JSON.stringify(d.condition)}`, `one of ${CONDITIONS.join(', ')}`);
    if (!project.services[service]) {
      if (d.required === false) warn(P('depends_on', service), `depends on '${service}', which is not defined; not required, so ignored`);
      else fail(P('depends_on', service), `depends on undefined service '${service}'`, `services: ${Object.keys(project.services).join(', ')}`);
    }
    return { service, condition: d.condition, restart: d.restart === true, required: d.required !== false };
  }).filter((d) => project.services[d.service]);
  const links = (Array.isArray(svc.links) ? svc.links : []).flatMap((v, i) => {
    const [service, alias = service] = String(v).split(':');
    if (project.services[service]) return [{ service, alias }];
    fail(P('links', i), `links to service '${service}', which is not defined${project.disabledServices[service] ? ' (it is disabled by profiles)' : ''}`, `services: ${Object.keys(project.services).join(', ')}`);
    return [];
  });
  // volumes_from (not supported, warned above) must still name a service of the project, as in Compose
  (Array.isArray(svc.volumes_from) ? svc.volumes_from : []).forEach((v, i) => {
    const s = String(v);
    if (s.startsWith('container:')) return;
    const other = s.replace(/^service:/, '').replace(/:(ro|rw)$/, '');
    if (!project.services[other]) fail(P('volumes_from', i), `volumes_from names service '${other}', which is not defined${project.disabledServices[other] ? ' (it is disabled by profiles)' : ''}`, `services: ${Object.keys(project.services).join(', ')}`);
  });
  return { dependsOn, links };
}

/** networks, ports, expose, extra_hosts: how the service is reached on the project's networks. */
function mapNetworks(c: Ctx, networkMode: ServiceExtras['networkMode']): Pick<ServiceExtras, 'networks' | 'ports' | 'expose' | 'extraHosts'> {
  const { svc, project, P, warn, fail } = c;
  const nm = svc.network_mode;
  const networks: ServiceExtras['networks'] = [];
  if (networkMode.kind === 'bridge') {
    const given = svc.networks ?? { default: null };
    for (const [net, cfg] of Object.entries(given)) {
      const top = project.networks[net];
      if (!top) { fail(P('networks', net), `refers to network '${net}', which the top-level networks: does not define`, `add it: networks: {${net}: {}} at the top level`); continue; }
      const fullName = top.name ?? (typeof top.external === 'object' ? top.external.name : undefined) ?? (top.external ? net : `${project.name}_${net}`);
      const e: ServiceExtras['networks'][number] = { name: net, fullName, aliases: [...(cfg?.aliases ?? [])] };
      if (cfg?.ipv4_address) e.ipv4Address = cfg.ipv4_address;
      if (cfg?.ipv6_address) e.ipv6Address = cfg.ipv6_address;
      if (cfg?.priority !== undefined) e.priority = Number(cfg.priority);
      networks.push(e);
    }
  } else if (svc.networks && Object.keys(svc.networks).length) {
    fail(P('networks'), `networks cannot be combined with network_mode ${nm}`, 'remove one of them');
  }
  const ports = (svc.ports ?? []).map((p) => ({ target: p.target, ...(p.published !== undefined ? { published: p.published } : {}), ...(p.host_ip ? { hostIp: p.host_ip } : {}), protocol: p.protocol ?? 'tcp' }));
  if (ports.length && networkMode.kind !== 'bridge') warn(P('ports'), `ports are not published with network_mode ${nm}`, nm === 'host' ? 'the service already listens on the host\'s network' : undefined);
  const expose = (svc.expose ?? []).flatMap((e, i) => {
    const m = /^(\d+)(?:-(\d+))?(?:\/(\w+))?$/.exec(e);
    if (!m) { fail(P('expose', i), `${JSON.stringify(e)} is not a port, range or port/protocol`); return []; }
    const a = Number(m[1]);
    const b = m[2] ? Number(m[2]) : a;
    return Array.from({ length: Math.max(0, b - a + 1) }, (_, j) => ({ port: a + j, protocol: m[3] ?? 'tcp' }));
  });
  const extraHosts = Object.entries(svc.extra_hosts ?? {}).flatMap(([host, ips]) => ips.map((ip) => ({ host, ip })));
  return { networks, ports, expose, extraHosts };
}

/** scale / deploy.replicas → the replicas up runs; the other deploy keys are warned about. */
function mapDeploy(c: Ctx): number {
  const { svc, P, warn, fail } = c;
  const limits = svc.deploy?.resources?.limits ?? {};
  const res = svc.deploy?.resources?.reservations ?? {};
  let replicas = 1;
  const scale = svc.scale ?? svc.deploy?.replicas;
  if (scale !== undefined) {
    replicas = Number(scale);
    if (!(Number.isInteger(replicas) && replicas >= 0)) { fail(P(svc.scale !== undefined ? 'scale' : 'deploy'), `${JSON.stringify(scale)} is not a number of replicas (0, 1, 2, …)`); replicas = 1; }
  }
  for (const k of Object.keys(svc.deploy ?? {})) {
    if (!['resources', 'replicas', 'restart_policy', 'mode', 'labels'].includes(k)) warn(P('deploy', k), `deploy.${k} is for swarm orchestration; ignored`);
  }
  for (const k of Object.keys(svc.deploy?.resources ?? {})) if (!['limits', 'reservations'].includes(k)) warn(P('deploy', 'resources', k), `deploy.resources.${k} is not supported; ignored`);
  for (const k of Object.keys(limits)) if (!['cpus', 'memory', 'pids'].includes(k)) warn(P('deploy', 'resources', 'limits', k), `deploy.resources.limits.${k} is not supported; ignored`);
  for (const k of Object.keys(res)) if (!['memory', 'cpus'].includes(k)) warn(P('deploy', 'resources', 'reservations', k), `deploy.resources.reservations.${k} is not supported; ignored`);
  if ((res as { cpus?: unknown }).cpus !== undefined) warn(P('deploy', 'resources', 'reservations', 'cpus'), 'a CPU reservation cannot be enforced locally; ignored');

  return replicas;
}

/** Map one service. Pure apart from reading env_file and seccomp profile files. */
export function serviceToSpec(name: string, svc: ComposeService, o: MapOptions, native?: Record<string, unknown>): Mapped {
  const warnings: ErrorDetail[] = [];
  const errors: ErrorDetail[] = [];
  const fieldMap: [string, (string | number)[]][] = [];
  const createdPaths: string[] = [];
  const P = (...p: (string | number)[]) => ['services', name, ...p];
  const warn = (p: (string | number)[], msg: string, hint?: string) => warnings.push(detailAt(o.root, p, msg, hint, o.file));
  const fail = (p: (string | number)[], msg: string, hint?: string) => errors.push(detailAt(o.root, p, msg, hint, o.file));
  const map = (specField: string, ...composePath: (string | number)[]) => fieldMap.push([specField, P(...composePath)]);
  const project = o.project;
  const c: Ctx = { name, svc, o, project, P, warn, fail, map, createdPaths, errors };

  checkKeys(c);
  const spec: ContainerSpec & { process: ProcessSpec } = { name, process: { args: [] } };
  const hostFallback = mapRootfs(c, spec);
  const runnable = mapCommand(c, spec, Boolean(native));
  mapEnvironment(c, spec);
  mapIdentity(c, spec, hostFallback);
  let networkMode = mapNamespaces(c, spec);
  const { mounts, extrasVolumes, bindDirsToCreate, filesToWrite } = mapVolumes(c);
  mapSecretsAndConfigs(c, mounts, filesToWrite);
  mapShm(c, mounts);
  if (mounts.length) spec.mounts = mounts;
  mapPrivileges(c, spec);
  mapKernelLimits(c, spec);
  mapDevices(c, spec);
  mapResources(c, spec);
  mapLifecycle(c, spec);
  const { dependsOn, links } = mapDependencies(c);
  const { networks, ports, expose, extraHosts } = mapNetworks(c, networkMode);
  const replicas = mapDeploy(c);

  if (native) {
    // niwa's own form: the container spec is given whole; only the compose-level keys were read above.
    const nsSpec = native.namespaces as ContainerSpec['namespaces'] | undefined;
    const net = nsSpec === undefined ? true : Array.isArray(nsSpec) ? nsSpec.includes('net') : (nsSpec as Record<string, unknown>).net;
    if (!net) networkMode = { kind: 'host' };
    else if (typeof net === 'object' && typeof (net as NamespaceOptions).container === 'string') networkMode = { kind: 'service', service: (net as NamespaceOptions).container! };
    if (networkMode.kind !== 'bridge') networks.length = 0;
  }
  const extras: ServiceExtras = {
    service: name,
    containerName: svc.container_name ?? `${project.name}-${name}-1`,
    ...(svc.image ? { image: svc.image } : {}),
    dependsOn,
    networkMode,
    networks,
    ports,
    expose,
    extraHosts,
    links,
    dns: [...(svc.dns ?? [])],
    dnsSearch: [...(svc.dns_search ?? [])],
    labels: { ...(svc.labels ?? {}) },
    volumes: extrasVolumes,
    bindDirsToCreate,
    filesToWrite,
    profiles: [...(svc.profiles ?? [])],
    replicas,
    stdinOpen: truthy(svc.stdin_open),
  };
  if (native) return { spec: native as unknown as ContainerSpec, extras, warnings, errors, fieldMap: [], runnable: true, createdPaths };
  return { spec, extras, warnings, errors, fieldMap, runnable, createdPaths };
}

function size(v: number | string): number | string {
  if (typeof v === 'number') return v;
  const t = v.trim();
  return /^\d+$/.test(t) ? Number(t) : t;
}

/** deploy.restart_policy → a restart policy string. */
function deployRestart(svc: ComposeService, warn: (p: (string | number)[], m: string) => void, P: (...p: (string | number)[]) => (string | number)[]): string | undefined {
  const rp = svc.deploy?.restart_policy as { condition?: string; max_attempts?: number | string; delay?: string; window?: string } | undefined;
  if (!rp) return undefined;
  if (rp.delay !== undefined || rp.window !== undefined) warn(P('deploy', 'restart_policy'), 'deploy.restart_policy delay and window are not supported; restarts follow niwa\'s back-off');
  const c = rp.condition ?? 'any';
  if (c === 'none') return 'no';
  if (c === 'on-failure') return rp.max_attempts !== undefined ? `on-failure:${rp.max_attempts}` : 'on-failure';
  return 'always';
}

/** The services each service needs started first: depends_on, links, network_mode/pid/ipc service:X. */
export function dependencyMap(services: Record<string, ComposeService>): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [n, s] of Object.entries(services)) {
    const deps = new Set(Object.keys(s.depends_on ?? {}));
    for (const l of Array.isArray(s.links) ? s.links : []) deps.add(String(l).split(':')[0]);
    for (const k of ['network_mode', 'pid', 'ipc', 'uts'] as const) {
      const v = s[k];
      if (typeof v === 'string' && v.startsWith('service:')) deps.add(v.slice('service:'.length));
    }
    out[n] = [...deps].filter((d) => d in services);
  }
  return out;
}


/** compose pull_policy → the spec's rootfs.pull (undefined: the default, missing). */
function pullPolicy(v: unknown, warn: (msg: string) => void, fail: (msg: string, hint?: string) => void): 'missing' | 'always' | 'never' | undefined {
  if (v === undefined || v === null) return undefined;
  const s = String(v);
  if (s === 'always' || s === 'never' || s === 'missing') return s;
  if (s === 'if_not_present') return 'missing';
  if (s === 'build') { warn('pull_policy: build without build: — there is nothing to build; the image is pulled when missing'); return 'missing'; }
  if (/^(daily|weekly|every_[0-9a-z]+)$/.test(s)) { warn(`pull_policy: ${s} — niwa does not keep pull times per policy; the image is pulled when missing`); return 'missing'; }
  fail(`'${s}' is not a pull policy`, 'use always, missing, never, if_not_present or build');
  return undefined;
}

/** The compose key a spec field came from (`process.cwd` → `services.web.working_dir`), by the longest mapped prefix. */
export function composeKeyOf(fieldMap: [string, (string | number)[]][], service: string, specField: string): string {
  const hit = fieldMap.filter(([p]) => specField === p || specField.startsWith(p + '.') || p === '').sort((a, b) => b[0].length - a[0].length)[0];
  return (hit ? hit[1] : ['services', service]).join('.');
}
