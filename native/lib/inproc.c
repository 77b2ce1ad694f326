/* inproc.c — EXPERIMENT: the native stage as a shared library (native/build/libniwa-stage.so),
 * called through koffi by src/runtime/launch/inproc.ts, so that a long-running Node process
 * (a supervisor) can launch a container without spawning the stage executable. niwa itself
 * uses the executable; the measurements and the decision are in native/README.md.
 *
 * It runs the same operations (ops.c) on the same decoded buffer (plan.c) as the executable,
 * but it is called *inside Node*, a multi-threaded process, so it differs in what it does
 * around them:
 *   - it never acts on the calling process: the plan may have no `stage` steps (setns/unshare
 *     would change the Node thread) but leading `device_filter`s (bpf(2) on a cgroup), no tty (the pty relay is the shim's job) and no hooks
 *     (they talk over fds 4 and 5, which are Node's own here); the parent phase may only write
 *     files and release the child. Anything else is refused before cloning.
 *   - it decodes the plan and opens every pipe *before* clone; the child then calls only
 *     async-signal-safe functions and the syscalls of its steps (no malloc: another Node thread
 *     may have held the allocator's lock at the moment of clone, and the child would deadlock).
 *   - it clones with every signal blocked (no Node signal handler may run in the child), resets
 *     every disposition to the default in the child and then unblocks, as posix_spawn does.
 *   - it does not stay as a shim: it returns once the container's execve succeeded, with a
 *     pidfd (CLONE_PIDFD); Node reaps the container with niwa_inproc_reap().
 * No global state: calls may run concurrently on different threads (koffi async calls). */
#include "../stage.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <linux/close_range.h>
#include <linux/sched.h>

#define EXPORT __attribute__((visibility("default")))

/* Result slots of niwa_inproc_launch (an int32 array of OUT_N from the caller). */
enum { OUT_PID, OUT_PIDFD, OUT_INDEX, OUT_ERRNO, OUT_N };

static void plan_free(struct plan *p) {
  if (!p->steps) return;
  for (uint32_t i = 0; i < p->n; i++) {
    struct step *s = &p->steps[i];
    if (!s->f) continue;
    for (uint16_t k = 0; k < s->nf; k++) free(s->f[k].strv);
    free(s->f);
  }
  free(p->steps);
  p->steps = NULL;
}

/* What the in-process launcher can run: a clone step first, then only parent-phase file writes
 * and release, and child steps other than those needing the shim (hook, pty). */
/* Leading `device_filter` steps (the cgroup v2 device program: bpf(2) acts on the cgroup, not on
 * the calling thread) are run before clone; the clone step follows them. Returns its index. */
static uint32_t clone_at(const struct plan *p) {
  uint32_t k = 0;
  while (k < p->n && p->steps[k].phase == PH_STAGE && p->steps[k].op == OP_DEVICE_FILTER) k++;
  return k;
}

static int plan_supported(const struct plan *p) {
  if (p->flags & PLAN_FLAG_TTY) return 0;
  uint32_t k = clone_at(p);
  if (k >= p->n || p->steps[k].phase != PH_CLONE || p->steps[k].op != OP_CLONE) return 0;
  for (uint32_t i = k + 1; i < p->n; i++) {
    const struct step *s = &p->steps[i];
    if (s->phase == PH_PARENT && s->op != OP_WRITE && s->op != OP_RELEASE_CHILD) return 0;
    if (s->phase == PH_CHILD && (s->op == OP_HOOK || s->op == OP_SETCTTY || s->op == OP_OPENPTY)) return 0;
    if (s->phase != PH_PARENT && s->phase != PH_CHILD) return 0;
    if (s->op == OP_SETGROUPS && s->f[0].count > SMALL_GROUPS) return 0;
  }
  return 1;
}

/* clone3 without a new stack (fork-like: the child goes on with a copy of this thread only),
 * with CLONE_PIDFD so the container can be reaped without any pid-reuse race. */
