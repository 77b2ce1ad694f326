// Encodes the native stage's part of a LaunchPlan (phases stage, clone, parent, child) into
// the flat buffer native/stage.c reads from fd 3; format in native/README.md. Every name
// (MS_*, CLONE_*, RLIMIT_*, CAP_*, MNT_*) becomes its number here; unknown names throw.
import type { Phase, Step } from '../../plan/types.js';
import { CAPABILITIES, capName } from '../../spec/capabilities.js';
import { programBytes } from '../../plan/steps/devices.js';

export const PLAN_MAGIC = 'NIWA';
export const PLAN_VERSION = 1;
export const PLAN_FLAG_TTY = 0x1;

/** Phases executed by the stage, with their numbers in the buffer (in run order). */
export const STAGE_PHASES: Partial<Record<Phase, number>> = { stage: 1, clone: 2, parent: 3, child: 4 };

/** Field types (enum ftype in native/stage.h). */
export const FT = { STR: 1, NULL: 2, U64: 3, STRV: 4, U64V: 5, BYTES: 6 } as const;

/** Operation codes (enum opcode in native/stage.h). */
export const OPCODES = {
  mkdir: 1, rmdir: 2, write: 3, touch: 4, symlink: 5, setns: 6, unshare: 7, clone: 8,
  release_child: 9, wait_parent: 10, mount: 11, umount2: 12, mask: 13, readonly: 14,
  pivot_root: 15, chroot: 16, chdir: 17, sethostname: 18, setdomainname: 19, setrlimit: 20,
  capbset_drop: 21, keepcaps: 22, setgroups: 23, setresgid: 24, setresuid: 25, capset: 26,
  ambient_raise: 27, no_new_privs: 28, seccomp: 29, setsid: 30, setctty: 31, init: 32, execve: 33, ifup: 34,
  hook: 35, probe: 36, openpty: 37, device_filter: 38,
} as const;
export type StageOp = keyof typeof OPCODES;

export const MS_FLAGS: Record<string, number> = {
  MS_RDONLY: 1, MS_NOSUID: 2, MS_NODEV: 4, MS_NOEXEC: 8, MS_SYNCHRONOUS: 16, MS_REMOUNT: 32,
  MS_MANDLOCK: 64, MS_DIRSYNC: 128, MS_NOSYMFOLLOW: 256, MS_NOATIME: 1024, MS_NODIRATIME: 2048,
  MS_BIND: 4096, MS_MOVE: 8192, MS_REC: 16384, MS_SILENT: 32768, MS_UNBINDABLE: 1 << 17,
  MS_PRIVATE: 1 << 18, MS_SLAVE: 1 << 19, MS_SHARED: 1 << 20, MS_RELATIME: 1 << 21,
  MS_STRICTATIME: 1 << 24, MS_LAZYTIME: 1 << 25,
};

export const CLONE_FLAGS: Record<string, number> = {
  CLONE_NEWTIME: 0x80, CLONE_NEWNS: 0x20000, CLONE_NEWCGROUP: 0x02000000, CLONE_NEWUTS: 0x04000000,
  CLONE_NEWIPC: 0x08000000, CLONE_NEWUSER: 0x10000000, CLONE_NEWPID: 0x20000000, CLONE_NEWNET: 0x40000000,
};

export const RLIMITS: Record<string, number> = {
  RLIMIT_CPU: 0, RLIMIT_FSIZE: 1, RLIMIT_DATA: 2, RLIMIT_STACK: 3, RLIMIT_CORE: 4, RLIMIT_RSS: 5,
  RLIMIT_NPROC: 6, RLIMIT_NOFILE: 7, RLIMIT_MEMLOCK: 8, RLIMIT_AS: 9, RLIMIT_LOCKS: 10,
  RLIMIT_SIGPENDING: 11, RLIMIT_MSGQUEUE: 12, RLIMIT_NICE: 13, RLIMIT_RTPRIO: 14, RLIMIT_RTTIME: 15,
};

export const UMOUNT_FLAGS: Record<string, number> = { MNT_FORCE: 1, MNT_DETACH: 2 };

/** RLIM_INFINITY (~0 as an unsigned 64-bit number). */
export const RLIM_INFINITY = 0xffff_ffff_ffff_ffffn;

const MKTARGET = { dir: 1, file: 2 } as const;

type Field =
  | { t: typeof FT.STR; v: string }
  | { t: typeof FT.NULL }
  | { t: typeof FT.U64; v: bigint }
  | { t: typeof FT.STRV; v: string[] }
  | { t: typeof FT.U64V; v: bigint[] }
  | { t: typeof FT.BYTES; v: Buffer };

