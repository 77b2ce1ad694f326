// The ONE file of secure defaults: what a container gets when the spec says nothing.
// Loosening any of these takes an explicit field in the spec (and `niwa plan` shows it).
// Values follow the documented defaults of Docker/runc (facts, not code).
import type { DeviceRule, NamespaceKind } from './types.js';

/** Docker's default capability set (14): enough for typical services, nothing administrative. */
export const DEFAULT_CAPABILITIES: readonly string[] = Object.freeze([
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_FSETID',
  'CAP_FOWNER',
  'CAP_MKNOD',
  'CAP_NET_RAW',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETFCAP',
  'CAP_SETPCAP',
  'CAP_NET_BIND_SERVICE',
  'CAP_SYS_CHROOT',
  'CAP_KILL',
  'CAP_AUDIT_WRITE',
]);

/** prctl(PR_SET_NO_NEW_PRIVS): setuid binaries and file caps cannot raise privileges. */
export const DEFAULT_NO_NEW_PRIVS = true;

/** Paths hidden from the container (/dev/null over files, an empty read-only tmpfs over dirs). */
export const DEFAULT_MASKED_PATHS: readonly string[] = Object.freeze([
  '/proc/acpi',
  '/proc/asound',
  '/proc/kcore',
  '/proc/keys',
  '/proc/latency_stats',
  '/proc/timer_list',
  '/proc/timer_stats',
  '/proc/sched_debug',
  '/proc/scsi',
  '/sys/firmware',
  '/sys/devices/virtual/powercap',
]);

/** Paths bound read-only onto themselves: kernel knobs the container may read but not turn. */
export const DEFAULT_READONLY_PATHS: readonly string[] = Object.freeze([
  '/proc/bus',
  '/proc/fs',
  '/proc/irq',
  '/proc/sys',
  '/proc/sysrq-trigger',
]);

/** pivot_root(2) rather than chroot(2): the old root is unmounted, so it cannot be escaped to. */
export const DEFAULT_ROOT = 'pivot_root' as const;

/** Namespaces created when the spec has no `namespaces` field. */
export const DEFAULT_NAMESPACES: readonly NamespaceKind[] = Object.freeze(['mount', 'uts', 'ipc', 'pid', 'net'] as NamespaceKind[]);

/** The built-in seccomp profile (src/spec/seccomp-default.ts) unless the spec says otherwise. */
export const DEFAULT_SECCOMP = 'default' as const;

/** Working directory of the process. */
export const DEFAULT_CWD = '/';

/** Environment every process gets unless the spec sets the variable. */
export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
export const DEFAULT_TERM = 'xterm';

/**
 * A new user namespace with no uid_map/gid_map gets `unshare --map-root-user`'s map:
 * container uid/gid 0 → the invoking user's euid/egid, size 1. A map given for one of
 * uid/gid only is not completed: the other gets the same default.
 */
export const DEFAULT_USERNS_MAP_SIZE = 1;

/** Seconds a command hook may run before it is killed. */
export const DEFAULT_HOOK_TIMEOUT = 30;

/** Lifecycle defaults (as Docker's): stop with SIGTERM, SIGKILL after 10 s; health every 30 s. */
export const DEFAULT_STOP_SIGNAL = 'SIGTERM';
export const DEFAULT_STOP_TIMEOUT_MS = 10_000;
export const DEFAULT_HEALTH = { intervalMs: 30_000, timeoutMs: 30_000, retries: 3, startPeriodMs: 0 } as const;

/**
 * The device cgroup allowlist every container gets (Docker's and runc's default): everything is
 * denied, then mknod of any node (creating one grants no access to it), and read/write/mknod of
 * null, zero, full, random, urandom, tty, console, ptmx and the pty slaves (major 136). Opening
 * any other device (a host disk, /dev/kvm, /dev/vcs, /dev/loop*) fails with EPERM. spec.devices
 * adds to it.
 */
export const DEFAULT_DEVICE_RULES: readonly DeviceRule[] = Object.freeze([
  { type: 'c', major: -1, minor: -1, access: 'm' },
  { type: 'b', major: -1, minor: -1, access: 'm' },
  { type: 'c', major: 1, minor: 3, access: 'rwm' }, // /dev/null
  { type: 'c', major: 1, minor: 5, access: 'rwm' }, // /dev/zero
  { type: 'c', major: 1, minor: 7, access: 'rwm' }, // /dev/full
  { type: 'c', major: 1, minor: 8, access: 'rwm' }, // /dev/random
  { type: 'c', major: 1, minor: 9, access: 'rwm' }, // /dev/urandom
  { type: 'c', major: 5, minor: 0, access: 'rwm' }, // /dev/tty
  { type: 'c', major: 5, minor: 1, access: 'rwm' }, // /dev/console
  { type: 'c', major: 5, minor: 2, access: 'rwm' }, // /dev/ptmx
  { type: 'c', major: 136, minor: -1, access: 'rwm' }, // /dev/pts/*
] as DeviceRule[]);
