// The ProjectPlan: plain, JSON-serialisable data listing, in order, every action `niwa compose up`
// takes on the host — images, volumes, files, networks (bridge, lease, veth, address, route, hosts,
// resolv.conf), published ports and each service's LaunchPlan — and, apart, what `down` (or a
// rollback) undoes. `niwa compose plan` prints it; runtime/project/ executes it; nothing runs that
// is not here. Every step names the compose key it comes from (`services.web.ports[0]`).
import type { LaunchPlan, Op } from '../types.js';
import type { CanonicalMount, CanonicalNamespace, CanonicalSpec, ContainerSpec } from '../../spec/types.js';
import type { HostFacts } from '../types.js';
import type { DeferredLoad, ServiceExtras } from '../../compose/index.js';
import type { BuildRequest } from '../../build/index.js';
import type { PortMapping } from '../../runtime/net/ports.js';

/** What a service's containers become when the plan runs. */
export type ServiceAction =
  /** nothing of it exists: created */
  | 'create'
  /** an ended container of it exists: removed, then created again */
  | 'replace'
  /** it runs from another configuration: stopped, removed and created again */
  | 'recreate'
  /** it runs from this configuration: left alone */
  | 'running'
  /** it cannot run (no command, an image that could not be resolved, a build with no builder) */
  | 'unrunnable';

export interface ServiceEntry {
  service: string;
  container: string;
  /** Which replica of the service (1…N), when it runs more than one (up --scale, deploy.replicas). */
  replica?: number;
  action: ServiceAction;
  /** Why it cannot run (action unrunnable). */
  reason?: string;
  /** Its depends_on, for the engine's start conditions. */
  dependsOn: { service: string; condition: 'service_started' | 'service_healthy' | 'service_completed_successfully'; required: boolean }[];
  /** The container's addresses by network. */
  addresses: Record<string, string>;
}

/**
 * Project-level operations (the network ones are the LaunchPlan's `ip` and `netns` ops). Each is
 * executed by runtime/project/exec.ts; `undo` ops appear only in teardown.
 */
export type ProjectOp =
  | Extract<Op, { op: 'ip' } | { op: 'netns' }>
  /**
   * An image every listed service runs on: pulled into the store under `dataRoot` (its layers, or,
   * `present`, nothing: it is there whole) before anything starts. `digest` is the manifest the
   * launch plans were compiled against; `layers` and `size` what the pull downloads at most.
   */
  | { op: 'image'; ref: string; name: string; digest?: string; pull: 'missing' | 'always' | 'never'; present: boolean; layers: number; size: number; dataRoot: string; services: string[] }
  /** A build (compose `build:`) by src/build into the store under `dataRoot`, named `image`. */
  | { op: 'build'; service: string; context: string; dockerfile?: string; image: string; request: BuildRequest; dataRoot: string }
  /** A directory (named volume, bind source compose creates when missing); `mode` octal. */
  | { op: 'mkdir'; path: string; mode: number }
  /** A volume with local-driver options: bind `device` there (type none, o bind) or a tmpfs. */
  | { op: 'mount'; source: string; target: string; fstype: string | null; options: string }
  /** A file with this content (secrets/configs by value: 0600 in a 0700 directory; hosts: rewritten in place). */
  | { op: 'file'; path: string; content: string; mode: number; inPlace?: boolean }
  /** Record in the lease database: a network's subnet (no container) or a container's address on it. */
  | { op: 'lease'; network: string; bridge: string; subnet: string; gateway: string; container?: string; address?: string; ifname?: string; veth?: string; netns?: string; aliases?: string[]; hostname?: string; extraHosts?: { host: string; ip: string }[]; links?: { container: string; alias: string }[] }
  /** Rewrite in place the /etc/hosts of every container of the project from the lease database. */
  | { op: 'hosts'; project: string }
  /** Published ports: the supervisor listens on the host and forwards to the container's address. */
  | { op: 'publish'; container: string; address: string; ports: PortMapping[] }
  /**
   * Hand the container's LaunchPlan to the project's supervisor (which publishes its ports first).
   * `deferred`: the plan is compiled by the engine right after step `deferred.after` (the build or
   * pull of its image), from the data the step carries; `plan` and `spec` are absent until then.
   */
  | { op: 'launch'; service: string; container: string; plan?: LaunchPlan; spec?: CanonicalSpec; networks: string[]; deferred?: DeferredLaunch }
  /** Stop (stop signal, then SIGKILL after the grace period) and remove a container. */
  | { op: 'remove'; container: string; stop: boolean; scaledDown?: boolean }
  // teardown only
  | { op: 'release'; network: string; container?: string }
  | { op: 'rm'; path: string; recursive?: boolean }
  | { op: 'umount'; target: string };

/** What the engine needs to compile a launch plan once its image is in the store (plain data). */
export interface DeferredLaunch {
  /** The index of the step that makes the image (a build or an image step), and what it makes. */
  after: number;
  kind: 'build' | 'pull';
  ref: string;
  /** The service's container spec before its image is applied, and how to load it again. */
  input: ContainerSpec;
  load: DeferredLoad;
  /** What the project compiler changes in the loaded spec (name, network namespace, hosts files, …). */
  patch: SpecPatch;
  /** Annotations given to the service's spec after its load (the compose project's: service, files, directory). */
  annotations?: Record<string, string>;
  /** The service's compose settings, for the configuration hash annotation (absent for a one-off). */
  compose?: Omit<ServiceExtras, 'service'>;
  host: HostFacts;
  /** The launch plan's id and project, and the pids of the containers it may join. */
  id: string;
  project: string;
  pids: Record<string, number>;
}

/** The project compiler's changes to a service's canonical spec (pure data; compile.ts patchSpec applies it). */
export interface SpecPatch {
  name: string;
  /** Bind sources that are files the plan writes (secrets, configs by value). */
  fileSources: string[];
  oneOff?: { args?: string[]; env?: Record<string, string>; tty?: boolean; cwd?: string; user?: { name: string; uid?: number; gid?: number; groups?: number[] }; mounts?: CanonicalMount[] };
  /** The hostname when the spec gives none and has its own UTS namespace. */
  defaultHostname: string;
  /** Services whose namespaces it joins → their containers. */
  containers: Record<string, string>;
  net?: CanonicalNamespace;
  mounts: CanonicalMount[];
}

export type ProjectStage = 'images' | 'volumes' | 'networks' | 'service' | 'teardown';

export type ProjectStep = ProjectOp & {
  index: number;
  stage: ProjectStage;
  /** The service whose start runs this step (stage service). */
  service?: string;
  /**
   * What this step makes, for rollback and down: `network:NAME`, `container:NAME`, `volume:NAME`,
   * `file:PATH`. A failed start runs the teardown steps of every unit it touched.
   */
  unit: string;
  /** Compose key that produced it, e.g. services.web.ports[0], networks.back, volumes.site. */
  field: string;
  why: string;
  man?: string;
};

export interface ProjectPlan {
  version: 1;
  project: string;
  stateRoot: string;
  /** Services of this operation, in start order. */
  services: ServiceEntry[];
  /** Start levels (services of a level start in parallel once their conditions are met). */
  levels: string[][];
  steps: ProjectStep[];
  /** What `down` undoes, in order (also the rollback of a failed start, restricted to the units it touched). */
  teardown: ProjectStep[];
  warnings: string[];
}

/** A step before the compiler numbers it. */
export type ProjectStepDraft = ProjectOp & { stage: ProjectStage; service?: string; unit: string; field: string; why: string; man?: string };
