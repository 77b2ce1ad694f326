/* ops.c — one function per plan operation: each does exactly the syscall(s) the step names,
 * with the arguments the plan precomputed. Nothing here picks a value the plan could pick;
 * the few fixed choices (modes of directories created on the way to a target) are listed in
 * native/README.md. Every operation returns 0 or a positive errno; the caller reports it. */
#include "stage.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <net/if.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <poll.h>
#include <time.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <linux/bpf.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/openat2.h>
#include <linux/sched.h>
#include <linux/seccomp.h>

/* Directories created on the way to a target (parents of touch/symlink/write/mount targets,
 * and mount targets themselves) get this mode; a file target created by mkTarget 'file' or
 * by write(create) gets FILE_MODE. mkdir and touch carry their own mode. */
#define PARENT_MODE 0755
#define FILE_MODE 0644

/* ---------------------------------------------------------------- processes */

/* fork-like clone (no new stack: the child continues on a copy of ours). We are a single
 * thread, so this is as safe as fork(); clone3 also accepts CLONE_NEWTIME. */
pid_t raw_fork(uint64_t flags) {
  struct clone_args a;
  memset(&a, 0, sizeof a);
  a.flags = flags;
  a.exit_signal = SIGCHLD;
  long r = syscall(SYS_clone3, &a, sizeof a);
  if (r < 0 && errno == ENOSYS) r = syscall(SYS_clone, (unsigned long)flags | SIGCHLD, 0, 0, 0, 0);
  return (pid_t)r;
}

/* ----------------------------------------------------- path resolution in a root */

/* How a path is resolved: against `base` (a root directory fd, or AT_FDCWD) with openat2
 * resolve flags (RESOLVE_IN_ROOT|RESOLVE_NO_MAGICLINKS for inRoot; 0 = ordinary lookup). */
struct where { int base; uint64_t resolve; };

static int ra(const struct where *w, const char *path, int flags, mode_t mode) {
  struct open_how how;
  memset(&how, 0, sizeof how);
  how.flags = (uint64_t)(flags | O_CLOEXEC);
  how.mode = (flags & O_CREAT) ? mode : 0;
  how.resolve = w->resolve;
  return (int)syscall(SYS_openat2, w->base, path, &how, sizeof how);
}

/* mkdirat with the exact mode (the umask we inherited must not change what the plan asked). */
static int mkdir_exact(int dirfd, const char *name, mode_t mode) {
  if (mkdirat(dirfd, name, mode) < 0) return -1;
  int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd >= 0) { (void)fchmod(fd, mode); close(fd); }
  return 0;
}

enum mk { MK_NONE, MK_DIR, MK_FILE, MK_SYMLINK };

/* If `name` in `dirfd` is a symlink, rewrite the path being resolved as "<parent>/<link>/<rest>"
 * (or "<link>/<rest>" for an absolute link, which RESOLVE_IN_ROOT then reads inside the root),
 * so missing directories are created where the link points *inside the root*. Returns 1 if
 * rewritten, 0 if `name` is not a symlink, -1 (errno set) on error. */
static int splice_link(int dirfd, const char *name, char *cur, const char *parent, size_t parent_len,
                       const char *rest, int *links) {
  char link[PATH_MAX], tmp[PATH_MAX];
  ssize_t n = readlinkat(dirfd, name, link, sizeof link - 1);
  if (n < 0) return errno == EINVAL ? 0 : -1;
  link[n] = 0;
  if (++*links > 40) { errno = ELOOP; return -1; }
  int r = snprintf(tmp, sizeof tmp, "%.*s%s%s%s%s", link[0] == '/' ? 0 : (int)parent_len, parent,
                   link[0] == '/' || parent_len == 0 || parent[parent_len - 1] == '/' ? "" : "/", link,
                   rest && *rest ? "/" : "", rest ? rest : "");
  if (r < 0 || r >= (int)sizeof tmp) { errno = ENAMETOOLONG; return -1; }
  memcpy(cur, tmp, (size_t)r + 1);
  return 1;
}

/* Open `path` resolved as `w` says, with `flags`. With `mk`, create the last component when
 * missing (a directory, an empty file, or a symlink to `link`), and missing parent
 * directories when `parents`. Creation goes component by component with *at() calls on
 * directory fds that were themselves resolved in the root, so no symlink or ".." can lead
 * outside it. `excl`: fail with EEXIST if the target exists. Returns an fd (0 for
 * MK_SYMLINK) or -1 with errno set. */
