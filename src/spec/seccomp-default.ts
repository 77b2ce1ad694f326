// The default seccomp profile (`seccomp: default`): allow the ordinary syscalls, deny the rest with EPERM.
//
// It follows the behaviour Docker documents for its default profile: default action errno(EPERM),
// an allow-list of ordinary syscalls, and no kernel-wide administration (modules, kexec, reboot,
// swap, clock setting, mounting, namespaces, keyrings, BPF, perf). Most of what is left out would
// also be refused by the kernel without capabilities that niwa's default set does not grant; the
// filter removes that attack surface even when a capability is added, and blocks the calls that
// need no capability at all (unshare(CLONE_NEWUSER), userfaultfd, io_uring, keyctl...).
//
// Names missing on an architecture (open on aarch64, arch_prctl on aarch64...) are skipped there.
// Syscalls not listed at all (listed in the comments below for the reader) get EPERM.
import type { SeccompProfile, SeccompRule } from './types.js';

/** Namespace flags of clone(2): CLONE_NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET.
 *  (CLONE_NEWTIME = 0x80 overlaps clone()'s exit-signal byte; clone() cannot create a time ns.) */
const CLONE_NAMESPACE_FLAGS = 0x7e020000;

const ALLOWED: string[] = [
  // files and directories
  'open', 'openat', 'openat2', 'creat', 'close', 'close_range', 'read', 'write', 'pread64', 'pwrite64',
  'readv', 'writev', 'preadv', 'pwritev', 'preadv2', 'pwritev2', 'lseek', 'sendfile', 'splice', 'tee',
  'vmsplice', 'copy_file_range', 'fallocate', 'ftruncate', 'truncate', 'fsync', 'fdatasync', 'sync',
  'syncfs', 'sync_file_range', 'readahead', 'fadvise64', 'flock', 'fcntl', 'ioctl', 'dup', 'dup2',
  'dup3', 'pipe', 'pipe2', 'stat', 'fstat', 'lstat', 'newfstatat', 'statx', 'statfs', 'fstatfs',
  'access', 'faccessat', 'faccessat2', 'getdents', 'getdents64', 'getcwd', 'chdir', 'fchdir',
  'mkdir', 'mkdirat', 'mknod', 'mknodat', 'rmdir', 'rename', 'renameat', 'renameat2', 'link', 'linkat',
  'unlink', 'unlinkat', 'symlink', 'symlinkat', 'readlink', 'readlinkat', 'chmod', 'fchmod',
  'fchmodat', 'fchmodat2', 'chown', 'fchown', 'lchown', 'fchownat', 'umask', 'utime', 'utimes',
  'utimensat', 'futimesat', 'cachestat', 'file_getattr', 'file_setattr',
  // extended attributes
  'setxattr', 'lsetxattr', 'fsetxattr', 'getxattr', 'lgetxattr', 'fgetxattr', 'listxattr',
  'llistxattr', 'flistxattr', 'removexattr', 'lremovexattr', 'fremovexattr', 'setxattrat',
  'getxattrat', 'listxattrat', 'removexattrat',
  // change-notification and event fds
  'inotify_init', 'inotify_init1', 'inotify_add_watch', 'inotify_rm_watch', 'fanotify_mark',
  'eventfd', 'eventfd2', 'signalfd', 'signalfd4', 'timerfd_create', 'timerfd_settime', 'timerfd_gettime',
  'memfd_create', 'memfd_secret',
  // polling
  'poll', 'ppoll', 'select', 'pselect6', 'epoll_create', 'epoll_create1', 'epoll_ctl', 'epoll_wait',
  'epoll_pwait', 'epoll_pwait2',
  // asynchronous I/O (io_uring is left out, as in Docker's profile since 2023: a large attack surface)
  'io_setup', 'io_destroy', 'io_submit', 'io_cancel', 'io_getevents', 'io_pgetevents',
  // memory
  'brk', 'mmap', 'munmap', 'mremap', 'mprotect', 'madvise', 'msync', 'mincore', 'mlock', 'mlock2',
  'munlock', 'mlockall', 'munlockall', 'remap_file_pages', 'get_mempolicy', 'membarrier',
  'pkey_alloc', 'pkey_free', 'pkey_mprotect', 'mseal', 'map_shadow_stack', 'process_madvise',
  'process_mrelease',
  // processes and threads (clone is conditional below; clone3 gets ENOSYS below)
  'fork', 'vfork', 'execve', 'execveat', 'exit', 'exit_group', 'wait4', 'waitid', 'getpid', 'getppid',
  'gettid', 'getpgid', 'setpgid', 'getpgrp', 'getsid', 'setsid', 'set_tid_address', 'set_robust_list',
  'get_robust_list', 'rseq', 'arch_prctl', 'prctl', 'seccomp', 'landlock_create_ruleset',
  'landlock_add_rule', 'landlock_restrict_self', 'capget', 'capset', 'getcpu', 'uname',
  'sysinfo', 'getrandom', 'restart_syscall', 'lsm_get_self_attr', 'lsm_set_self_attr', 'lsm_list_modules',
  // since Linux 4.8 seccomp cannot be bypassed with ptrace, so Docker allows these too; the
  // kernel still applies its ptrace access checks (CAP_SYS_PTRACE for processes not our own)
  'ptrace', 'kcmp', 'process_vm_readv', 'process_vm_writev', 'pidfd_open', 'pidfd_getfd', 'pidfd_send_signal',
  // scheduling and limits (the kernel checks CAP_SYS_NICE / CAP_SYS_RESOURCE where needed)
  'sched_yield', 'sched_setparam', 'sched_getparam', 'sched_setscheduler', 'sched_getscheduler',
  'sched_get_priority_max', 'sched_get_priority_min', 'sched_rr_get_interval', 'sched_setaffinity',
  'sched_getaffinity', 'sched_setattr', 'sched_getattr', 'getpriority', 'setpriority', 'ioprio_get',
  'ioprio_set', 'getrlimit', 'setrlimit', 'prlimit64', 'getrusage', 'times',
  // identity (the kernel checks CAP_SETUID / CAP_SETGID)
  'getuid', 'geteuid', 'getgid', 'getegid', 'getresuid', 'getresgid', 'getgroups', 'setuid', 'setgid',
  'setreuid', 'setregid', 'setresuid', 'setresgid', 'setfsuid', 'setfsgid', 'setgroups',
  // signals
  'kill', 'tkill', 'tgkill', 'rt_sigaction', 'rt_sigprocmask', 'rt_sigreturn', 'rt_sigpending',
  'rt_sigtimedwait', 'rt_sigqueueinfo', 'rt_tgsigqueueinfo', 'rt_sigsuspend', 'sigaltstack', 'pause',
  // time (reading clocks, sleeping, timers; adjtimex only reads without CAP_SYS_TIME)
  'time', 'gettimeofday', 'clock_gettime', 'clock_getres', 'clock_nanosleep', 'nanosleep', 'alarm',
  'getitimer', 'setitimer', 'timer_create', 'timer_settime', 'timer_gettime', 'timer_getoverrun',
  'timer_delete', 'adjtimex',
  // futexes
  'futex', 'futex_waitv', 'futex_wake', 'futex_wait', 'futex_requeue',
  // sockets
  'socket', 'socketpair', 'bind', 'listen', 'accept', 'accept4', 'connect', 'shutdown', 'getsockname',
  'getpeername', 'setsockopt', 'getsockopt', 'sendto', 'recvfrom', 'sendmsg', 'recvmsg', 'sendmmsg',
  'recvmmsg',
  // System V IPC and POSIX message queues (namespaced by the ipc namespace)
  'shmget', 'shmat', 'shmdt', 'shmctl', 'semget', 'semop', 'semtimedop', 'semctl', 'msgget', 'msgsnd',
  'msgrcv', 'msgctl', 'mq_open', 'mq_unlink', 'mq_timedsend', 'mq_timedreceive', 'mq_notify', 'mq_getsetattr',
  // chroot needs CAP_SYS_CHROOT, which the kernel checks; statmount/listmount only read the
  // caller's own mount namespace (newer libmount uses them, and may not fall back on EPERM)
  'chroot', 'statmount', 'listmount',
];

