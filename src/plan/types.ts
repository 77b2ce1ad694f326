// The LaunchPlan: plain, JSON-serialisable data describing every action `niwa run` takes,
// in order. `niwa plan` prints it; runtime/ executes it; nothing runs that is not here.
import type { PortMapping } from '../runtime/net/ports.js';

/**
 * Phases, in the order they run:
 *  - prepare: TypeScript on the host before the stage starts (cgroup dirs and limits, hooks).
 *  - stage:   the native stage before clone (join namespaces with setns, unshare time ns).
 *  - clone:   the clone() that creates the container process and its new namespaces.
 *  - parent:  the stage's parent side after clone, while the child waits (uid/gid maps,
 *             cgroup placement): done before the child runs any code of the user.
 *  - child:   inside the new process: mounts, root switch, hostname, limits, privileges, execve.
 *  - started: TypeScript on the host once the program runs (after_start, poststart hooks).
 *  - cleanup: TypeScript after the container is gone (remove cgroups, teardown hooks).
 */
export type Phase = 'prepare' | 'stage' | 'clone' | 'parent' | 'child' | 'started' | 'cleanup';
export const PHASES: Phase[] = ['prepare', 'stage', 'clone', 'parent', 'child', 'started', 'cleanup'];

/** Mount flags by their kernel names (MS_*), resolved to numbers only in the encoder. */
export type MountFlag =
  | 'MS_RDONLY' | 'MS_NOSUID' | 'MS_NODEV' | 'MS_NOEXEC' | 'MS_SYNCHRONOUS' | 'MS_REMOUNT'
  | 'MS_MANDLOCK' | 'MS_DIRSYNC' | 'MS_NOSYMFOLLOW' | 'MS_NOATIME' | 'MS_NODIRATIME' | 'MS_BIND' | 'MS_MOVE'
  | 'MS_REC' | 'MS_SILENT' | 'MS_UNBINDABLE' | 'MS_PRIVATE' | 'MS_SLAVE' | 'MS_SHARED'
  | 'MS_RELATIME' | 'MS_STRICTATIME' | 'MS_LAZYTIME';

export type CloneFlag =
  | 'CLONE_NEWUSER' | 'CLONE_NEWNS' | 'CLONE_NEWUTS' | 'CLONE_NEWIPC' | 'CLONE_NEWPID'
  | 'CLONE_NEWNET' | 'CLONE_NEWCGROUP' | 'CLONE_NEWTIME';

/**
 * One operation. Ops in phases stage/clone/parent/child are executed by the native stage
 * (see native/stage.c and src/runtime/launch/encode.ts); prepare/cleanup ops by TypeScript.
 *
 * Path conventions for the native stage:
 *  - `{pid}` in a path is replaced with the container process's pid (host view).
 *  - `inRoot`: the path is resolved inside that directory with openat2(RESOLVE_IN_ROOT),
 *    so symlinks in a rootfs can never lead outside it.
 */
