/* stage.c — the niwa native stage: the process flow around the plan's operations.
 *
 * Node spawns this executable with the plan buffer on fd 3 and a report pipe on fd 4
 * (protocol: native/README.md). It runs the plan's `stage` steps, clones the container
 * process with the plan's namespace flags, runs the `parent` steps (uid/gid maps, cgroup
 * placement) while the child waits, and lets the child run its `child` steps up to execve.
 * Then it stays as the container's shim: forwards signals, relays the pty if there is one,
 * reaps the container and reports how it ended. It decides nothing the plan could decide. */
#include "stage.h"
#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <linux/close_range.h>

#define EXIT_SETUP_FAILED 125

static int report_fd = 4;
/* Optional fd 6: a file where the final `exit N`/`signal N` line is written too, so the end of
 * a container is known even when the process reading fd 4 (the supervisor) has died. */
static int status_fd = 6;
/* fd 5, the answers to `hook` reports, if Node gave one. */
static int answer_fd = ANSWER_FD;
static struct termios saved_tty;
static int tty_raw;

/* One text line on fd 4. Errors are ignored: if Node went away, the container goes on. */
static void report(const char *fmt, ...) {
  char line[128];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  if (report_fd < 0 || n <= 0) return;
  while (write(report_fd, line, (size_t)n) < 0 && errno == EINTR) {}
}

static void restore_tty(void) {
  if (tty_raw) tcsetattr(0, TCSANOW, &saved_tty);
  tty_raw = 0;
}

/* Setup failed at step `index` (-1: the stage itself) with errno `err`. */
static void fail(struct ctx *c, long index, int err) {
  if (c->child > 0) {
    kill(c->child, SIGKILL);
    while (waitpid(c->child, NULL, 0) < 0 && errno == EINTR) {}
  }
  report("error %ld %d\n", index, err);
  restore_tty();
  _exit(EXIT_SETUP_FAILED);
}

/* A parent step failed and the child is gone: why it went is the failure to report —
 * its own error on the error pipe (it failed a step), or the signal that killed it during setup
 * (`killed INDEX SIG`, e.g. the OOM killer's SIGKILL). Only then the parent's own error. */
static void parent_fail(struct ctx *c, long index, int err) {
  int st;
  pid_t w = 0;
  /* EPIPE / ESRCH: the child is certainly gone (wait for it); otherwise only if it already is */
  if (c->child > 0) while ((w = waitpid(c->child, &st, err == EPIPE || err == ESRCH ? 0 : WNOHANG)) < 0 && errno == EINTR) {}
  if (c->child > 0 && w == c->child) {
    int32_t msg[2];
    ssize_t n;
    c->child = 0;
    while ((n = read(c->err_r, msg, sizeof msg)) < 0 && errno == EINTR) {}
    if (n == (ssize_t)sizeof msg) fail(c, msg[0], msg[1]);
    if (WIFSIGNALED(st)) {
      report("killed %ld %d\n", index, WTERMSIG(st));
      restore_tty();
      _exit(EXIT_SETUP_FAILED);
    }
  }
  fail(c, index, err);
}

/* The whole plan from fd 3, until EOF. */
static unsigned char *read_plan(size_t *len) {
  size_t cap = 16384, n = 0;
  unsigned char *b = malloc(cap);
  while (b) {
    if (n == cap && !(b = realloc(b, cap *= 2))) break;
    ssize_t r = read(3, b + n, cap - n);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) { free(b); return NULL; }
    if (r == 0) { *len = n; return b; }
    n += (size_t)r;
  }
  errno = ENOMEM;
  return NULL;
}

/* Write everything to `fd`, waiting when it is non-blocking (Node's pipes can be). */
static int put(int fd, const char *p, size_t n) {
  while (n) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && errno == EAGAIN) {
      struct pollfd pf = { fd, POLLOUT, 0 };
      poll(&pf, 1, -1);
      continue;
    }
    if (w <= 0) return -1;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

/* ------------------------------------------------------------ the child side */