static int resolve(const struct where *w, const char *path, int flags, int parents, mode_t pmode,
                   enum mk mk, mode_t mode, const char *link, int excl) {
  char cur[PATH_MAX], pre[PATH_MAX], name[NAME_MAX + 1];
  int links = 0;
  if (strlen(path) >= sizeof cur) { errno = ENAMETOOLONG; return -1; }
  strcpy(cur, path);
restart:
  if (mk != MK_SYMLINK) {
    int fd = ra(w, cur, flags, 0);
    if (fd >= 0 && excl) { close(fd); errno = EEXIST; return -1; }
    if (fd >= 0 || errno != ENOENT || mk == MK_NONE) return fd;
  }
  int abs = cur[0] == '/';
  int dirfd = ra(w, abs ? "/" : ".", O_PATH | O_DIRECTORY, 0);
  if (dirfd < 0) return -1;
  size_t plen = abs ? 1 : 0;
  strcpy(pre, abs ? "/" : "");
  const char *p = cur;
  for (;;) {
    while (*p == '/') p++;
    if (!*p) { close(dirfd); errno = EEXIST; return -1; } /* "/" itself: nothing to create */
    const char *e = strchr(p, '/');
    size_t clen = e ? (size_t)(e - p) : strlen(p);
    const char *rest = e;
    while (rest && *rest == '/') rest++;
    int last = !rest || !*rest;
    if (clen > NAME_MAX) { close(dirfd); errno = ENAMETOOLONG; return -1; }
    memcpy(name, p, clen);
    name[clen] = 0;
    size_t parent_len = plen;
    if (plen && pre[plen - 1] != '/') pre[plen++] = '/';
    memcpy(pre + plen, name, clen + 1);
    plen += clen;
    int special = !strcmp(name, ".") || !strcmp(name, "..");
    int r, s;
    if (!last) {
      int fd = ra(w, pre, O_PATH | O_DIRECTORY, 0);
      if (fd < 0 && errno == ENOENT && parents && !special) {
        if (mkdir_exact(dirfd, name, pmode) < 0) {
          if (errno != EEXIST) goto fail;
          /* exists but does not resolve: a dangling symlink; follow it inside the root */
          s = splice_link(dirfd, name, cur, pre, parent_len, rest, &links);
          if (s > 0) { close(dirfd); goto restart; }
          if (s == 0) errno = ENOENT;
          goto fail;
        }
        fd = ra(w, pre, O_PATH | O_DIRECTORY, 0);
      }
      if (fd < 0) goto fail;
      close(dirfd);
      dirfd = fd;
      p = rest;
      continue;
    }
    /* the last component */
    if (mk == MK_DIR) r = special ? (errno = EEXIST, -1) : mkdir_exact(dirfd, name, mode);
    else if (mk == MK_SYMLINK) r = symlinkat(link, dirfd, name);
    else {
      r = openat(dirfd, name, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, mode);
      if (r >= 0) { (void)fchmod(r, mode); close(r); r = 0; }
    }
    if (r < 0 && errno == EEXIST) {
      if (mk == MK_SYMLINK) {
        /* an identical symlink is fine (e.g. a rootfs that already has bin -> usr/bin) */
        char old[PATH_MAX];
        ssize_t n = readlinkat(dirfd, name, old, sizeof old - 1);
        if (n < 0 || (old[n] = 0, strcmp(old, link) != 0)) { errno = EEXIST; goto fail; }
      } else if (!special) {
        s = splice_link(dirfd, name, cur, pre, parent_len, rest, &links);
        if (s > 0) { close(dirfd); goto restart; }
        if (s < 0) goto fail;
      }
      if (excl) { errno = EEXIST; goto fail; }
    } else if (r < 0) goto fail;
    close(dirfd);
    if (mk == MK_SYMLINK) return 0;
    return ra(w, cur, flags, 0);
  }
fail: {
    int e = errno;
    close(dirfd);
    errno = e;
    return -1;
  }
}