class EncodeError extends Error {}

/** Encodes the stage/clone/parent/child steps of `steps` (others are skipped). */
export function encodePlan(steps: Step[], opts: { tty: boolean }): Buffer {
  const mine = steps.filter((s) => STAGE_PHASES[s.phase] !== undefined);
  checkOrder(mine);
  const chunks: Buffer[] = [];
  const head = Buffer.alloc(12);
  head.write(PLAN_MAGIC, 0, 'latin1');
  head.writeUInt16LE(PLAN_VERSION, 4);
  head.writeUInt16LE(opts.tty ? PLAN_FLAG_TTY : 0, 6);
  head.writeUInt32LE(mine.length, 8);
  chunks.push(head);
  for (const s of mine) {
    let fields: Field[];
    try {
      fields = fieldsOf(s);
    } catch (e) {
      throw new Error(`encodePlan: step ${s.index} (${s.op}): ${(e as Error).message}`);
    }
    const h = Buffer.alloc(8);
    h.writeUInt32LE(s.index, 0);
    h.writeUInt8(STAGE_PHASES[s.phase]!, 4);
    h.writeUInt8(OPCODES[s.op as StageOp], 5);
    h.writeUInt16LE(fields.length, 6);
    chunks.push(h);
    for (const f of fields) chunks.push(encodeField(f));
  }
  return Buffer.concat(chunks);
}

/** Stage phases in order, exactly one clone step alone in its phase; structural ops in their phase. */
function checkOrder(steps: Step[]): void {
  let last = 0;
  for (const s of steps) {
    const p = STAGE_PHASES[s.phase]!;
    if (p < last) throw new Error(`encodePlan: step ${s.index} (${s.op}) in phase ${s.phase} comes after a later phase`);
    last = p;
    if (!(s.op in OPCODES)) throw new Error(`encodePlan: step ${s.index}: op ${s.op} cannot run in the native stage (phase ${s.phase})`);
    if ((s.op === 'clone') !== (s.phase === 'clone')) throw new Error(`encodePlan: step ${s.index}: clone must be the (only) step of phase clone`);
    if (s.op === 'release_child' && s.phase !== 'parent') throw new Error(`encodePlan: step ${s.index}: release_child belongs to phase parent`);
    if (s.op === 'wait_parent' && s.phase !== 'child') throw new Error(`encodePlan: step ${s.index}: wait_parent belongs to phase child`);
    if (s.op === 'device_filter' && s.phase !== 'stage') throw new Error(`encodePlan: step ${s.index}: device_filter belongs to phase stage (before clone, in the host's namespaces)`);
    if (s.op === 'openpty' && s.phase !== 'child') throw new Error(`encodePlan: step ${s.index}: openpty belongs to phase child (once the container's devpts is reachable)`);
    if (s.op === 'hook' && s.phase !== 'parent' && s.phase !== 'child') throw new Error(`encodePlan: step ${s.index}: a stage hook belongs to phase parent or child`);
  }
  const clones = steps.filter((s) => s.op === 'clone').length;
  if (clones !== 1) throw new Error(`encodePlan: the plan needs exactly one clone step (has ${clones})`);
}

const str = (v: string): Field => {
  if (v.includes('\0')) throw new EncodeError(`string contains NUL: ${JSON.stringify(v)}`);
  return { t: FT.STR, v };
};
const optStr = (v: string | null | undefined): Field => (v == null ? { t: FT.NULL } : str(v));
const u64 = (v: number | bigint | boolean): Field => ({ t: FT.U64, v: toU64(v) });

function toU64(v: number | bigint | boolean): bigint {
  if (typeof v === 'boolean') return v ? 1n : 0n;
  if (typeof v === 'bigint') {
    if (v < 0n || v > RLIM_INFINITY) throw new EncodeError(`number out of range: ${v}`);
    return v;
  }
  if (!Number.isSafeInteger(v) || v < 0) throw new EncodeError(`not a non-negative integer: ${v}`);
  return BigInt(v);
}

function flagsOf(names: readonly string[], table: Record<string, number>, what: string): bigint {
  let m = 0n;
  for (const n of names) {
    const v = table[n];
    if (v === undefined) throw new EncodeError(`unknown ${what} ${JSON.stringify(n)}`);
    m |= BigInt(v);
  }
  return m;
}

function capsOf(names: readonly string[]): bigint {
  let m = 0n;
  for (const n of names) {
    const c = capName(n);
    if (!c) throw new EncodeError(`unknown capability ${JSON.stringify(n)}`);
    m |= 1n << BigInt(CAPABILITIES[c]);
  }
  return m;
}

