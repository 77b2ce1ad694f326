// The spec model: what a user writes (ContainerSpec, same shape in YAML and the TS DSL)
// and what the loader hands the compiler (CanonicalSpec: defaults applied, units parsed,
// paths absolute). schema/container.schema.json is the source of truth for ContainerSpec;
// test/unit/spec/schema-types.test.ts keeps the two identical.

export const NAMESPACE_KINDS = ['user', 'mount', 'uts', 'ipc', 'pid', 'net', 'cgroup', 'time'] as const;
export type NamespaceKind = (typeof NAMESPACE_KINDS)[number];

/** Options for one namespace. `{}` (or `true`) = a new one; `path` or `container` = join. */
export interface NamespaceOptions {
  /** Join an existing namespace by path, e.g. /proc/123/ns/net. */
  path?: string;
  /** Join the namespace of another niwa container (by name, in the same project). */
  container?: string;
  /** time namespace only: clock offsets in seconds. */
  offsets?: { monotonic?: number; boottime?: number };
}

export type NamespacesSpec =
  | NamespaceKind[]
  | { [K in NamespaceKind]?: NamespaceOptions | boolean | null };

export interface IdMapping {
  container_id: number;
  host_id: number;
  size: number;
}

export type IdRef = string | number;

export interface ProcessSpec {
  /** Required unless rootfs.image gives a command; with an image it replaces the image's Cmd. */
  args?: string[];
  /** With rootfs.image: replaces the image's Entrypoint (and drops its Cmd unless args is given). */
  entrypoint?: string[];
  env?: Record<string, string>;
  cwd?: string;
  user?: IdRef;
  group?: IdRef;
  groups?: IdRef[];
  tty?: boolean;
  /** Run a tiny init as PID 1 that reaps zombies and forwards signals. */
  init?: boolean;
}

export type Propagation = 'private' | 'rprivate' | 'shared' | 'rshared' | 'slave' | 'rslave' | 'unbindable' | 'runbindable';

export interface BindMount {
  type: 'bind';
  source: string;
  target: string;
  readonly?: boolean;
  /** Recursive bind (MS_REC); default true. */
  recursive?: boolean;
  propagation?: Propagation;
  options?: string[];
}
export interface TmpfsMount {
  type: 'tmpfs';
  target: string;
  /** Bytes or a size string like 8M. */
  size?: string | number;
  /** Octal mode as a string ("1777") or a number. */
  mode?: string | number;
  readonly?: boolean;
  options?: string[];
}
export interface SpecialMount {
  type: 'proc' | 'sysfs' | 'devpts' | 'mqueue';
  target: string;
  readonly?: boolean;
  options?: string[];
}
export type MountSpec = BindMount | TmpfsMount | SpecialMount;

/** A host device node given to the container (bound into /dev and allowed by the device cgroup). */
export interface DeviceSpec {
  /** The node on the host, e.g. /dev/fuse. */
  path: string;
  /** Where it appears in the container (default: the same path). */
  container_path?: string;
  /** Any of r, w, m (mknod); default rwm. */
  permissions?: string;
}

export interface CgroupSpec {
  /** Memory limit: bytes or "32M". */
  memory?: string | number;
  /** Soft limit / memory.high (v2) or memory.soft_limit_in_bytes (v1). */
  memory_reservation?: string | number;
  /** Memory + swap limit (like Docker's --memory-swap); -1 = unlimited swap. */
  memory_swap?: string | number;
  /** CPU quota in CPUs, e.g. 0.5. */
  cpus?: number | string;
  /** CFS period in microseconds (default 100000). */
  cpu_period?: number;
  /** v1 cpu.shares (2..262144). */
  cpu_shares?: number;
  /** v2 cpu.weight (1..10000). */
  cpu_weight?: number;
  cpuset_cpus?: string;
  cpuset_mems?: string;
  pids?: number;
  /** v2 io.weight / v1 blkio.weight. */
  io_weight?: number;
  /** Per-device limits: {"8:0": {read_bps: "10M", write_iops: 100}}. */
  io_max?: Record<string, { read_bps?: string | number; write_bps?: string | number; read_iops?: number; write_iops?: number }>;
  /** hugetlb limits per page size: {"2MB": "64M"}. */
  hugetlb?: Record<string, string | number>;
  /** Raw controller files, written as given: {"memory.high": "30M"}. */
  raw?: Record<string, string | number>;
}