export type Op =
  // generic file system actions (any phase)
  | { op: 'mkdir'; path: string; mode: number; inRoot?: string; parents?: boolean }
  /** `bestEffort`: a parent shared with other containers; busy / not empty / missing is not an error. */
  | { op: 'rmdir'; path: string; bestEffort?: boolean }
  | { op: 'write'; path: string; data: string; inRoot?: string; create?: boolean }
  | { op: 'touch'; path: string; mode: number; inRoot?: string }
  | { op: 'symlink'; target: string; path: string; inRoot?: string }
  // namespaces
  | { op: 'setns'; ns: string; path: string; flag: CloneFlag }
  | { op: 'unshare'; flags: CloneFlag[] }
  | { op: 'clone'; flags: CloneFlag[] }
  /** Parent: let the child continue (it waits until maps and cgroups are written). */
  | { op: 'release_child' }
  /** Child: wait until the parent has released it. */
  | { op: 'wait_parent' }
  // mounts
  | {
      op: 'mount';
      source: string | null;
      target: string;
      fstype: string | null;
      flags: MountFlag[];
      data: string | null;
      inRoot?: string;
      /** Create the target (dir, or empty file when `mkTarget: 'file'`) if missing. */
      mkTarget?: 'dir' | 'file';
      /** For MS_REMOUNT|MS_BIND: keep the locked flags (nosuid/nodev/noexec/...) the mount already has. */
      keepLocked?: boolean;
    }
  | { op: 'umount2'; target: string; flags: ('MNT_DETACH' | 'MNT_FORCE')[] }
  /** Masking: /dev/null over a file or a read-only empty tmpfs over a directory; missing paths are skipped. */
  | { op: 'mask'; path: string }
  /** Bind the path onto itself read-only; missing paths are skipped. */
  | { op: 'readonly'; path: string }
  | { op: 'pivot_root'; newRoot: string; putOld: string }
  | { op: 'chroot'; path: string }
  | { op: 'chdir'; path: string }
  // identity
  | { op: 'sethostname'; name: string }
  | { op: 'setdomainname'; name: string }
  // limits and privileges
  | { op: 'setrlimit'; resource: string; soft: number; hard: number }
  | { op: 'capbset_drop'; caps: string[] }
  | { op: 'keepcaps'; on: boolean }
  | { op: 'setgroups'; gids: number[] }
  | { op: 'setresgid'; gid: number }
  | { op: 'setresuid'; uid: number }
  | { op: 'capset'; effective: string[]; permitted: string[]; inheritable: string[] }
  | { op: 'ambient_raise'; caps: string[] }
  | { op: 'no_new_privs' }
  /**
   * Stage phase, cgroup v2: load a BPF_PROG_TYPE_CGROUP_DEVICE program (eBPF, one [code, regs, off, imm]
   * per instruction) and attach it to the cgroup (BPF_CGROUP_DEVICE, BPF_F_ALLOW_MULTI). `rules` are the
   * allowlist it enforces, in devices.allow form, for people reading the plan.
   */
  | { op: 'device_filter'; cgroup: string; rules: string[]; program: [number, number, number, number][] }
  /** Classic BPF program, one [code, jt, jf, k] per instruction. */
  | { op: 'seccomp'; summary: string; filter: [number, number, number, number][] }
  /** Bring a network interface up (ioctl SIOCSIFFLAGS IFF_UP), e.g. loopback in a new net ns. */
  | { op: 'ifup'; name: string }
  // terminal and process
  | { op: 'setsid' }
  /** Child: make the pty slave (allocated by the stage when process.tty) the controlling terminal and stdio. */
  | { op: 'setctty' }
  /** Child becomes a tiny init: forks, reaps zombies, forwards signals; the grandchild continues. */
  | { op: 'init' }
  | { op: 'execve'; path: string; argv: string[]; env: string[] }
  // host-side TypeScript only
  /**
   * A hook (spec.hooks[hook]). In prepare/started/cleanup TypeScript runs it; in parent/child the
   * native stage pauses there (reports `hook <index>`) until niwa has run it on the host.
   */
  | { op: 'hook'; point: string; hook: number; command?: string[]; optional: boolean }
  /** Health check probe (child of an exec plan, in the container's net ns): TCP connect to a numeric
   *  address, or with `request` an HTTP request whose status must be 2xx/3xx. Exits 0/1. */
  | { op: 'probe'; address: string; port: number; timeoutMs: number; request: string | null }
  /** Stage phase, with the plan's tty flag: open the pty from this ptmx instead of the host's /dev/ptmx. */
  | { op: 'openpty'; path: string }
  /**
   * Host-side network plumbing (src/runtime/net/): one iproute2 command `ip ARGS…`, run on the host
   * or, with `netns`, inside the network namespace bound at that path. `absentOk`: a device or
   * address that is already gone is not an error (cleanup is idempotent).
   */
  | {
      op: 'ip'; args: string[]; netns?: string; absentOk?: boolean;
      /** Part of creating this bridge (a single container's network): skipped when the bridge already existed. */
      ifMissing?: string;
    }
  /** A network namespace kept alive by a bind mount on a file (`add`), or that mount and file removed (`delete`). */
  | { op: 'netns'; action: 'add' | 'delete'; path: string }
  /**
   * Host side, a single container's network (src/runtime/net/container.ts): record its address (and its
   * network's subnet when the network is new) in the lease database, as the plan decided; refused when
   * another niwa took them since.
   */
  | { op: 'lease'; stateRoot: string; project: string; network: string; bridge: string; subnet: string; gateway: string; container: string; address: string; ifname: string; veth: string; netns: string; aliases: string[]; hostname?: string }
  /** Forget the container's lease (only if it is this netns's); with `bridge`: once no container is left on the network, remove the bridge and the network's record. */
  | { op: 'release'; stateRoot: string; project: string; network: string; container: string; netns: string; bridge?: string }
  /** Rewrite in place the /etc/hosts of every container on `project`'s networks from the lease database. */
  | { op: 'hosts'; stateRoot: string; project: string }
  /** Listen on the host ports and forward to the container's address (held by `niwa run` in the foreground, by the supervisor with -d). */
  | { op: 'publish'; address: string; ports: PortMapping[] }
  /** Close the published ports (the process that holds them does; a supervisor once the container has ended for good). */
  | { op: 'unpublish'; ports: PortMapping[] }
  /** Host side: remove a directory tree niwa created (a container's upper dir, volumes); gone is fine. Never follows symlinks. */
  | { op: 'rmtree'; path: string }
  /**
   * Host side: materialise an image's root by copying its layers, bottom first, into `path` (whiteouts
   * remove, opaque directories empty what is below) — the fallback when overlayfs cannot be used.
   */
  | { op: 'copyroot'; layers: string[]; path: string; uidMap?: { container_id: number; host_id: number; size: number }[]; gidMap?: { container_id: number; host_id: number; size: number }[] };