/* Set up `w` for an optional inRoot directory (opens it; *rootfd is closed by the caller). */
static int where_for(const char *in_root, struct where *w, int *rootfd) {
  *rootfd = -1;
  w->base = AT_FDCWD;
  w->resolve = 0;
  if (!in_root) return 0;
  *rootfd = open(in_root, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (*rootfd < 0) return -1;
  w->base = *rootfd;
  w->resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  return 0;
}

/* ------------------------------------------------------------------ helpers */

/* Copy `in` to `out` with every "{pid}" replaced by the container's host pid. */
static int subst_pid(const struct ctx *c, const char *in, size_t inlen, char *out, size_t outsz, size_t *outlen) {
  size_t o = 0, pl = strlen(c->pid_str);
  for (size_t i = 0; i < inlen;) {
    if (inlen - i >= 5 && !memcmp(in + i, "{pid}", 5)) {
      if (outsz - o <= pl) return ENAMETOOLONG;
      memcpy(out + o, c->pid_str, pl);
      o += pl;
      i += 5;
    } else {
      if (outsz - o <= 1) return ENAMETOOLONG;
      out[o++] = in[i++];
    }
  }
  out[o] = 0;
  *outlen = o;
  return 0;
}

/* The flags a mount already has that an unprivileged remount may not clear (statvfs ST_*
 * bits have the same values as the MS_* flags, but we map them explicitly). */
static int locked_flags(const char *path, unsigned long *flags) {
  struct statvfs sv;
  if (statvfs(path, &sv) < 0) return -1;
  static const struct { unsigned long st, ms; } map[] = {
    { ST_NOSUID, MS_NOSUID }, { ST_NODEV, MS_NODEV }, { ST_NOEXEC, MS_NOEXEC },
    { ST_NOATIME, MS_NOATIME }, { ST_NODIRATIME, MS_NODIRATIME }, { ST_RELATIME, MS_RELATIME },
  };
  for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
    if (sv.f_flag & map[i].st) *flags |= map[i].ms;
  return 0;
}

static int write_all(int fd, const char *p, size_t n) {
  while (n) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return -1;
    if (w == 0) { errno = EIO; return -1; }
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

/* execve; a path without '/' is looked up in PATH from the plan's environment (not ours).
 * Like execvpe, EACCES is remembered and the search continues; no PATH means ENOENT. */
static int do_execve(const char *path, char *const argv[], char *const envp[]) {
  if (strchr(path, '/')) { execve(path, argv, envp); return errno; }
  const char *search = NULL;
  for (char *const *e = envp; *e; e++)
    if (!strncmp(*e, "PATH=", 5)) { search = *e + 5; break; }
  int err = ENOENT;
  for (const char *d = search; d && *d;) {
    const char *end = strchr(d, ':');
    size_t dl = end ? (size_t)(end - d) : strlen(d);
    char full[PATH_MAX];
    if (dl > 0 && (size_t)snprintf(full, sizeof full, "%.*s/%s", (int)dl, d, path) < sizeof full) {
      execve(full, argv, envp);
      if (errno == EACCES) err = EACCES;
      else if (errno != ENOENT && errno != ENOTDIR) return errno;
    }
    d = end ? end + 1 : NULL;
  }
  return err;
}

/* The init process: PID 1 of the container when the plan asks for it. Forwards every signal
 * it receives to the main process, reaps every child (orphans are re-parented to it), and
 * exits the way the main process did. Never returns. */
static void init_loop(pid_t main_pid, const sigset_t *all) {
  (void)prctl(PR_SET_NAME, "niwa-init", 0, 0, 0);
  for (;;) {
    siginfo_t si;
    int sig = sigwaitinfo(all, &si);
    if (sig < 0) continue;
    /* A signal from the terminal (Ctrl-C, resize) was sent by the kernel to the whole
     * foreground process group, the main process included: do not deliver it twice. */
    if (sig != SIGCHLD) {
      if (si.si_code != SI_KERNEL) kill(main_pid, sig);
      continue;
    }
    int st;
    pid_t w;
    while ((w = waitpid(-1, &st, WNOHANG)) > 0) {
      if (w != main_pid) continue;
      if (WIFEXITED(st)) _exit(WEXITSTATUS(st));
      /* Die by the same signal. As PID 1 of a pid namespace the kernel ignores that, so
       * fall back to the shell convention 128+N. */
      int ts = WTERMSIG(st);
      sigset_t one;
      sigemptyset(&one);
      sigaddset(&one, ts);
      signal(ts, SIG_DFL);
      sigprocmask(SIG_UNBLOCK, &one, NULL);
      kill(getpid(), ts);
      _exit(128 + ts);
    }
  }
}

/* ------------------------------------------------------------ health probe */

static long ms_left(const struct timespec *deadline) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  long ms = (deadline->tv_sec - now.tv_sec) * 1000 + (deadline->tv_nsec - now.tv_nsec) / 1000000;
  return ms > 0 ? ms : 0;
}

/* Wait for `ev` on `fd` until the deadline; 0, or -1 with errno (ETIMEDOUT when it passed). */
static int wait_fd(int fd, short ev, const struct timespec *deadline) {
  struct pollfd pf = { fd, ev, 0 };
  for (;;) {
    int r = poll(&pf, 1, (int)ms_left(deadline));
    if (r > 0) return 0;
    if (r == 0) { errno = ETIMEDOUT; return -1; }
    if (errno != EINTR) return -1;
  }
}

/* The `probe` op of a health check, run in a process that joined only the container's network
 * namespace: connect to addr:port (a numeric IPv4/IPv6 address the plan resolved); with a
 * request (an HTTP GET the plan wrote out in full), send it and read the status line. One line
 * on stdout says what happened; the result is the exit status: 0 healthy, 1 not. */
static int probe(const char *addr, unsigned port, unsigned timeout_ms, const char *req) {
  struct sockaddr_in6 a6;
  struct sockaddr_in a4;
  struct sockaddr *sa;
  socklen_t sl;
  struct timespec deadline;
  clock_gettime(CLOCK_MONOTONIC, &deadline);
  deadline.tv_sec += timeout_ms / 1000;
  deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
  if (deadline.tv_nsec >= 1000000000) { deadline.tv_sec++; deadline.tv_nsec -= 1000000000; }
  memset(&a4, 0, sizeof a4);
  memset(&a6, 0, sizeof a6);
  if (inet_pton(AF_INET, addr, &a4.sin_addr) == 1) {
    a4.sin_family = AF_INET; a4.sin_port = htons((uint16_t)port); sa = (struct sockaddr *)&a4; sl = sizeof a4;
  } else if (inet_pton(AF_INET6, addr, &a6.sin6_addr) == 1) {
    a6.sin6_family = AF_INET6; a6.sin6_port = htons((uint16_t)port); sa = (struct sockaddr *)&a6; sl = sizeof a6;
  } else {
    dprintf(1, "probe: not a numeric address: %s\n", addr);
    return 1;
  }
  int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int err = 0;
  socklen_t el = sizeof err;
  if (fd < 0) err = errno;
  else if (connect(fd, sa, sl) < 0) {
    if (errno != EINPROGRESS) err = errno;
    else if (wait_fd(fd, POLLOUT, &deadline) < 0) err = errno;
    else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0) err = errno;
  }
  if (err) {
    dprintf(1, "connect %s port %u: %s\n", addr, port, strerror(err));
    return 1;
  }
  if (!req) {
    dprintf(1, "connected to %s port %u\n", addr, port);
    return 0;
  }
  /* HTTP: send the request, read until the status line "HTTP/1.x NNN" is complete */
  for (size_t off = 0, n = strlen(req); off < n;) {
    ssize_t w = write(fd, req + off, n - off);
    if (w > 0) { off += (size_t)w; continue; }
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && errno == EAGAIN && wait_fd(fd, POLLOUT, &deadline) == 0) continue;
    dprintf(1, "send to %s port %u: %s\n", addr, port, strerror(errno));
    return 1;
  }
  char line[256];
  size_t got = 0;
  while (got < sizeof line - 1 && !memchr(line, '\n', got)) {
    ssize_t r = read(fd, line + got, sizeof line - 1 - got);
    if (r > 0) { got += (size_t)r; continue; }
    if (r == 0) break;
    if (errno == EINTR) continue;
    if (errno == EAGAIN && wait_fd(fd, POLLIN, &deadline) == 0) continue;
    dprintf(1, "read from %s port %u: %s\n", addr, port, strerror(errno));
    return 1;
  }
  line[got] = 0;
  line[strcspn(line, "\r\n")] = 0;
  int status = (got >= 12 && !strncmp(line, "HTTP/", 5)) ? atoi(strchr(line, ' ') ? strchr(line, ' ') + 1 : "0") : 0;
  dprintf(1, "%s\n", got ? line : "no HTTP response");
  return status >= 200 && status < 400 ? 0 : 1;
}