static void child_main(struct ctx *c, uint32_t first) {
  /* Undo what only the stage needs: blocked signals and ignored SIGPIPE are inherited
   * across execve, so the container must not keep them. */
  signal(SIGPIPE, SIG_DFL);
  sigprocmask(SIG_SETMASK, &c->orig_mask, NULL);
  close(c->sync_w);
  close(c->err_r);
  if (c->pty_master >= 0) close(c->pty_master);
  if (c->pty_sock[0] >= 0) close(c->pty_sock[0]);
  /* The report, answer and status fds are close-on-exec, but until execve this process is in the
   * container's namespaces: keep nothing of niwa's it does not need. Only a `hook` step still to
   * come needs fds 4 and 5 (it reports and waits for the answer). */
  int hooks = 0;
  for (uint32_t i = first; i < c->plan->n; i++) if (c->plan->steps[i].phase == PH_CHILD && c->plan->steps[i].op == OP_HOOK) hooks = 1;
  if (!hooks) {
    if (report_fd >= 0) close(report_fd);
    if (answer_fd >= 0) close(answer_fd);
    report_fd = answer_fd = -1;
  }
  if (status_fd >= 0) close(status_fd);
  status_fd = -1;
  c->in_child = 1;
  for (uint32_t i = first; i < c->plan->n; i++) {
    const struct step *s = &c->plan->steps[i];
    if (s->phase != PH_CHILD) continue;
    int err = op_run(c, s);
    if (s->op == OP_EXECVE && !err) err = EINVAL; /* not reached: execve returned */
    if (err) {
      int32_t msg[2] = { (int32_t)s->index, err };
      while (write(c->err_w, msg, sizeof msg) < 0 && errno == EINTR) {}
      _exit(127);
    }
  }
  /* The plan ended without execve: nothing to run. */
  int32_t msg[2] = { -1, ENOEXEC };
  while (write(c->err_w, msg, sizeof msg) < 0 && errno == EINTR) {}
  _exit(127);
}

/* ------------------------------------------------------------------ the shim */

/* After execve: forward signals, relay the pty, reap the container, report, exit alike. */
static int shim(struct ctx *c, const sigset_t *sigs) {
  int sfd = signalfd(-1, sigs, SFD_CLOEXEC);
  if (sfd < 0) fail(c, -1, errno);
  int pty = c->pty_master >= 0, in_open = pty, m_open = pty;
  if (pty) {
    fcntl(c->pty_master, F_SETFL, fcntl(c->pty_master, F_GETFL) | O_NONBLOCK);
    /* A real terminal on stdin goes raw: the pty's own line discipline does the editing. */
    if (isatty(0) && tcgetattr(0, &saved_tty) == 0) {
      struct termios raw = saved_tty;
      cfmakeraw(&raw);
      if (tcsetattr(0, TCSANOW, &raw) == 0) tty_raw = 1;
    }
  }
  char buf[16384];
  int status = 0;
  for (;;) {
    struct pollfd pf[3] = { { sfd, POLLIN, 0 }, { in_open ? 0 : -1, POLLIN, 0 }, { m_open ? c->pty_master : -1, POLLIN, 0 } };
    if (poll(pf, 3, -1) < 0) continue;
    if (pf[0].revents & POLLIN) {
      struct signalfd_siginfo si;
      if (read(sfd, &si, sizeof si) == (ssize_t)sizeof si) {
        int sig = (int)si.ssi_signo;
        if (sig == SIGCHLD) {
          pid_t w = waitpid(c->child, &status, WNOHANG);
          if (w == c->child) break;
        } else if (sig == SIGWINCH && pty) {
          /* resizing the pty makes the kernel send SIGWINCH to the container's foreground group */
          struct winsize ws;
          if (isatty(0) && ioctl(0, TIOCGWINSZ, &ws) == 0) ioctl(c->pty_master, TIOCSWINSZ, &ws);
        } else if (si.ssi_code != SI_KERNEL || getpgid(c->child) != getpgrp()) {
          /* (a terminal's Ctrl-C reaches our whole process group: if the container is in
           * it, the kernel has already signalled it and forwarding would double it) */
          kill(c->child, sig);
        }
      }
    }
    if (pf[1].revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t n = read(0, buf, sizeof buf);
      if (n > 0) put(c->pty_master, buf, (size_t)n);
      else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
        /* stdin ended: pass it on as end-of-file (VEOF) on the terminal */
        in_open = 0;
        struct termios t;
        /* The master's own termios may not carry the slave's VEOF (it reads as 0 here, which
         * would be echoed as ^@): fall back to the standard ^D. */
        char eof = tcgetattr(c->pty_master, &t) == 0 && t.c_cc[VEOF] ? (char)t.c_cc[VEOF] : 4;
        put(c->pty_master, &eof, 1);
      }
    }
    if (pf[2].revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t n = read(c->pty_master, buf, sizeof buf);
      if (n > 0) put(1, buf, (size_t)n);
      else if (n == 0 || (errno != EINTR && errno != EAGAIN)) m_open = 0; /* EIO: no slave left */
    }
  }
  /* the container is gone: drain what it wrote to the terminal */
  for (ssize_t n; m_open && (n = read(c->pty_master, buf, sizeof buf)) > 0;) put(1, buf, (size_t)n);
  restore_tty();
  char last[32];
  int n = WIFSIGNALED(status) ? snprintf(last, sizeof last, "signal %d\n", WTERMSIG(status))
                              : snprintf(last, sizeof last, "exit %d\n", WEXITSTATUS(status));
  report("%s", last);
  if (status_fd >= 0 && n > 0) while (write(status_fd, last, (size_t)n) < 0 && errno == EINTR) {}
  return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
}