/** RLIMIT_NOFILE, NOFILE or nofile → 7. */
export function rlimitNumber(name: string): number {
  const up = name.toUpperCase();
  const v = RLIMITS[up.startsWith('RLIMIT_') ? up : 'RLIMIT_' + up];
  if (v === undefined) throw new EncodeError(`unknown rlimit ${JSON.stringify(name)}`);
  return v;
}

/** A limit: non-negative integer; -1, Infinity or 2^64-1 mean RLIM_INFINITY. */
function rlim(v: number): bigint {
  if (v === -1 || v >= 2 ** 64 - 1) return RLIM_INFINITY; // also Infinity and a float of 2^64-1
  return toU64(v);
}

/** Arguments of each op in the order native/plan.c's SIG table expects. */
function fieldsOf(s: Step): Field[] {
  switch (s.op) {
    case 'mkdir': return [str(s.path), u64(s.mode), optStr(s.inRoot), u64(!!s.parents)];
    case 'rmdir': return [str(s.path)];
    case 'write': return [str(s.path), { t: FT.STR, v: s.data }, optStr(s.inRoot), u64(!!s.create)];
    case 'touch': return [str(s.path), u64(s.mode), optStr(s.inRoot)];
    case 'symlink': return [str(s.target), str(s.path), optStr(s.inRoot)];
    case 'setns': return [str(s.path), u64(flagsOf([s.flag], CLONE_FLAGS, 'clone flag'))];
    case 'unshare': return [u64(flagsOf(s.flags, CLONE_FLAGS, 'clone flag'))];
    case 'clone': return [u64(flagsOf(s.flags, CLONE_FLAGS, 'clone flag'))];
    case 'release_child': return [];
    case 'wait_parent': return [];
    case 'mount':
      return [
        optStr(s.source), str(s.target), optStr(s.fstype), u64(flagsOf(s.flags, MS_FLAGS, 'mount flag')),
        optStr(s.data), optStr(s.inRoot), u64(s.mkTarget ? MKTARGET[s.mkTarget] : 0), u64(!!s.keepLocked),
      ];
    case 'umount2': return [str(s.target), u64(flagsOf(s.flags, UMOUNT_FLAGS, 'umount flag'))];
    case 'mask': return [str(s.path)];
    case 'readonly': return [str(s.path)];
    case 'pivot_root': return [str(s.newRoot), str(s.putOld)];
    case 'chroot': return [str(s.path)];
    case 'chdir': return [str(s.path)];
    case 'sethostname': return [str(s.name)];
    case 'setdomainname': return [str(s.name)];
    case 'setrlimit': return [u64(rlimitNumber(s.resource)), { t: FT.U64, v: rlim(s.soft) }, { t: FT.U64, v: rlim(s.hard) }];
    case 'capbset_drop': return [u64(capsOf(s.caps))];
    case 'keepcaps': return [u64(s.on)];
    case 'setgroups': return [{ t: FT.U64V, v: s.gids.map((g) => toU64(g)) }];
    case 'setresgid': return [u64(s.gid)];
    case 'setresuid': return [u64(s.uid)];
    case 'capset': return [u64(capsOf(s.effective)), u64(capsOf(s.permitted)), u64(capsOf(s.inheritable))];
    case 'ambient_raise': return [u64(capsOf(s.caps))];
    case 'no_new_privs': return [];
    case 'seccomp': return [{ t: FT.BYTES, v: bpf(s.filter) }];
    case 'setsid': return [];
    case 'setctty': return [];
    case 'init': return [];
    case 'ifup': return [str(s.name)];
    case 'hook': return [];
    case 'openpty': return [str(s.path)];
    case 'device_filter':
      if (!s.program.length || s.program.length > 4096) throw new EncodeError(`device program must have 1..4096 instructions (has ${s.program.length})`);
      return [str(s.cgroup), { t: FT.BYTES, v: programBytes(s.program) }];
    case 'probe':
      if (!Number.isInteger(s.port) || s.port < 1 || s.port > 65535) throw new EncodeError(`port out of range: ${s.port}`);
      return [str(s.address), u64(s.port), u64(s.timeoutMs), optStr(s.request)];
    case 'execve': {
      if (!s.argv.length) throw new EncodeError('argv is empty');
      return [str(s.path), { t: FT.STRV, v: s.argv.map((a) => (str(a), a)) }, { t: FT.STRV, v: s.env.map((e) => (str(e), e)) }];
    }
    default: throw new EncodeError(`op ${s.op} cannot run in the native stage`);
  }
}

