/* stage.h — shared declarations of the niwa native stage: the plan buffer model
 * (decoded by plan.c), the operation codes (they must match src/runtime/launch/encode.ts),
 * and the per-run context the operations (ops.c) and the process flow (stage.c) share.
 * The buffer format is documented in native/README.md. */
#ifndef NIWA_STAGE_H
#define NIWA_STAGE_H

#define _GNU_SOURCE
#include <stddef.h>
#include <stdint.h>
#include <signal.h>
#include <sys/types.h>

/* Header: "NIWA", u16 version, u16 flags, u32 step count (all little-endian). */
#define PLAN_MAGIC "NIWA"
#define PLAN_VERSION 1
#define PLAN_FLAG_TTY 0x1

/* The report pipe (text lines to Node) and the answer pipe (Node's replies to `hook`). */
#define REPORT_FD 4
#define ANSWER_FD 5

/* setgroups lists up to this many gids are copied on the stack (ops.c); native/lib/inproc.c
 * refuses longer lists, since it must not allocate after clone. */
#define SMALL_GROUPS 64

/* Phases, in the order the stage runs them. */
enum phase { PH_STAGE = 1, PH_CLONE = 2, PH_PARENT = 3, PH_CHILD = 4 };

/* Field types of an argument. */
enum ftype {
  FT_STR = 1,   /* bytes + terminating NUL (the length counts the NUL) */
  FT_NULL = 2,  /* absent string (null in the plan) */
  FT_U64 = 3,   /* 8 bytes */
  FT_STRV = 4,  /* u32 count, then count x (u32 length incl. NUL, bytes, NUL) */
  FT_U64V = 5,  /* count x 8 bytes */
  FT_BYTES = 6, /* raw bytes (seccomp: struct sock_filter array) */
};

/* Operation codes: stable numbers shared with encode.ts (OPCODES there). */
enum opcode {
  OP_MKDIR = 1, OP_RMDIR = 2, OP_WRITE = 3, OP_TOUCH = 4, OP_SYMLINK = 5,
  OP_SETNS = 6, OP_UNSHARE = 7, OP_CLONE = 8, OP_RELEASE_CHILD = 9, OP_WAIT_PARENT = 10,
  OP_MOUNT = 11, OP_UMOUNT2 = 12, OP_MASK = 13, OP_READONLY = 14, OP_PIVOT_ROOT = 15,
  OP_CHROOT = 16, OP_CHDIR = 17, OP_SETHOSTNAME = 18, OP_SETDOMAINNAME = 19,
  OP_SETRLIMIT = 20, OP_CAPBSET_DROP = 21, OP_KEEPCAPS = 22, OP_SETGROUPS = 23,
  OP_SETRESGID = 24, OP_SETRESUID = 25, OP_CAPSET = 26, OP_AMBIENT_RAISE = 27,
  OP_NO_NEW_PRIVS = 28, OP_SECCOMP = 29, OP_SETSID = 30, OP_SETCTTY = 31, OP_INIT = 32,
  OP_EXECVE = 33, OP_IFUP = 34, OP_HOOK = 35, OP_PROBE = 36, OP_OPENPTY = 37, OP_DEVICE_FILTER = 38,
  OP_MAX
};

struct field {
  uint8_t type;
  uint32_t len;            /* payload length in bytes */
  const unsigned char *p;  /* payload inside the plan buffer */
  uint64_t u;              /* FT_U64: the value */
  char **strv;             /* FT_STRV: NULL-terminated array (points into the buffer) */
  uint32_t count;          /* FT_STRV / FT_U64V: number of elements */
};

struct step {
  uint32_t index;  /* index in plan.steps: what failures are reported by */
  uint8_t phase;
  uint8_t op;
  uint16_t nf;
  struct field *f;
};

struct plan {
  uint16_t flags;
  uint32_t n;
  struct step *steps;
};

/* What the stage process and its child share (set up before clone, inherited by the child). */
struct ctx {
  const struct plan *plan;
  int sync_r, sync_w;      /* child blocks on sync_r until the parent writes sync_w */
  int err_r, err_w;        /* CLOEXEC: child writes (index, errno); EOF on err_r = execve done */
  int pty_master, pty_slave;
  int pty_sock[2];         /* tty with a child-phase `openpty`: the child sends the master here */
  int in_child;            /* set in the container process (ops that act differently there) */
  pid_t child;             /* host pid of the container process (stage side), 0 before clone */
  char pid_str[24];        /* the same as text, for {pid} */
  sigset_t orig_mask;      /* signal mask the stage was started with (the child restores it) */
};

/* plan.c */
int plan_decode(unsigned char *buf, size_t len, struct plan *out);
static inline const char *fstr(const struct step *s, int i) { return s->f[i].type == FT_STR ? (const char *)s->f[i].p : NULL; }
static inline uint64_t fu64(const struct step *s, int i) { return s->f[i].u; }

/* ops.c: run one step; returns 0 or a positive errno. OP_EXECVE returns only on failure;
 * OP_INIT returns 0 in the grandchild and never returns in the init process. */
int op_run(struct ctx *c, const struct step *s);
/* For tests only: the step with this index fails with EIO instead of running (-1: none). Set
 * from NIWA_TEST_FAIL_STEP by the stage's main; the fault tests use it to check that a start
 * failing at any step is rolled back completely. */
extern long niwa_fail_step;
/* With NIWA_TEST_FAIL_STEP=N:kill, parent step N first SIGKILLs the child (as the OOM killer
 * would during setup) and then runs. */
extern int niwa_fail_kill;
pid_t raw_fork(uint64_t flags);

#endif