export type CapabilityName = string; // CAP_* — validated against the table in src/spec/capabilities.ts

export interface CapabilitySets {
  bounding?: CapabilityName[];
  effective?: CapabilityName[];
  permitted?: CapabilityName[];
  inheritable?: CapabilityName[];
  ambient?: CapabilityName[];
}

export interface CapabilitiesSpec {
  /** Exactly these capabilities (bounding, effective, permitted); replaces the default set. */
  allow?: CapabilityName[];
  /** Add to the default set. */
  add?: CapabilityName[];
  /** Remove from the default (or allow) set. */
  drop?: CapabilityName[];
  /** Set each of the five sets by hand (overrides the above for the sets named). */
  sets?: CapabilitySets;
}

export type RlimitValue = number | 'unlimited' | { soft: number | 'unlimited'; hard: number | 'unlimited' };

export type SeccompAction = 'allow' | 'errno' | 'kill' | 'kill_process' | 'trap' | 'log' | 'trace';
export type SeccompOp = 'eq' | 'ne' | 'lt' | 'le' | 'gt' | 'ge' | 'masked_eq';
export interface SeccompArg {
  index: number;
  value: number;
  /** masked_eq: the mask is `value`, the expected value is `value_two`. */
  value_two?: number;
  op: SeccompOp;
}
export interface SeccompRule {
  names: string[];
  action: SeccompAction;
  /** errno name (EPERM) or number for action errno. */
  errno?: string | number;
  args?: SeccompArg[];
}
export interface SeccompProfile {
  default_action: SeccompAction;
  default_errno?: string | number;
  syscalls?: SeccompRule[];
}
export type SeccompSpec = 'default' | 'unconfined' | SeccompProfile;

export const HOOK_POINTS = [
  // Haconiwa's points
  'before_fork', 'after_fork', 'before_chroot', 'after_chroot', 'before_start', 'after_start', 'teardown', 'system_failure',
  // OCI runtime-spec hooks
  'prestart', 'create_runtime', 'create_container', 'start_container', 'poststart', 'poststop',
] as const;
export type HookPoint = (typeof HOOK_POINTS)[number];

export interface HookContext {
  point: HookPoint;
  name: string;
  pid?: number;
  stateDir: string;
  spec: CanonicalSpec;
}
export type HookFn = (ctx: HookContext) => void | Promise<void>;
export interface HookCommand {
  command: string[] | string;
  optional?: boolean;
  timeout?: number;
}
export type Hook = HookFn | HookCommand | string;

/** A duration: seconds as a number, or a string like "500ms", "5s", "1m30s". */
export type Duration = number | string;

export interface HealthcheckSpec {
  /** A command run inside the container (via exec); exit 0 = healthy. A string runs with /bin/sh -c. */
  test?: string[] | string;
  /** TCP connect to this port on the container's address (or "host:port"). */
  tcp?: number | string;
  /** HTTP GET of this URL; a 2xx/3xx answer = healthy. */
  http?: string;
  interval?: Duration;
  timeout?: Duration;
  retries?: number;
  start_period?: Duration;
}

export type RestartPolicy = 'no' | 'always' | 'on-failure' | `on-failure:${number}` | 'unless-stopped';

/** A provision step (rootfs.provision): built and cached like a Dockerfile's RUN or COPY. */
export type ProvisionStep =
  | { run: string | string[] }
  | { copy: { source: string; target: string; chown?: string; chmod?: string } };