/* ----------------------------------------------------- the sealed executable */

/* The seals that make a memfd immutable: no write, no resize, no removing the seals. */
#define SELF_SEALS (F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE)
#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U
#endif

/* CVE-2019-5736: a container process that reaches /proc/PID/exe of a stage process (the shim of a
 * container without a pid namespace, the joining process of `niwa exec`) must not get a handle on
 * the host's niwa-stage file. So, as runc does, the stage runs from a sealed memfd copy of itself:
 * if /proc/self/exe is not one yet, copy it into a memfd, seal it and execveat it (the fds 0-6 and
 * the blocked signals carry over). Returns only when already running from the sealed copy; any
 * failure is reported as a stage error (fail closed). */
static void run_sealed(char **argv, char **envp) {
  int self = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
  if (self < 0) { report("error -1 %d\n", errno); _exit(EXIT_SETUP_FAILED); }
  int seals = fcntl(self, F_GET_SEALS);
  if (seals >= 0 && (seals & SELF_SEALS) == SELF_SEALS) { close(self); return; }
  int m = memfd_create("niwa-stage", MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_EXEC);
  if (m < 0 && errno == EINVAL) m = memfd_create("niwa-stage", MFD_CLOEXEC | MFD_ALLOW_SEALING); /* before 6.3 */
  int err = m < 0 ? errno : 0;
  char buf[65536];
  for (ssize_t n; !err && (n = read(self, buf, sizeof buf)) != 0;) {
    if (n < 0) { if (errno != EINTR) err = errno; continue; }
    if (put(m, buf, (size_t)n) < 0) err = errno ? errno : EIO;
  }
  close(self);
  if (!err && fcntl(m, F_ADD_SEALS, SELF_SEALS) < 0) err = errno;
  if (!err) syscall(SYS_execveat, m, "", argv, envp, AT_EMPTY_PATH);
  report("error -1 %d\n", err ? err : errno);
  _exit(EXIT_SETUP_FAILED);
}

/* ------------------------------------------------------------------- main */