/* ------------------------------------------------------------------ seccomp */

/* Load the plan's classic BPF program. It is converted on the stack (at most BPF_MAXINSNS x 8
 * bytes = 32 KiB), not the heap: this runs after clone, where the in-process launcher
 * (lib/inproc.c) must not call malloc. Its own function, never inlined, so that op_run's frame
 * stays small on the deeper path-resolution calls (koffi's async calls run on a 128 KiB stack). */
__attribute__((noinline)) static int load_seccomp(const struct step *s) {
  uint32_t n = s->f[0].len / 8;
  if (s->f[0].len % 8 || n == 0 || n > BPF_MAXINSNS) return EINVAL;
  struct sock_filter ins[BPF_MAXINSNS];
  const unsigned char *p = s->f[0].p; /* little-endian: u16 code, u8 jt, u8 jf, u32 k */
  for (uint32_t i = 0; i < n; i++, p += 8) {
    ins[i].code = (uint16_t)(p[0] | p[1] << 8);
    ins[i].jt = p[2];
    ins[i].jf = p[3];
    ins[i].k = (uint32_t)p[4] | (uint32_t)p[5] << 8 | (uint32_t)p[6] << 16 | (uint32_t)p[7] << 24;
  }
  struct sock_fprog prog = { (unsigned short)n, ins };
  long r = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog);
  if (r < 0 && errno == ENOSYS) r = prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0);
  return r < 0 ? errno : 0;
}