static pid_t clone_pidfd(uint64_t flags, int *pidfd) {
  struct clone_args a;
  memset(&a, 0, sizeof a);
  a.flags = flags | CLONE_PIDFD;
  a.pidfd = (uint64_t)(uintptr_t)pidfd;
  a.exit_signal = SIGCHLD;
  return (pid_t)syscall(SYS_clone3, &a, sizeof a);
}

static void child_fail(int err_w, int32_t index, int err) {
  int32_t msg[2] = { index, err };
  while (write(err_w, msg, sizeof msg) < 0 && errno == EINTR) {}
  _exit(127);
}

/* The child: only async-signal-safe calls from here to execve. */
static void child(struct ctx *c, const int fds[3]) {
  /* not dumpable until execve, like the stage executable (native/README.md, step 0) */
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  /* Node's handlers (and its ignored SIGPIPE) must not reach the container; then unblock
   * everything, as the executable's child ends up with (libuv spawns it with an empty mask). */
  struct sigaction dfl;
  memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; sig++)
    if (sig != SIGKILL && sig != SIGSTOP) sigaction(sig, &dfl, NULL); /* glibc's internal ones: EINVAL */
  /* stdio: move the given fds (-1: /dev/null) out of the way first, then onto 0, 1, 2 (dup2
   * clears close-on-exec there). Node keeps its 0..2 open, so our pipes are all above 2. */
  int tmp[3];
  for (int i = 0; i < 3; i++) {
    tmp[i] = fds[i] >= 0 ? fcntl(fds[i], F_DUPFD_CLOEXEC, 3) : open("/dev/null", O_RDWR | O_CLOEXEC);
    if (tmp[i] < 0) child_fail(c->err_w, -1, errno);
  }
  for (int i = 0; i < 3; i++)
    if (dup2(tmp[i], i) < 0) child_fail(c->err_w, -1, errno);
  for (int i = 0; i < 3; i++) close(tmp[i]);
  /* Everything else Node has open stays out of the container (our pipes are CLOEXEC already). */
  syscall(SYS_close_range, 3, ~0U, CLOSE_RANGE_CLOEXEC);
  close(c->sync_w);
  close(c->err_r);
  sigset_t none;
  sigemptyset(&none);
  pthread_sigmask(SIG_SETMASK, &none, NULL);
  /* The child steps, exactly as child_main in stage.c runs them. */
  for (uint32_t i = 0; i < c->plan->n; i++) {
    const struct step *s = &c->plan->steps[i];
    if (s->phase != PH_CHILD) continue;
    int err = op_run(c, s);
    if (s->op == OP_EXECVE && !err) err = EINVAL; /* not reached: execve returned */
    if (err) child_fail(c->err_w, (int32_t)s->index, err);
  }
  child_fail(c->err_w, -1, ENOEXEC); /* the plan ended without execve */
}

/* Kill and reap a container whose setup failed (it has not exec'd: nothing else reaps it). */
static void kill_reap(int pidfd) {
  siginfo_t si;
  syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
  while (waitid((idtype_t)P_PIDFD, (id_t)pidfd, &si, WEXITED) < 0 && errno == EINTR) {}
  close(pidfd);
}

/* Launch the plan in `buf` (the stage buffer, native/README.md) up to the container's execve.
 * fd0..fd2: the container's stdio (-1: /dev/null). Returns 0 with out[OUT_PID] and
 * out[OUT_PIDFD] (close-on-exec; reap it with niwa_inproc_reap), or -1 with out[OUT_INDEX] the
 * failed step (-1: the launcher itself, e.g. an unsupported plan: EINVAL) and out[OUT_ERRNO].
 * Blocks the calling thread from clone to execve (a few ms for a plain plan). */