// Left out, so they fail with EPERM (grouped by why):
//  - kernel code and the machine: kexec_load, kexec_file_load, init_module, finit_module,
//    delete_module, create_module, query_module, get_kernel_syms, reboot, swapon, swapoff, acct,
//    iopl, ioperm, modify_ldt, vm86, uselib, nfsservctl, lookup_dcookie, _sysctl, sysfs, ustat
//  - clocks shared with the host: settimeofday, clock_settime, clock_adjtime
//  - mounts and namespaces (CAP_SYS_ADMIN): mount, umount2, pivot_root, move_mount, open_tree,
//    open_tree_attr, fsopen, fsconfig, fsmount, fspick, mount_setattr, unshare, setns, sethostname, setdomainname, quotactl, quotactl_fd
//  - not namespaced, or frequent in exploits: add_key, request_key, keyctl, bpf, perf_event_open,
//    userfaultfd, io_uring_setup, io_uring_enter, io_uring_register, fanotify_init, syslog, vhangup,
//    name_to_handle_at, open_by_handle_at (the "shocker" escape), mbind, set_mempolicy,
//    set_mempolicy_home_node, migrate_pages, move_pages

/** personality(2) with these personas only (as Docker allows): query, Linux, Linux32, UNAME26 variants. */
const PERSONAS = [0x0, 0x8, 0x20000, 0x20008, 0xffffffff];

const rules: SeccompRule[] = [
  { names: ALLOWED, action: 'allow' },
  // clone(2) without namespace flags: threads and processes yes, new namespaces no (a new user
  // namespace needs no privilege and opens kernel code that is otherwise root-only). flags is
  // argument 0 on x86_64 and aarch64.
  { names: ['clone'], action: 'allow', args: [{ index: 0, op: 'masked_eq', value: CLONE_NAMESPACE_FLAGS, value_two: 0 }] },
  // clone3(2) passes its flags in a struct in memory, which seccomp cannot read. ENOSYS (not
  // EPERM) makes glibc and other runtimes fall back to clone(), where the rule above applies.
  { names: ['clone3'], action: 'errno', errno: 'ENOSYS' },
  // Argument comparisons: each persona is its own rule (a rule's comparisons must all hold).
  ...PERSONAS.map((p): SeccompRule => ({ names: ['personality'], action: 'allow', args: [{ index: 0, op: 'eq', value: p }] })),
];

export const DEFAULT_SECCOMP_PROFILE: SeccompProfile = {
  default_action: 'errno',
  default_errno: 'EPERM',
  syscalls: rules,
};
