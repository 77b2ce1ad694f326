// The compose model after loading: files read, interpolated, validated, normalised (short syntax
// → long), extends resolved, files merged and profiles applied. Only the keys niwa reads are typed;
// every other key a service has is kept (and printed by `niwa compose config`).

export type DependsOnCondition = 'service_started' | 'service_healthy' | 'service_completed_successfully';

export interface ComposeDependsOn {
  condition: DependsOnCondition;
  /** Restart this service when the dependency is restarted by an explicit compose operation. */
  restart?: boolean;
  /** false: a missing or disabled dependency is only a warning. Default true. */
  required: boolean;
}

export interface ComposePort {
  /** Port inside the container. */
  target: number;
  /** Host port or range ("8080", "8000-8010"); absent = an ephemeral port. */
  published?: string;
  host_ip?: string;
  protocol: string;
  mode?: string;
  name?: string;
  app_protocol?: string;
}

export interface ComposeVolumeMount {
  type: 'bind' | 'volume' | 'tmpfs' | 'npipe' | 'image' | 'cluster';
  /** bind: absolute host path; volume: the volume's name (absent = anonymous). */
  source?: string;
  target: string;
  read_only?: boolean;
  bind?: { propagation?: string; create_host_path?: boolean; selinux?: string };
  volume?: { nocopy?: boolean; subpath?: string };
  tmpfs?: { size?: number | string; mode?: number | string };
  consistency?: string;
}

export interface ComposeServiceNetwork {
  aliases?: string[];
  ipv4_address?: string;
  ipv6_address?: string;
  priority?: number;
  [key: string]: unknown;
}

export interface ComposeHealthcheck {
  /** ["CMD", ...] | ["CMD-SHELL", "..."] | ["NONE"] */
  test?: string[];
  interval?: string;
  timeout?: string;
  retries?: number;
  start_period?: string;
  start_interval?: string;
  disable?: boolean;
}

export interface ComposeService {
  image?: string;
  command?: string | string[] | null;
  entrypoint?: string | string[] | null;
  /** null value = take the variable from the environment compose runs in. */
  environment?: Record<string, string | null>;
  env_file?: { path: string; required: boolean; format?: string }[];
  volumes?: ComposeVolumeMount[];
  tmpfs?: string[];
  working_dir?: string;
  user?: string;
  hostname?: string;
  domainname?: string;
  read_only?: boolean | string;
  cap_add?: string[];
  cap_drop?: string[];
  privileged?: boolean | string;
  security_opt?: string[];
  ulimits?: Record<string, number | string | { soft: number | string; hard: number | string }>;
  sysctls?: Record<string, string>;
  mem_limit?: number | string;
  mem_reservation?: number | string;
  memswap_limit?: number | string;
  cpus?: number | string;
  cpu_shares?: number | string;
  cpu_period?: number | string;
  cpuset?: string;
  pids_limit?: number | string;
  deploy?: { resources?: { limits?: { cpus?: number | string; memory?: string; pids?: number | string }; reservations?: { memory?: string; cpus?: number | string } }; replicas?: number | string; [key: string]: unknown };
  init?: boolean | string;
  stop_signal?: string;
  stop_grace_period?: string;
  healthcheck?: ComposeHealthcheck;
  restart?: string;
  depends_on?: Record<string, ComposeDependsOn>;
  network_mode?: string;
  networks?: Record<string, ComposeServiceNetwork | null>;
  ports?: ComposePort[];
  expose?: string[];
  extra_hosts?: Record<string, string[]>;
  labels?: Record<string, string>;
  /** Absolute paths after normalisation; read into labels by label-files.ts, then removed. */
  label_file?: string[];
  annotations?: Record<string, string>;
  dns?: string[];
  dns_search?: string[];
  profiles?: string[];
  extends?: { service: string; file?: string };
  tty?: boolean | string;
  stdin_open?: boolean | string;
  container_name?: string;
  pid?: string;
  ipc?: string;
  uts?: string;
  oom_score_adj?: number | string;
  'x-niwa-rootfs'?: string;
  [key: string]: unknown;
}

export interface ComposeNetwork {
  name?: string;
  driver?: string;
  external?: boolean | { name?: string };
  internal?: boolean;
  ipam?: { config?: { subnet?: string; gateway?: string }[]; [key: string]: unknown };
  [key: string]: unknown;
}

export interface ComposeVolume {
  name?: string;
  driver?: string;
  external?: boolean | { name?: string };
  [key: string]: unknown;
}

export interface ComposeProject {
  name: string;
  /** Directory relative paths resolve against (the first file's). */
  workingDir: string;
  /** The files, in merge order. */
  files: string[];
  services: Record<string, ComposeService>;
  networks: Record<string, ComposeNetwork>;
  volumes: Record<string, ComposeVolume>;
  secrets?: Record<string, unknown>;
  configs?: Record<string, unknown>;
  /** Services switched off by profiles (not started unless their profile is enabled). */
  disabledServices: Record<string, ComposeService>;
  /** Profiles enabled for this load. */
  profiles: string[];
  /** Top-level x- extension fields. */
  extensions: Record<string, unknown>;
}