export type StepOp = Op['op'];

export type Step = Op & {
  /** Position in plan.steps; the native stage reports failures by this index. */
  index: number;
  phase: Phase;
  /** Dotted spec path that produced this step ('' for built-in defaults). */
  field: string;
  /** One sentence: why this step exists / why here in the order. */
  why: string;
  /** Man page, e.g. "pivot_root(2)". */
  man?: string;
};

/** Facts about the host that compile needs (probed in validate/host.ts, faked in tests). */
export interface HostFacts {
  arch: 'x86_64' | 'aarch64';
  cgroup: CgroupLayout;
  /** Paths niwa uses for its own things. */
  stateRoot: string;
  /** Top-level entries of the host's / that are symlinks (merged /usr): name → link target. */
  rootSymlinks: Record<string, string>;
  /** Which of the default host dirs exist: /usr /bin /sbin /lib /lib32 /lib64 /libx32 /etc/... */
  existing: string[];
  /** niwa's data root (images, volumes, containers' upper dirs); default /var/lib/niwa. */
  dataRoot?: string;
  /**
   * How an image root is assembled: 'overlay' (the kernel has overlayfs) or 'copy' (no overlayfs, or
   * NIWA_SNAPSHOTTER=copy). Omitted: overlay.
   */
  snapshotter?: 'overlay' | 'copy';
  /** Which of the existing /etc entries are directories. */
  etcDirs?: string[];
  /** /etc entries that are symlinks: path → link target (mirrored as symlinks, not bound). */
  etcSymlinks?: Record<string, string>;
}

export type CgroupLayoutKind = 'v2' | 'v1' | 'hybrid';
export interface CgroupLayout {
  kind: CgroupLayoutKind;
  /** v2 mount point (unified mode: /sys/fs/cgroup; hybrid: /sys/fs/cgroup/unified), if any. */
  unified?: string;
  /** Controllers available on the v2 hierarchy (from cgroup.controllers). */
  v2Controllers: string[];
  /** v1 controller → mount point (e.g. memory → /sys/fs/cgroup/memory). */
  v1: Record<string, string>;
  /**
   * Interface files a new cgroup will have, per controller, as probed on the host (a non-root cgroup's
   * listing). A controller missing here was not observable: its files are assumed present.
   */
  files?: Record<string, string[]>;
  /** Huge page sizes the kernel supports, as named in hugetlb files ("2MB", "1GB"). */
  hugepageSizes?: string[];
  /** v1 only: the cpuset root's cpuset.cpus / cpuset.mems, copied into each new cpuset cgroup. */
  v1CpusetRoot?: { cpus: string; mems: string };
}

export interface LaunchPlan {
  version: 1;
  name: string;
  /** Container id used for host resource names (cgroup, state dir). */
  id: string;
  project: string;
  spec: string;
  /** Where the container's root is assembled inside its mount namespace. */
  rootDir: string;
  /** Cgroup paths created for this container (absolute), for cleanup and stats. */
  cgroups: string[];
  tty: boolean;
  /** The image the container runs (rootfs.image): what `niwa image rm` checks before removing it. */
  image?: { ref: string; name: string; digest: string; fromImage: Record<string, string> };
  /** Spec fields set by command-line options (niwa run/plan --memory …) → the option. */
  fromFlags?: Record<string, string>;
  steps: Step[];
  /** Messages for the user that do not stop the run (e.g. translated cgroup keys). */
  warnings: string[];
}

/** A step before compile gives it its phase and index (what steps/*.ts functions return). */
export type StepDraft = Op & { field: string; why: string; man?: string };