int main(int argc, char **argv, char **envp) {
  (void)argc;
  /* Nothing may ptrace this process, read its memory or open its fds and executable through /proc
   * while it is the stage: not dumpable until execve (which the program's own image resets). Set
   * first, before anything else happens; the memfd copy sets it again right away. */
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  run_sealed(argv, envp);
  prctl(PR_SET_NAME, "niwa-stage", 0, 0, 0); /* (the memfd's name would be "memfd:niwa-stag") */
  struct ctx c = { .sync_r = -1, .sync_w = -1, .err_r = -1, .err_w = -1, .pty_master = -1, .pty_slave = -1, .pty_sock = { -1, -1 } };
  struct plan plan;
  size_t len = 0;

  /* The report pipe (and the status file, if given) must never reach the container. */
  if (fcntl(report_fd, F_SETFD, FD_CLOEXEC) < 0) report_fd = -1;
  if (fcntl(status_fd, F_SETFD, FD_CLOEXEC) < 0) status_fd = -1;
  if (fcntl(answer_fd, F_SETFD, FD_CLOEXEC) < 0) answer_fd = -1;

  /* Block the signals we forward (and SIGCHLD) from the very start: one that arrives
   * during setup stays pending and is forwarded once the container runs; none is lost
   * and none kills the stage. A report pipe Node closed must not kill us either. */
  sigset_t sigs;
  sigemptyset(&sigs);
  static const int fwd[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGCONT, SIGWINCH, SIGCHLD };
  for (size_t i = 0; i < sizeof fwd / sizeof fwd[0]; i++) sigaddset(&sigs, fwd[i]);
  sigprocmask(SIG_BLOCK, &sigs, &c.orig_mask);
  signal(SIGPIPE, SIG_IGN);

  unsigned char *buf = read_plan(&len);
  if (!buf) fail(&c, -1, errno);
  close(3);
  int err = plan_decode(buf, len, &plan);
  if (err) fail(&c, -1, err);
  c.plan = &plan;
  const char *fail_at = getenv("NIWA_TEST_FAIL_STEP"); /* tests only (stage.h) */
  if (fail_at && *fail_at) {
    char *end;
    niwa_fail_step = strtol(fail_at, &end, 10);
    niwa_fail_kill = strcmp(end, ":kill") == 0;
  }
  /* Whatever else we inherited stays out of the container. */
  syscall(SYS_close_range, 3, ~0U, CLOSE_RANGE_CLOEXEC);

  /* Phase `stage`: join namespaces, unshare the time namespace, write its offsets. */
  uint32_t i = 0;
  for (; i < plan.n && plan.steps[i].phase == PH_STAGE; i++)
    if ((err = op_run(&c, &plan.steps[i]))) fail(&c, plan.steps[i].index, err);

  /* Phase `clone`: exactly one clone step. */
  if (i >= plan.n || plan.steps[i].op != OP_CLONE) fail(&c, -1, EINVAL);
  const struct step *cl = &plan.steps[i++];
  if ((long)cl->index == niwa_fail_step) fail(&c, cl->index, EIO); /* injected (tests): stage.h */
  int sp[2], ep[2];
  if (pipe2(sp, O_CLOEXEC) < 0 || pipe2(ep, O_CLOEXEC) < 0) fail(&c, cl->index, errno);
  c.sync_r = sp[0], c.sync_w = sp[1], c.err_r = ep[0], c.err_w = ep[1];
  /* Does the child open the pty itself (an `openpty` step in phase child, after its devpts is
   * mounted, so the terminal is one of the container's own /dev/pts)? Then it sends the master
   * over pty_sock; otherwise the stage allocates it here. */
  int child_pty = 0;
  for (uint32_t k = i; k < plan.n; k++) if (plan.steps[k].phase == PH_CHILD && plan.steps[k].op == OP_OPENPTY) child_pty = 1;
  if ((plan.flags & PLAN_FLAG_TTY) && child_pty) {
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, c.pty_sock) < 0) fail(&c, cl->index, errno);
  } else if (plan.flags & PLAN_FLAG_TTY) {
    /* The pty: the stage keeps the master, the child makes the slave its terminal (setctty). */
    char name[64];
    if (((c.pty_master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC)) < 0 ||
        grantpt(c.pty_master) < 0 || unlockpt(c.pty_master) < 0 ||
        ptsname_r(c.pty_master, name, sizeof name) != 0 ||
        (c.pty_slave = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC)) < 0))
      fail(&c, cl->index, errno);
    struct winsize ws;
    if (isatty(0) && ioctl(0, TIOCGWINSZ, &ws) == 0) ioctl(c.pty_master, TIOCSWINSZ, &ws);
  }
  pid_t pid = raw_fork(fu64(cl, 0));
  if (pid < 0) fail(&c, cl->index, errno);
  if (pid == 0) child_main(&c, i);

  /* Phase `parent`: the child waits (wait_parent) while we write its maps and cgroups. */
  c.child = pid;
  snprintf(c.pid_str, sizeof c.pid_str, "%d", (int)pid);
  close(c.sync_r);
  close(c.err_w);
  if (c.pty_slave >= 0) close(c.pty_slave);
  c.sync_r = c.err_w = c.pty_slave = -1;
  for (; i < plan.n && plan.steps[i].phase == PH_PARENT; i++)
    if ((err = op_run(&c, &plan.steps[i]))) parent_fail(&c, plan.steps[i].index, err);
  close(c.sync_w); /* a child still waiting now reads EOF and fails, instead of hanging */
  report("pid %d\n", (int)pid);

  /* Phase `child` runs over there: EOF on the error pipe means its execve succeeded. */
  int32_t msg[2];
  ssize_t n;
  while ((n = read(c.err_r, msg, sizeof msg)) < 0 && errno == EINTR) {}
  if (n == (ssize_t)sizeof msg) fail(&c, msg[0], msg[1]);
  if (n != 0) fail(&c, -1, n < 0 ? errno : EIO);
  close(c.err_r);
  if (c.pty_sock[0] >= 0) {
    /* The child sent the master of its pty before execve: receive it and size it like ours. */
    char cm[CMSG_SPACE(sizeof(int))], byte;
    struct iovec iov = { &byte, 1 };
    struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cm, .msg_controllen = sizeof cm };
    close(c.pty_sock[1]);
    while ((n = recvmsg(c.pty_sock[0], &mh, MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR) {}
    struct cmsghdr *h = n > 0 ? CMSG_FIRSTHDR(&mh) : NULL;
    if (!h || h->cmsg_type != SCM_RIGHTS) fail(&c, -1, EPROTO);
    memcpy(&c.pty_master, CMSG_DATA(h), sizeof(int));
    close(c.pty_sock[0]);
    struct winsize ws;
    if (isatty(0) && ioctl(0, TIOCGWINSZ, &ws) == 0) ioctl(c.pty_master, TIOCSWINSZ, &ws);
  }
  report("exec\n");
  free(buf); /* the steps point into it; the child has its own copy */
  return shim(&c, &sigs);
}