export interface ContainerSpec {
  name: string;
  /** Root filesystem: omitted = the embedded host-derived default; a directory path; or {path|image, readonly}. */
  rootfs?: string | { path?: string; image?: string; readonly?: boolean; pull?: 'missing' | 'always' | 'never'; provision?: ProvisionStep[] };
  root?: 'pivot_root' | 'chroot';
  namespaces?: NamespacesSpec;
  uid_map?: IdMapping[];
  gid_map?: IdMapping[];
  hostname?: string;
  domainname?: string;
  process?: ProcessSpec;
  mounts?: MountSpec[];
  masked_paths?: string[];
  readonly_paths?: string[];
  devices?: DeviceSpec[];
  cgroup?: CgroupSpec;
  capabilities?: CapabilitiesSpec;
  no_new_privs?: boolean;
  rlimits?: Record<string, RlimitValue>;
  seccomp?: SeccompSpec;
  sysctls?: Record<string, string | number>;
  oom_score_adj?: number;
  hooks?: { [P in HookPoint]?: Hook | Hook[] };
  env_files?: string[];
  annotations?: Record<string, string>;
  healthcheck?: HealthcheckSpec;
  restart?: RestartPolicy;
  /** Signal `niwa stop` sends first (default SIGTERM). */
  stop_signal?: string;
  /** How long `niwa stop` waits before SIGKILL (default 10s). */
  stop_grace_period?: Duration;
  /** The container's network: niwa's bridge, a compose project's network, none or the host's; published ports. */
  network?: NetworkSpec;
}

/**
 * `network:` of a single container. bridge (the default when ports are given): a veth on niwa's own
 * bridge network, or with `name` on a compose project's network (`PROJECT_NETWORK`, e.g. demo_default);
 * none: a network namespace with only lo; host: the host's network.
 */
export interface NetworkSpec {
  mode?: 'bridge' | 'none' | 'host';
  /** bridge only: a compose project's network as Docker names it (PROJECT_NETWORK); default: niwa's bridge. */
  name?: string;
  /** Published ports, Docker's -p forms: "8080:80", "127.0.0.1:5353:53/udp", "80" (any free host port). */
  ports?: (string | number)[];
}

// ---------------------------------------------------------------------------
// Canonical form: what load/ produces and compile/ consumes. No shorthands left.

export type CanonicalNamespace =
  | { mode: 'new'; offsets?: { monotonic: number; boottime: number } }
  | { mode: 'join'; path: string }
  | { mode: 'container'; container: string };

export interface CanonicalMount {
  type: 'bind' | 'tmpfs' | 'proc' | 'sysfs' | 'devpts' | 'mqueue';
  /** Absolute host path for bind; the fs type name otherwise. */
  source: string;
  /** Absolute path inside the container. */
  target: string;
  readonly: boolean;
  recursive: boolean;
  propagation?: Propagation;
  /** tmpfs size in bytes. */
  size?: number;
  /** tmpfs mode. */
  mode?: number;
  /** Extra options as given (nosuid, nodev, noexec, ...). */
  options: string[];
  /** Dotted spec path this mount came from, e.g. mounts.1 */
  field: string;
  /** bind only: whether the source is a file or a directory (the loader stats it), so the
   *  target is created as the same kind. Default 'dir'. */
  sourceKind?: 'file' | 'dir';
}

/**
 * One device cgroup rule (the format of v1 devices.allow): type c (char), b (block) or a (all),
 * major and minor numbers (-1 = any, written `*`), access: any of r, w, m.
 */
export interface DeviceRule {
  type: 'c' | 'b' | 'a';
  major: number;
  minor: number;
  access: string;
}

/** A host device node given to the container: its rule, and where it is bound in the container. */
export interface CanonicalDevice extends DeviceRule {
  type: 'c' | 'b';
  /** Host path of the node. */
  source: string;
  /** Path inside the container. */
  target: string;
  /** Dotted spec path, e.g. devices.0 */
  field: string;
}

export interface CanonicalHook {
  point: HookPoint;
  fn?: HookFn;
  command?: string[];
  optional: boolean;
  timeout: number;
  field: string;
}

export interface CanonicalCaps {
  bounding: string[];
  effective: string[];
  permitted: string[];
  inheritable: string[];
  ambient: string[];
}

export interface CanonicalRlimit {
  /** RLIMIT_* name, e.g. RLIMIT_NOFILE. */
  type: string;
  /** -1 = unlimited */
  soft: number;
  hard: number;
}

/**
 * A root from an OCI image. `image` is filled once the image is in the store (the loader's image
 * phase); a spec loaded without an image resolver (plain `validate`) has only the reference.
 */