/** struct sock_filter[], little-endian: u16 code, u8 jt, u8 jf, u32 k. */
function bpf(filter: [number, number, number, number][]): Buffer {
  if (!filter.length || filter.length > 4096) throw new EncodeError(`seccomp filter must have 1..4096 instructions (has ${filter.length})`);
  const b = Buffer.alloc(filter.length * 8);
  filter.forEach(([code, jt, jf, k], i) => {
    b.writeUInt16LE(code, i * 8);
    b.writeUInt8(jt, i * 8 + 2);
    b.writeUInt8(jf, i * 8 + 3);
    b.writeUInt32LE(k >>> 0, i * 8 + 4);
  });
  return b;
}

function encodeField(f: Field): Buffer {
  let payload: Buffer;
  switch (f.t) {
    case FT.STR: payload = Buffer.concat([Buffer.from(f.v, 'utf8'), Buffer.alloc(1)]); break;
    case FT.NULL: payload = Buffer.alloc(0); break;
    case FT.U64: payload = Buffer.alloc(8); payload.writeBigUInt64LE(f.v); break;
    case FT.U64V:
      payload = Buffer.alloc(8 * f.v.length);
      f.v.forEach((v, i) => payload.writeBigUInt64LE(v, 8 * i));
      break;
    case FT.BYTES: payload = f.v; break;
    case FT.STRV: {
      const parts: Buffer[] = [u32(f.v.length)];
      for (const s of f.v) {
        const b = Buffer.from(s + '\0', 'utf8');
        parts.push(u32(b.length), b);
      }
      payload = Buffer.concat(parts);
      break;
    }
  }
  const h = Buffer.alloc(5);
  h.writeUInt8(f.t, 0);
  h.writeUInt32LE(payload.length, 1);
  return Buffer.concat([h, payload]);
}

const u32 = (n: number) => { const b = Buffer.alloc(4); b.writeUInt32LE(n); return b; };

// ------------------------------------------------------------------------------------------
// Decoder (the inverse, for tests and `niwa debug`): mirrors native/plan.c.

export interface DecodedStep { index: number; phase: number; op: StageOp; fields: (string | null | bigint | string[] | bigint[] | Buffer)[] }
export interface DecodedPlan { version: number; tty: boolean; steps: DecodedStep[] }

export function decodePlan(buf: Buffer): DecodedPlan {
  if (buf.toString('latin1', 0, 4) !== PLAN_MAGIC) throw new Error('decodePlan: bad magic');
  const version = buf.readUInt16LE(4);
  const tty = (buf.readUInt16LE(6) & PLAN_FLAG_TTY) !== 0;
  const n = buf.readUInt32LE(8);
  const byCode = Object.fromEntries(Object.entries(OPCODES).map(([k, v]) => [v, k as StageOp]));
  let off = 12;
  const steps: DecodedStep[] = [];
  for (let i = 0; i < n; i++) {
    const index = buf.readUInt32LE(off);
    const phase = buf.readUInt8(off + 4);
    const op = byCode[buf.readUInt8(off + 5)];
    const nf = buf.readUInt16LE(off + 6);
    off += 8;
    const fields: DecodedStep['fields'] = [];
    for (let k = 0; k < nf; k++) {
      const t = buf.readUInt8(off);
      const len = buf.readUInt32LE(off + 1);
      off += 5;
      const p = buf.subarray(off, off + len);
      off += len;
      if (t === FT.STR) fields.push(p.toString('utf8', 0, len - 1));
      else if (t === FT.NULL) fields.push(null);
      else if (t === FT.U64) fields.push(p.readBigUInt64LE(0));
      else if (t === FT.U64V) fields.push(Array.from({ length: len / 8 }, (_, j) => p.readBigUInt64LE(8 * j)));
      else if (t === FT.BYTES) fields.push(Buffer.from(p));
      else if (t === FT.STRV) {
        const c = p.readUInt32LE(0);
        const out: string[] = [];
        let o = 4;
        for (let j = 0; j < c; j++) {
          const l = p.readUInt32LE(o);
          out.push(p.toString('utf8', o + 4, o + 4 + l - 1));
          o += 4 + l;
        }
        fields.push(out);
      } else throw new Error(`decodePlan: bad field type ${t}`);
    }
    steps.push({ index, phase, op, fields });
  }
  if (off !== buf.length) throw new Error('decodePlan: trailing bytes');
  return { version, tty, steps };
}
