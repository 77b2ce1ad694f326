// Every niwa primitive in one spec, with the Haconiwa-style builder (examples/haconiwa.container.yaml
// is the same spec in YAML; a test checks both canonicalise to the same thing).
// Try: niwa validate haconiwa.example.ts; niwa plan haconiwa.example.ts
import { container } from 'niwa';

export default container('haconiwa-demo')
  // Root switch: pivot_root(2) onto the root file system (chroot(2) with .chroot()). No rootfs given:
  // the embedded default, a read-only view of the host's /usr, /bin, /lib*, /etc on a fresh tmpfs.
  // A directory would be .pivotRoot('./rootfs'); .readonlyRoot() would make it read-only.
  .pivotRoot()
  // Namespaces to create: user (own uids), mount (own mount table), uts (own hostname), ipc,
  // pid (the command is PID 1), net (only loopback), cgroup (own view of /proc/self/cgroup).
  // Joining instead: .join('net', { path: '/proc/1234/ns/net' }) or .join('net', { container: 'db' }).
  .unshare('user', 'mount', 'uts', 'ipc', 'pid', 'net', 'cgroup')
  // A time namespace whose CLOCK_MONOTONIC/CLOCK_BOOTTIME run one hour ahead.
  .timeOffsets({ monotonic: 3600, boottime: 3600 })
  // uid/gid maps of the user namespace: container 0..65535 = host 100000..165535.
  .uidMap(0, 100000, 65536)
  .gidMap(0, 100000, 65536)
  // Names inside the uts namespace.
  .hostname('haconiwa')
  .domainname('example.internal')
  // The command, its environment (env files first, then these), working directory and identity.
  .command('/bin/sh', '-c', 'hostname; id; grep Cap /proc/self/status')
  .envFile('./examples/haconiwa.env')
  .env({ GREETING: 'hello' })
  .cwd('/tmp')
  .user('nobody') // looked up in the rootfs's /etc/passwd
  .group(65534) // or a name from /etc/group
  .groups(65534)
  // A tiny init as PID 1 that reaps zombies and forwards signals (no tty: the two do not mix).
  .init()
  .tty(false)
  // Mounts, in order: a private tmpfs, a read-only bind of a host directory, a POSIX mqueue fs.
  .tmpfs('/tmp', { size: '16M', mode: '1777', options: ['nosuid', 'nodev'] })
  .bind('./examples/data', '/data', { readonly: true, propagation: 'rprivate' })
  .mount({ type: 'mqueue', target: '/dev/mqueue' })
  // Paths hidden from the container and paths made read-only (the defaults plus /proc/cmdline).
  .maskPaths('/proc/acpi', '/proc/asound', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list',
    '/proc/timer_stats', '/proc/sched_debug', '/proc/scsi', '/sys/firmware', '/sys/devices/virtual/powercap')
  .readonlyPaths('/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger', '/proc/cmdline')
  // cgroup limits: memory (hard, soft, with swap), CPU quota and period, processes.
  .memory('64M')
  .cpus(0.5)
  .pids(64)
  .cgroup({ memory_reservation: '48M', memory_swap: '128M', cpu_period: 100000 })
  // Capabilities: Docker's default 14, minus two, plus one.
  .capDrop('NET_RAW', 'MKNOD')
  .capAdd('CAP_SYS_NICE')
  // No privilege gain through setuid binaries or file capabilities (the default, shown).
  .noNewPrivs(true)
  // Resource limits: open files (soft/hard), processes, no core dumps.
  .rlimit('nofile', { soft: 1024, hard: 4096 })
  .rlimit('RLIMIT_NPROC', 256)
  .rlimit('core', 0)
  // The built-in seccomp profile ('unconfined' turns filtering off; a profile object also works).
  .seccomp('default')
  // Namespaced kernel parameters: net.* in the net namespace, kernel.shm* in the ipc namespace.
  .sysctl('net.ipv4.ping_group_range', '0 2147483647')
  .sysctl('kernel.shmmax', 67108864)
  // Make this container the OOM killer's preferred victim.
  .oomScoreAdj(500)
  // Hooks on the host: a shell string, or an argv command that may fail. In TypeScript a hook can
  // also be a function: .hook('after_start', (ctx) => console.log(ctx.name, 'runs as', ctx.pid)).
  .hook('before_start', 'echo starting haconiwa-demo')
  .hook('teardown', { command: ['/bin/echo', 'bye'], optional: true, timeout: 5 })
  // Free-form metadata.
  .annotate('org.example.owner', 'workshop');