export interface CanonicalImageRoot {
  kind: 'image';
  /** As written in the spec. */
  ref: string;
  pull: 'missing' | 'always' | 'never';
  image?: ResolvedImageRoot;
}
export interface ResolvedImageRoot {
  /** Canonical name (docker.io/library/busybox:latest) and manifest digest. */
  name: string;
  digest: string;
  /** Unpacked layer directories, bottom first (overlay lower dirs). */
  layers: string[];
  /** The image config's Volumes: an anonymous volume per container at each path. */
  volumes: string[];
  /** The image config's ExposedPorts ("80/tcp"), for information and compose. */
  exposedPorts: string[];
  /** Fields the image config filled, and from what (e.g. process.args → "Entrypoint + Cmd"). */
  fromImage: Record<string, string>;
}

export interface CanonicalSpec {
  name: string;
  /** Absolute path of the spec file (or '<inline>'). */
  file: string;
  rootfs: { kind: 'default' } | { kind: 'dir'; path: string } | CanonicalImageRoot;
  readonlyRoot: boolean;
  root: 'pivot_root' | 'chroot';
  namespaces: Partial<Record<NamespaceKind, CanonicalNamespace>>;
  uidMap: IdMapping[];
  gidMap: IdMapping[];
  hostname?: string;
  domainname?: string;
  process: {
    args: string[];
    /** Merged: env_files first, then process.env; PATH/HOME/TERM defaults applied. */
    env: Record<string, string>;
    cwd: string;
    /** Numeric ids after lookup in the rootfs's /etc/passwd (or given). */
    uid: number;
    gid: number;
    groups: number[];
    /** User/group as written, for messages. */
    user?: IdRef;
    tty: boolean;
    init: boolean;
  };
  mounts: CanonicalMount[];
  maskedPaths: string[];
  readonlyPaths: string[];
  /** Devices from the spec on top of the default allowlist (src/spec/defaults.ts DEFAULT_DEVICE_RULES).
   *  The loader always sets it; optional so that hand-built specs (tests, other front ends) need not. */
  devices?: CanonicalDevice[];
  /** Cgroup keys normalised: sizes in bytes, cpus as a number. */
  cgroup: {
    memory?: number;
    memoryReservation?: number;
    memorySwap?: number;
    cpus?: number;
    cpuPeriod?: number;
    cpuShares?: number;
    cpuWeight?: number;
    cpusetCpus?: string;
    cpusetMems?: string;
    pids?: number;
    ioWeight?: number;
    ioMax?: Record<string, { readBps?: number; writeBps?: number; readIops?: number; writeIops?: number }>;
    hugetlb?: Record<string, number>;
    raw: Record<string, string>;
  };
  capabilities: CanonicalCaps;
  noNewPrivs: boolean;
  rlimits: CanonicalRlimit[];
  /** null = unconfined. */
  seccomp: SeccompProfile | null;
  sysctls: Record<string, string>;
  oomScoreAdj?: number;
  hooks: CanonicalHook[];
  annotations: Record<string, string>;
  lifecycle: CanonicalLifecycle;
  /** Spec fields set by command-line options (niwa run --memory …) → the option, for plan --explain. */
  fromFlags?: Record<string, string>;
  /** A bridge network (spec `network`, -p, --network bridge|NAME): compiled into network steps. */
  network?: CanonicalNetwork;
  /** For messages: dotted path → source position (YAML). */
  positions?: Record<string, { line: number; col: number }>;
}

export interface CanonicalNetwork {
  /** 'bridge' (niwa's own) or a compose project's network as PROJECT_NETWORK. */
  name: string;
  /** Published ports (runtime/net/ports.ts PortMapping). */
  ports: { hostIp: string; hostPort: number; containerPort: number; protocol: 'tcp' | 'udp' }[];
}

export interface CanonicalHealthcheck {
  kind: 'exec' | 'tcp' | 'http';
  /** exec: argv run inside the container. */
  command?: string[];
  /** tcp: host (default: the container's address or 127.0.0.1) and port. */
  host?: string;
  port?: number;
  /** http: the URL. */
  url?: string;
  intervalMs: number;
  timeoutMs: number;
  retries: number;
  startPeriodMs: number;
}

export interface CanonicalLifecycle {
  restart: { policy: 'no' | 'always' | 'on-failure' | 'unless-stopped'; maxRetries?: number };
  stopSignal: string;
  stopTimeoutMs: number;
  healthcheck?: CanonicalHealthcheck;
}
