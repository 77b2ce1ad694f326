// Owns the runtime cgroup contracts: the file-access seam (CgroupFs), the manager interface, stats and events.

/** The few file operations cgroup code needs; the real one is nodeCgroupFs (remove.ts), the fake one fake.ts. */
export interface CgroupFs {
  /** mkdir -p. */
  mkdirp(path: string): void;
  /** Write a whole interface file; throws the errno error (EINVAL, EBUSY, ...) as Node gives it. */
  write(path: string, data: string): void;
  /** Read a file; undefined when it does not exist. */
  read(path: string): string | undefined;
  exists(path: string): boolean;
  /** Child directories (child cgroups) of a cgroup directory. */
  subdirs(path: string): string[];
  /** rmdir(2) of a cgroup directory; throws EBUSY while it has processes or children. */
  rmdir(path: string): void;
  /** True when the path is on a cgroup or cgroup2 file system (the fake says yes for its own tree). */
  isCgroupFs(path: string): boolean;
}

export interface CgroupStats {
  memory: {
    /** Bytes in use now (v2 memory.current, v1 memory.usage_in_bytes). */
    current?: number;
    /** High-water mark (v2 memory.peak, kernel ≥ 5.19; v1 memory.max_usage_in_bytes). */
    peak?: number;
    /** The limit in bytes; null = unlimited. */
    limit?: number | null;
  };
  cpu: {
    /** CPU time used, in nanoseconds (v2 cpu.stat usage_usec × 1000, v1 cpuacct.usage). */
    usageNs?: number;
    /** Periods in which the quota throttled the cgroup. */
    nrThrottled?: number;
  };
  pids: { current?: number; limit?: number | null };
  /** Processes the OOM killer killed in this cgroup (v2 memory.events oom_kill, v1 memory.oom_control oom_kill). */
  oomKills: number;
}

export interface CgroupEvents {
  /** v2 cgroup.events: some process is in the cgroup or a descendant. */
  populated?: boolean;
  /** v2 cgroup.events frozen, or v1 freezer.state FROZEN. */
  frozen?: boolean;
  /** Times the memory limit was hit hard enough to invoke the OOM killer, and processes it killed. */
  oom: number;
  oomKill: number;
  /** Forks refused at pids.max (pids.events max). */
  pidsMax: number;
}

/** One write of a prepared limit: absolute path, data, and the spec field it came from (for errors). */
export interface CgroupWrite { path: string; data: string; field?: string }

/** A container's cgroups across hierarchies (one per v1 mount used, plus the v2 one when present). */
export interface CgroupManager {
  readonly paths: string[];
  /** mkdir -p every cgroup. */
  create(): void;
  /** Write limit files in order; a refusal becomes a RuntimeFailure naming the file, errno and field. */
  apply(writes: CgroupWrite[]): void;
  /** Move a process into every cgroup (write its pid to cgroup.procs). */
  place(pid: number): void;
  /** Pids in the container's cgroups (union over hierarchies). */
  pids(): number[];
  freeze(): Promise<void>;
  thaw(): Promise<void>;
  /** SIGKILL every process: v2 cgroup.kill, else freeze + kill each pid + thaw, until empty. */
  kill(): Promise<void>;
  /** Kill leftovers, then rmdir every cgroup (retrying on EBUSY) and, best effort, niwa's empty parents. */
  remove(): Promise<void>;
  stats(): CgroupStats;
  oomKilled(): boolean;
  events(): CgroupEvents;
}