/* ---------------------------------------------------------- device program */

/* cgroup v2 device allowlist: load the plan's eBPF program (BPF_PROG_TYPE_CGROUP_DEVICE, generated
 * by src/plan/steps/devices.ts) and attach it to the container's cgroup with BPF_F_ALLOW_MULTI, as
 * runc and crun do. The attachment keeps the program alive after our fds are closed; it goes away
 * with the cgroup. Runs in the stage phase, in the host's namespaces. */
static int load_device_filter(const char *cgroup, const struct field *prog) {
  if (prog->len % 8 || prog->len == 0 || prog->len / 8 > BPF_MAXINSNS) return EINVAL;
  int cg = open(cgroup, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (cg < 0) return errno;
  union bpf_attr a;
  memset(&a, 0, sizeof a);
  a.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
  a.insn_cnt = prog->len / 8;
  a.insns = (uint64_t)(uintptr_t)prog->p;
  a.license = (uint64_t)(uintptr_t)"MIT";
  int pfd = (int)syscall(SYS_bpf, BPF_PROG_LOAD, &a, sizeof a);
  int err = pfd < 0 ? errno : 0;
  if (!err) {
    memset(&a, 0, sizeof a);
    a.target_fd = (uint32_t)cg;
    a.attach_bpf_fd = (uint32_t)pfd;
    a.attach_type = BPF_CGROUP_DEVICE;
    a.attach_flags = BPF_F_ALLOW_MULTI;
    if (syscall(SYS_bpf, BPF_PROG_ATTACH, &a, sizeof a) < 0) err = errno;
    close(pfd);
  }
  close(cg);
  return err;
}

/* ------------------------------------------------------------------ the ops */

long niwa_fail_step = -1;
int niwa_fail_kill = 0;

int op_run(struct ctx *c, const struct step *s) {
  struct where w;
  int rootfd = -1, fd = -1, err = 0;
  char buf[PATH_MAX], buf2[PATH_MAX];

  if ((long)s->index == niwa_fail_step) { /* injected (tests): see stage.h */
    /* `:kill` at a parent step: the child dies as by the OOM killer, then the step runs and
     * meets it gone (a child step fails with EIO either way: a pid namespace's init cannot
     * SIGKILL itself) */
    if (!niwa_fail_kill || c->in_child || c->child <= 0) return EIO;
    kill(c->child, SIGKILL);
    siginfo_t si; /* until it is dead (not reaped: the failure path reads how it ended) */
    while (waitid(P_PID, (id_t)c->child, &si, WEXITED | WNOWAIT) < 0 && errno == EINTR) {}
  }

  switch (s->op) {
  case OP_MKDIR: /* mkdir(2): mkdir -p semantics when `parents`, else EEXIST is an error */
    if (where_for(fstr(s, 2), &w, &rootfd) < 0) return errno;
    fd = resolve(&w, fstr(s, 0), O_PATH | O_DIRECTORY, (int)fu64(s, 3), (mode_t)fu64(s, 1), MK_DIR,
                 (mode_t)fu64(s, 1), NULL, !fu64(s, 3));
    if (fd < 0) err = errno;
    break;

  case OP_RMDIR: /* rmdir(2) */
    if (rmdir(fstr(s, 0)) < 0) return errno;
    return 0;

  case OP_WRITE: { /* open + one write(2) (proc files like uid_map need a single write) */
    const char *path = fstr(s, 0), *data = fstr(s, 1);
    size_t dlen = s->f[1].len - 1, plen;
    char *dbuf = NULL;
    if (s->phase == PH_PARENT) { /* {pid}: the container's pid, known only now */
      if ((err = subst_pid(c, path, strlen(path), buf, sizeof buf, &plen))) return err;
      path = buf;
      size_t dsz = dlen * 4 + 64; /* each 5-byte "{pid}" becomes at most 20 digits */
      if (!(dbuf = malloc(dsz))) return ENOMEM;
      if ((err = subst_pid(c, data, dlen, dbuf, dsz, &dlen))) { free(dbuf); return err; }
      data = dbuf;
    }
    if (where_for(fstr(s, 2), &w, &rootfd) < 0) { err = errno; free(dbuf); return err; }
    if (fu64(s, 3)) fd = resolve(&w, path, O_WRONLY | O_TRUNC, 1, PARENT_MODE, MK_FILE, FILE_MODE, NULL, 0);
    else fd = ra(&w, path, O_WRONLY, 0);
    if (fd < 0 || write_all(fd, data, dlen) < 0) err = errno;
    free(dbuf);
    break;
  }

  case OP_TOUCH: /* create an empty file (and its parents) if missing */
    if (where_for(fstr(s, 2), &w, &rootfd) < 0) return errno;
    fd = resolve(&w, fstr(s, 0), O_PATH, 1, PARENT_MODE, MK_FILE, (mode_t)fu64(s, 1), NULL, 0);
    if (fd < 0) err = errno;
    break;

  case OP_SYMLINK: /* symlinkat(2); an identical existing link is accepted */
    if (where_for(fstr(s, 2), &w, &rootfd) < 0) return errno;
    if (resolve(&w, fstr(s, 1), 0, 1, PARENT_MODE, MK_SYMLINK, 0, fstr(s, 0), 0) < 0) err = errno;
    break;

  case OP_SETNS: /* setns(2): join an existing namespace before clone */
    if ((fd = open(fstr(s, 0), O_RDONLY | O_CLOEXEC)) < 0) return errno;
    if (setns(fd, (int)fu64(s, 1)) < 0) err = errno;
    break;

  case OP_UNSHARE: /* unshare(2) in the stage, e.g. CLONE_NEWTIME so the child is born in it */
    if (unshare((int)fu64(s, 0)) < 0) return errno;
    return 0;

  case OP_RELEASE_CHILD: /* maps and cgroups are written: let the child run */
    if (write_all(c->sync_w, "1", 1) < 0) return errno;
    return 0;

  case OP_WAIT_PARENT: { /* block until release_child; EOF = the parent never released us */
    char b;
    ssize_t n;
    while ((n = read(c->sync_r, &b, 1)) < 0 && errno == EINTR) {}
    if (n < 0) return errno;
    close(c->sync_r);
    c->sync_r = -1;
    return n == 1 ? 0 : EPIPE;
  }

  case OP_MOUNT: { /* mount(2); an inRoot target is resolved in the root and mounted via its fd */
    const char *target = fstr(s, 1);
    unsigned long flags = (unsigned long)fu64(s, 3);
    uint64_t mkt = fu64(s, 6);
    if (where_for(fstr(s, 5), &w, &rootfd) < 0) return errno;
    if (rootfd >= 0 || mkt) {
      fd = resolve(&w, target, O_PATH, 1, PARENT_MODE, mkt == 1 ? MK_DIR : mkt == 2 ? MK_FILE : MK_NONE,
                   mkt == 2 ? FILE_MODE : PARENT_MODE, NULL, 0);
      if (fd < 0) { err = errno; break; }
      if (rootfd >= 0) { snprintf(buf2, sizeof buf2, "/proc/self/fd/%d", fd); target = buf2; }
    }
    if (fu64(s, 7) && locked_flags(target, &flags) < 0) { err = errno; break; }
    if (mount(fstr(s, 0), target, fstr(s, 2), flags, fstr(s, 4)) < 0) err = errno;
    break;
  }

  case OP_UMOUNT2: /* umount2(2), e.g. the old root after pivot_root with MNT_DETACH */
    if (umount2(fstr(s, 0), (int)fu64(s, 1)) < 0) return errno;
    return 0;

  case OP_MASK: { /* hide a path: read-only tmpfs over a directory, /dev/null over anything else */
    struct stat st;
    const char *p = fstr(s, 0);
    if (stat(p, &st) < 0) return errno == ENOENT ? 0 : errno;
    if (S_ISDIR(st.st_mode) ? mount("tmpfs", p, "tmpfs", MS_RDONLY, NULL) : mount("/dev/null", p, NULL, MS_BIND, NULL))
      return errno;
    return 0;
  }

  case OP_READONLY: { /* bind the path onto itself, then remount it read-only keeping locked flags */
    const char *p = fstr(s, 0);
    unsigned long flags = MS_BIND | MS_REMOUNT | MS_RDONLY;
    if (mount(p, p, NULL, MS_BIND | MS_REC, NULL) < 0) return errno == ENOENT ? 0 : errno;
    if (locked_flags(p, &flags) < 0 || mount(NULL, p, NULL, flags, NULL) < 0) return errno;
    return 0;
  }

  case OP_PIVOT_ROOT: /* pivot_root(2) (no glibc wrapper) */
    if (syscall(SYS_pivot_root, fstr(s, 0), fstr(s, 1)) < 0) return errno;
    return 0;

  case OP_CHROOT:
    if (chroot(fstr(s, 0)) < 0) return errno;
    return 0;

  case OP_CHDIR:
    if (chdir(fstr(s, 0)) < 0) return errno;
    return 0;

  case OP_SETHOSTNAME:
    if (sethostname(fstr(s, 0), strlen(fstr(s, 0))) < 0) return errno;
    return 0;

  case OP_SETDOMAINNAME:
    if (setdomainname(fstr(s, 0), strlen(fstr(s, 0))) < 0) return errno;
    return 0;

  case OP_SETRLIMIT: { /* setrlimit(2); ~0 is RLIM_INFINITY */
    struct rlimit rl = { (rlim_t)fu64(s, 1), (rlim_t)fu64(s, 2) };
    if (setrlimit((__rlimit_resource_t)fu64(s, 0), &rl) < 0) return errno;
    return 0;
  }

  case OP_CAPBSET_DROP: /* PR_CAPBSET_DROP for each capability in the mask (needs CAP_SETPCAP) */
    for (int cap = 0; cap < 64; cap++)
      if ((fu64(s, 0) >> cap & 1) && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) return errno;
    return 0;

  case OP_KEEPCAPS: /* PR_SET_KEEPCAPS: keep permitted caps across setresuid away from 0 */
    if (prctl(PR_SET_KEEPCAPS, (unsigned long)fu64(s, 0), 0, 0, 0) < 0) return errno;
    return 0;

  /* setgroups/setresgid/setresuid are raw syscalls, not the glibc wrappers: in a process glibc
   * believes multi-threaded, the wrappers broadcast the change to every thread (setxid), which in
   * a child cloned from a threaded process (native/lib/inproc.c clones from Node) would try to
   * signal threads that only exist in the parent. For the single-threaded stage both are the
   * same single syscall. (x86_64 and aarch64: 32-bit ids.) */
  case OP_SETGROUPS: { /* setgroups(2): the supplementary groups */
    /* Up to SMALL_GROUPS on the stack, so the usual case allocates nothing after clone (the
     * in-process launcher refuses larger lists before it clones). */
    uint32_t n = s->f[0].count;
    gid_t small[SMALL_GROUPS];
    gid_t *g = n <= SMALL_GROUPS ? small : calloc(n, sizeof(gid_t));
    if (!g) return ENOMEM;
    for (uint32_t i = 0; i < n; i++) { uint64_t v; memcpy(&v, s->f[0].p + 8 * i, 8); g[i] = (gid_t)v; }
    if (syscall(SYS_setgroups, (size_t)n, g) < 0) err = errno;
    if (g != small) free(g);
    return err;
  }

  case OP_SETRESGID:
    if (syscall(SYS_setresgid, (gid_t)fu64(s, 0), (gid_t)fu64(s, 0), (gid_t)fu64(s, 0)) < 0) return errno;
    return 0;

  case OP_SETRESUID:
    if (syscall(SYS_setresuid, (uid_t)fu64(s, 0), (uid_t)fu64(s, 0), (uid_t)fu64(s, 0)) < 0) return errno;
    return 0;

  case OP_CAPSET: { /* capset(2), version 3: two 32-bit words per set cover caps 0..63 */
    struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
    struct __user_cap_data_struct d[2];
    for (int i = 0; i < 2; i++) {
      d[i].effective = (uint32_t)(fu64(s, 0) >> (32 * i));
      d[i].permitted = (uint32_t)(fu64(s, 1) >> (32 * i));
      d[i].inheritable = (uint32_t)(fu64(s, 2) >> (32 * i));
    }
    if (syscall(SYS_capset, &h, d) < 0) return errno;
    return 0;
  }

  case OP_AMBIENT_RAISE: /* PR_CAP_AMBIENT_RAISE (each cap must be permitted and inheritable) */
    for (int cap = 0; cap < 64; cap++)
      if ((fu64(s, 0) >> cap & 1) && prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) < 0) return errno;
    return 0;

  case OP_NO_NEW_PRIVS: /* no setuid/file-cap gains across execve; lets seccomp load unprivileged */
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) return errno;
    return 0;

  case OP_SECCOMP: /* seccomp(2) SECCOMP_SET_MODE_FILTER with the plan's classic BPF program */
    return load_seccomp(s);

  case OP_DEVICE_FILTER: /* bpf(2): the cgroup v2 device allowlist (stage phase) */
    return load_device_filter(fstr(s, 0), &s->f[1]);

  case OP_SETSID: /* a new session, so the pty can become its controlling terminal */
    if (setsid() < 0) return errno;
    return 0;

  case OP_SETCTTY: /* the pty slave becomes the controlling terminal and fds 0, 1, 2 */
    if (c->pty_slave < 0) return ENOTTY;
    if (ioctl(c->pty_slave, TIOCSCTTY, 0) < 0) return errno;
    for (int i = 0; i < 3; i++)
      if (dup2(c->pty_slave, i) < 0) return errno;
    if (c->pty_slave > 2) close(c->pty_slave);
    c->pty_slave = -1;
    return 0;

  case OP_INIT: { /* fork: we stay as init; the grandchild returns and runs the next steps */
    sigset_t all, old;
    sigfillset(&all);
    sigprocmask(SIG_BLOCK, &all, &old);
    pid_t pid = raw_fork(0);
    if (pid < 0) { err = errno; sigprocmask(SIG_SETMASK, &old, NULL); return err; }
    if (pid == 0) { sigprocmask(SIG_SETMASK, &old, NULL); return 0; }
    /* init keeps only 0, 1, 2: without its copy of the error pipe, EOF there still means
     * "the grandchild's execve succeeded". */
    syscall(SYS_close_range, 3, ~0U, 0);
    init_loop(pid, &all);
    return 0; /* not reached */
  }

  case OP_IFUP: { /* SIOCSIFFLAGS: set IFF_UP, e.g. on lo of a new network namespace */
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    if (strlen(fstr(s, 0)) >= IFNAMSIZ) return EINVAL;
    strcpy(ifr.ifr_name, fstr(s, 0));
    if ((fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0) return errno;
    if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0) err = errno;
    else if (!(ifr.ifr_flags & IFF_UP)) {
      ifr.ifr_flags |= IFF_UP;
      if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0) err = errno;
    }
    break;
  }

  case OP_HOOK: { /* pause while niwa runs a hook on the host: report "hook <index> <pid>" (pid 0
                    * from the child, which does not know its host pid; Node has it from `pid`),
                    * then wait for one byte of answer: 'y' = go on, anything else = the hook
                    * failed (ECANCELED), end of file = niwa went away (EPIPE). */
    char line[64], b;
    int n = snprintf(line, sizeof line, "hook %u %d\n", s->index, s->phase == PH_PARENT ? (int)c->child : 0);
    if (write_all(REPORT_FD, line, (size_t)n) < 0) return errno;
    ssize_t r;
    while ((r = read(ANSWER_FD, &b, 1)) < 0 && errno == EINTR) {}
    if (r < 0) return errno;
    return r == 0 ? EPIPE : b == 'y' ? 0 : ECANCELED;
  }

  case OP_OPENPTY: { /* in the container, once its own devpts is reachable: open a pty there (the
                       * slave via TIOCGPTPEER, kept for setctty) and send the master to the stage,
                       * which relays it after execve; so the terminal has a name inside */
    int unlock = 0;
    if (!c->in_child || c->pty_sock[1] < 0) return EINVAL;
    if ((fd = open(fstr(s, 0), O_RDWR | O_NOCTTY | O_CLOEXEC)) < 0) return errno;
    if (ioctl(fd, TIOCSPTLCK, &unlock) < 0 ||
        (c->pty_slave = ioctl(fd, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC)) < 0) {
      err = errno;
      close(fd);
      return err;
    }
    { /* size it like our terminal now, before execve: the stage sizes the master only once
       * it has received it, which is after the program may already have asked */
      struct winsize ws;
      if (isatty(0) && ioctl(0, TIOCGWINSZ, &ws) == 0) ioctl(c->pty_slave, TIOCSWINSZ, &ws);
    }
    char cm[CMSG_SPACE(sizeof(int))] = { 0 };
    char byte = 'p';
    struct iovec iov = { &byte, 1 };
    struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cm, .msg_controllen = sizeof cm };
    struct cmsghdr *h = CMSG_FIRSTHDR(&mh);
    h->cmsg_level = SOL_SOCKET, h->cmsg_type = SCM_RIGHTS, h->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(h), &fd, sizeof fd);
    ssize_t n;
    while ((n = sendmsg(c->pty_sock[1], &mh, 0)) < 0 && errno == EINTR) {}
    err = n < 0 ? errno : 0;
    close(fd);
    return err;
  }

  case OP_PROBE: /* a health check's TCP/HTTP probe; like execve it does not return */
    _exit(probe(fstr(s, 0), (unsigned)fu64(s, 1), (unsigned)fu64(s, 2), fstr(s, 3)));

  case OP_EXECVE: /* execve(2) with the plan's argv and environment */
    return do_execve(fstr(s, 0), s->f[1].strv, s->f[2].strv);

  default: /* OP_CLONE is done by stage.c itself */
    return EINVAL;
  }

  if (fd >= 0) close(fd);
  if (rootfd >= 0) close(rootfd);
  return err;
}