EXPORT int niwa_inproc_launch(const unsigned char *buf, size_t len, int fd0, int fd1, int fd2, int32_t *out) {
  struct ctx c = { .sync_r = -1, .sync_w = -1, .err_r = -1, .err_w = -1, .pty_master = -1, .pty_slave = -1, .pty_sock = { -1, -1 } };
  struct plan plan;
  int err = 0, pidfd = -1;
  const int fds[3] = { fd0, fd1, fd2 };
  memset(&plan, 0, sizeof plan);
  out[OUT_PID] = 0, out[OUT_PIDFD] = -1, out[OUT_INDEX] = -1, out[OUT_ERRNO] = 0;

  /* Our own copy: the decoded steps point into it, and the caller's memory is not ours to keep. */
  unsigned char *copy = malloc(len ? len : 1);
  if (!copy) { out[OUT_ERRNO] = ENOMEM; return -1; }
  memcpy(copy, buf, len);
  if ((err = plan_decode(copy, len, &plan)) || (err = plan_supported(&plan) ? 0 : EINVAL)) goto done;
  c.plan = &plan;
  sigemptyset(&c.orig_mask);
  const uint32_t k = clone_at(&plan);
  for (uint32_t i = 0; i < k && !err; i++)
    if ((err = op_run(&c, &plan.steps[i]))) out[OUT_INDEX] = (int32_t)plan.steps[i].index;
  if (err) goto done;

  int sp[2], ep[2];
  if (pipe2(sp, O_CLOEXEC) < 0) { err = errno; goto done; }
  if (pipe2(ep, O_CLOEXEC) < 0) { err = errno; close(sp[0]); close(sp[1]); goto done; }
  c.sync_r = sp[0], c.sync_w = sp[1], c.err_r = ep[0], c.err_w = ep[1];

  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  pid_t pid = clone_pidfd(fu64(&plan.steps[k], 0), &pidfd);
  if (pid == 0) child(&c, fds); /* never returns */
  if (pid < 0) err = errno;
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  close(c.sync_r);
  close(c.err_w);
  if (pid < 0) {
    out[OUT_INDEX] = (int32_t)plan.steps[k].index;
    close(c.sync_w);
    close(c.err_r);
    goto done;
  }

  /* Phase `parent` (cgroup.procs and map writes with {pid}, release_child), as in stage.c. */
  c.child = pid;
  snprintf(c.pid_str, sizeof c.pid_str, "%d", (int)pid);
  for (uint32_t i = k + 1; i < plan.n && plan.steps[i].phase == PH_PARENT && !err; i++)
    if ((err = op_run(&c, &plan.steps[i]))) out[OUT_INDEX] = (int32_t)plan.steps[i].index;
  close(c.sync_w); /* a child still waiting now reads EOF and fails, instead of hanging */

  /* EOF on the error pipe: the child's execve succeeded. */
  if (!err) {
    int32_t msg[2];
    ssize_t n;
    while ((n = read(c.err_r, msg, sizeof msg)) < 0 && errno == EINTR) {}
    if (n == (ssize_t)sizeof msg) out[OUT_INDEX] = msg[0], err = msg[1];
    else if (n != 0) err = n < 0 ? errno : EIO;
  }
  close(c.err_r);
  if (err) {
    kill_reap(pidfd);
    goto done;
  }
  out[OUT_PID] = pid;
  out[OUT_PIDFD] = pidfd;

done:
  plan_free(&plan);
  free(copy);
  if (err) out[OUT_ERRNO] = err;
  return err ? -1 : 0;
}

/* Reap the container behind `pidfd` if it has ended, without blocking. Returns 1 when it was
 * reaped (out[0] exit code or -1, out[1] signal or -1), 0 while it runs, or a negative errno
 * (ECHILD: something else in this process reaped it). The pidfd is closed unless 0 is returned. */
EXPORT int niwa_inproc_reap(int pidfd, int32_t *out) {
  siginfo_t si;
  memset(&si, 0, sizeof si);
  if (waitid((idtype_t)P_PIDFD, (id_t)pidfd, &si, WEXITED | WNOHANG) < 0) {
    int err = errno;
    close(pidfd);
    return -err;
  }
  if (si.si_pid == 0) return 0;
  out[0] = si.si_code == CLD_EXITED ? si.si_status : -1;
  out[1] = si.si_code == CLD_EXITED ? -1 : si.si_status;
  close(pidfd);
  return 1;
}

/* Send a signal to the container through its pidfd (no pid-reuse race). 0 or a negative errno. */
EXPORT int niwa_inproc_kill(int pidfd, int sig) {
  return syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0) < 0 ? -errno : 0;
}
