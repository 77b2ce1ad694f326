/* plan.c — decodes the plan buffer (format: native/README.md) into steps, and checks every
 * step's arguments against the operation's signature, so the operations can trust them.
 * Decoding happens once, before clone; strings point into the buffer (they end with NUL). */
#include "stage.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Argument signature of each operation, one letter per field:
 * S string, s string or null, U u64, V string list, W u64 list, B bytes.
 * Keep in sync with SIGNATURES in src/runtime/launch/encode.ts. */
static const char *const SIG[OP_MAX] = {
  [OP_MKDIR] = "SUsU",        /* path, mode, inRoot, parents */
  [OP_RMDIR] = "S",           /* path */
  [OP_WRITE] = "SSsU",        /* path, data, inRoot, create */
  [OP_TOUCH] = "SUs",         /* path, mode, inRoot */
  [OP_SYMLINK] = "SSs",       /* target, path, inRoot */
  [OP_SETNS] = "SU",          /* path, CLONE_NEW* flag */
  [OP_UNSHARE] = "U",         /* CLONE_* flags */
  [OP_CLONE] = "U",           /* CLONE_* flags */
  [OP_RELEASE_CHILD] = "",
  [OP_WAIT_PARENT] = "",
  [OP_MOUNT] = "sSsUssUU",    /* source, target, fstype, MS_* flags, data, inRoot, mkTarget (0 no, 1 dir, 2 file), keepLocked */
  [OP_UMOUNT2] = "SU",        /* target, MNT_* flags */
  [OP_MASK] = "S",            /* path */
  [OP_READONLY] = "S",        /* path */
  [OP_PIVOT_ROOT] = "SS",     /* new_root, put_old */
  [OP_CHROOT] = "S",
  [OP_CHDIR] = "S",
  [OP_SETHOSTNAME] = "S",
  [OP_SETDOMAINNAME] = "S",
  [OP_SETRLIMIT] = "UUU",     /* RLIMIT_* number, soft, hard (~0 = RLIM_INFINITY) */
  [OP_CAPBSET_DROP] = "U",    /* capability bit mask */
  [OP_KEEPCAPS] = "U",        /* 0 or 1 */
  [OP_SETGROUPS] = "W",       /* gids */
  [OP_SETRESGID] = "U",
  [OP_SETRESUID] = "U",
  [OP_CAPSET] = "UUU",        /* effective, permitted, inheritable masks */
  [OP_AMBIENT_RAISE] = "U",   /* capability bit mask */
  [OP_NO_NEW_PRIVS] = "",
  [OP_SECCOMP] = "B",         /* struct sock_filter[] */
  [OP_SETSID] = "",
  [OP_SETCTTY] = "",
  [OP_INIT] = "",
  [OP_EXECVE] = "SVV",        /* path, argv, envp */
  [OP_IFUP] = "S",            /* interface name */
  [OP_HOOK] = "",             /* (pause while niwa runs a hook on the host) */
  [OP_PROBE] = "SUUs",        /* address, port, timeout ms, HTTP request or null (plain TCP) */
  [OP_OPENPTY] = "S",         /* the ptmx to open (stage phase; the tty flag must be set) */
  [OP_DEVICE_FILTER] = "SB",  /* cgroup v2 directory, struct bpf_insn[] */
};

static uint32_t rd32(const unsigned char *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint16_t rd16(const unsigned char *p) { uint16_t v; memcpy(&v, p, 2); return v; }

/* Returns 0, or EINVAL/ENOMEM when the buffer is malformed (the stage reports step -1). */
int plan_decode(unsigned char *buf, size_t len, struct plan *out) {
  size_t off = 12;
  if (len < 12 || memcmp(buf, PLAN_MAGIC, 4) != 0 || rd16(buf + 4) != PLAN_VERSION) return EINVAL;
  out->flags = rd16(buf + 6);
  out->n = rd32(buf + 8);
  if (out->n > 100000) return EINVAL;
  out->steps = calloc(out->n ? out->n : 1, sizeof(struct step));
  if (!out->steps) return ENOMEM;
  for (uint32_t i = 0; i < out->n; i++) {
    struct step *s = &out->steps[i];
    if (len - off < 8) return EINVAL;
    s->index = rd32(buf + off);
    s->phase = buf[off + 4];
    s->op = buf[off + 5];
    s->nf = rd16(buf + off + 6);
    off += 8;
    if (s->op == 0 || s->op >= OP_MAX || s->phase < PH_STAGE || s->phase > PH_CHILD) return EINVAL;
    const char *sig = SIG[s->op];
    if (strlen(sig) != s->nf) return EINVAL;
    s->f = calloc(s->nf ? s->nf : 1, sizeof(struct field));
    if (!s->f) return ENOMEM;
    for (uint16_t k = 0; k < s->nf; k++) {
      struct field *f = &s->f[k];
      if (len - off < 5) return EINVAL;
      f->type = buf[off];
      f->len = rd32(buf + off + 1);
      off += 5;
      if (len - off < f->len) return EINVAL;
      f->p = buf + off;
      off += f->len;
      char want = sig[k];
      switch (f->type) {
      case FT_STR:
        if ((want != 'S' && want != 's') || f->len == 0 || f->p[f->len - 1] != 0) return EINVAL;
        break;
      case FT_NULL:
        if (want != 's' || f->len != 0) return EINVAL;
        break;
      case FT_U64:
        if (want != 'U' || f->len != 8) return EINVAL;
        memcpy(&f->u, f->p, 8);
        break;
      case FT_U64V:
        if (want != 'W' || f->len % 8 != 0) return EINVAL;
        f->count = f->len / 8;
        break;
      case FT_BYTES:
        if (want != 'B') return EINVAL;
        break;
      case FT_STRV: {
        if (want != 'V' || f->len < 4) return EINVAL;
        f->count = rd32(f->p);
        if (f->count > f->len) return EINVAL;
        f->strv = calloc(f->count + 1, sizeof(char *));
        if (!f->strv) return ENOMEM;
        size_t o = 4;
        for (uint32_t j = 0; j < f->count; j++) {
          if (f->len - o < 4) return EINVAL;
          uint32_t l = rd32(f->p + o);
          o += 4;
          if (l == 0 || f->len - o < l || f->p[o + l - 1] != 0) return EINVAL;
          f->strv[j] = (char *)(f->p + o);
          o += l;
        }
        if (o != f->len) return EINVAL;
        break;
      }
      default:
        return EINVAL;
      }
    }
  }
  return off == len ? 0 : EINVAL;
}
