// Compiles a SeccompProfile into a classic BPF program for one architecture (pure), and the plan step installing it.
//
// Semantics (what a profile means):
//  - For a syscall, the rules that name it are tried in the order written; the first rule whose
//    argument comparisons all hold decides (a rule without args always holds). No rule → default.
//  - Names that exist on another supported architecture but not on this one are skipped (the
//    same profile serves x86_64 and aarch64); names unknown everywhere are a UserError.
//  - Argument values are 64-bit unsigned; negative numbers mean their two's complement (-1 =
//    0xffffffffffffffff). masked_eq: (arg & value) == value_two.
//
// Shape of the program (seccomp_data: nr u32 @0, arch u32 @4, ip u64 @8, args[6] u64 @16+8i):
//    ld arch; jeq AUDIT_ARCH_<arch> else ret KILL_PROCESS      foreign ABI (i386, arm32 compat...)
//    ld nr;   [x86_64] jge 0x40000000 → ret KILL_PROCESS      x32 ABI shares the arch value
//    unconditional groups: jeq nr₁ … jeq nrₖ → ret <action>    (syscalls with no argument rules)
//    conditional blocks:   jeq nr → arg comparisons → ret <action>; else ld nr and go on
//    unconditional groups for syscalls whose arg rules did not match
//    ret <default>
// Only nr and arch are read outside the arg blocks, so the kernel's seccomp action cache
// (Linux 5.11+) can precompute "always allowed" syscalls and skip running the filter for them.
// Classic BPF conditional jumps have 8-bit offsets; the assembler below lays out labels and
// turns any conditional jump farther than 255 into a short jump to a `ja` (32-bit offset).
import type { SeccompAction, SeccompArg, SeccompProfile, SeccompRule } from '../../spec/types.js';
import type { StepDraft } from '../types.js';
import { UserError, type ErrorDetail } from '../../errors.js';
import { SYSCALLS as X86_64 } from '../syscalls/x86_64.js';
import { SYSCALLS as AARCH64 } from '../syscalls/aarch64.js';
import { ERRNO, errnoName, errnoNumber } from '../errno.js';

export type SeccompArch = 'x86_64' | 'aarch64';
export type BpfInsn = [code: number, jt: number, jf: number, k: number];

export const SYSCALL_TABLES: Record<SeccompArch, Record<string, number>> = { x86_64: X86_64, aarch64: AARCH64 };
export const AUDIT_ARCH: Record<SeccompArch, number> = { x86_64: 0xc000003e, aarch64: 0xc00000b7 };
/** x86_64 syscalls with this bit set are x32-ABI calls (same AUDIT_ARCH value, different table). */
export const X32_SYSCALL_BIT = 0x40000000;
/** The kernel refuses filters longer than this (BPF_MAXINSNS). */
export const BPF_MAXINSNS = 4096;

/** SECCOMP_RET_* (linux/seccomp.h). `kill` is the historical name of kill_thread. */
export const SECCOMP_RET: Record<SeccompAction | 'kill_thread', number> = {
  allow: 0x7fff0000,
  errno: 0x00050000,
  kill: 0x00000000,
  kill_thread: 0x00000000,
  kill_process: 0x80000000,
  trap: 0x00030000,
  log: 0x7ffc0000,
  trace: 0x7ff00000,
};
const SECCOMP_RET_DATA = 0xffff;
/** The kernel caps errno values at MAX_ERRNO. */
const MAX_ERRNO = 4095;

/** Classic BPF opcodes (linux/bpf_common.h, linux/filter.h). */
export const BPF = {
  LD_W_ABS: 0x20, // BPF_LD | BPF_W | BPF_ABS: A = seccomp_data[k..k+4]
  ALU_AND_K: 0x54, // BPF_ALU | BPF_AND | BPF_K: A &= k
  JA: 0x05, // BPF_JMP | BPF_JA: pc += k
  JEQ_K: 0x15, // BPF_JMP | BPF_JEQ | BPF_K: pc += (A == k) ? jt : jf
  JGT_K: 0x25, // unsigned A > k
  JGE_K: 0x35, // unsigned A >= k
  JSET_K: 0x45, // A & k != 0
  RET_K: 0x06, // BPF_RET | BPF_K: return k
} as const;

const OFF_NR = 0;
const OFF_ARCH = 4;
/** Both supported arches are little-endian: the low word of args[i] comes first. */
const argLo = (i: number) => 16 + 8 * i;
const argHi = (i: number) => 20 + 8 * i;

// ---------------------------------------------------------------------------
// A tiny assembler: instructions jump to labels; layout resolves them, inserting `ja`
// trampolines for conditional jumps that are too far for an 8-bit offset.

interface Label { id: number }
/** `null` target = the next instruction (offset 0). */
type Target = Label | null;
type AsmInsn =
  | { kind: 'plain'; code: number; k: number }
  | { kind: 'cond'; code: number; k: number; jt: Target; jf: Target }
  | { kind: 'ja'; to: Label };

class Assembler {
  private insns: AsmInsn[] = [];
  /** label id → index of the instruction it marks (may equal insns.length: the end). */
  private at = new Map<number, number>();
  private nextLabel = 0;

  label(): Label {
    return { id: this.nextLabel++ };
  }
  mark(l: Label): void {
    if (this.at.has(l.id)) throw new Error(`BPF label ${l.id} marked twice`);
    this.at.set(l.id, this.insns.length);
  }
  ld(offset: number): void {
    this.insns.push({ kind: 'plain', code: BPF.LD_W_ABS, k: offset });
  }
  and(k: number): void {
    this.insns.push({ kind: 'plain', code: BPF.ALU_AND_K, k: k >>> 0 });
  }
  ret(k: number): void {
    this.insns.push({ kind: 'plain', code: BPF.RET_K, k: k >>> 0 });
  }
  jump(code: number, k: number, jt: Target, jf: Target): void {
    this.insns.push({ kind: 'cond', code, k: k >>> 0, jt, jf });
  }
  ja(to: Label): void {
    this.insns.push({ kind: 'ja', to });
  }

  /** Lay out: grow far conditional jumps into short jump + `ja` until every offset fits. */
  assemble(): BpfInsn[] {
    const n = this.insns.length;
    const farT = new Array<boolean>(n).fill(false);
    const farF = new Array<boolean>(n).fill(false);
    const size = (i: number) => 1 + (farT[i] ? 1 : 0) + (farF[i] ? 1 : 0);
    let pos: number[] = [];
    const where = (i: number, t: Target): number => {
      if (t === null) return pos[i + 1];
      const idx = this.at.get(t.id);
      if (idx === undefined) throw new Error(`BPF label ${t.id} never marked`);
      return pos[idx];
    };
    for (;;) {
      pos = new Array<number>(n + 1);
      pos[0] = 0;
      for (let i = 0; i < n; i++) pos[i + 1] = pos[i] + size(i);
      let grew = false;
      for (let i = 0; i < n; i++) {
        const ins = this.insns[i];
        if (ins.kind !== 'cond') continue;
        // Offsets are measured from the instruction after the conditional one.
        if (!farT[i] && where(i, ins.jt) - pos[i] - 1 > 255) { farT[i] = true; grew = true; }
        if (!farF[i] && where(i, ins.jf) - pos[i] - 1 > 255) { farF[i] = true; grew = true; }
      }
      if (!grew) break;
    }
    const out: BpfInsn[] = [];
    for (let i = 0; i < n; i++) {
      const ins = this.insns[i];
      const here = pos[i];
      if (ins.kind === 'plain') out.push([ins.code, 0, 0, ins.k]);
      else if (ins.kind === 'ja') out.push([BPF.JA, 0, 0, this.forward(where(i, ins.to) - here - 1)]);
      else {
        // Trampolines sit right after the conditional jump: [cond][ja jt?][ja jf?].
        const tramps: number[] = [];
        if (farT[i]) tramps.push(where(i, ins.jt));
        if (farF[i]) tramps.push(where(i, ins.jf));
        const jt = farT[i] ? 0 : where(i, ins.jt) - here - 1;
        const jf = farF[i] ? (farT[i] ? 1 : 0) : where(i, ins.jf) - here - 1;
        out.push([ins.code, this.forward(jt), this.forward(jf), ins.k]);
        tramps.forEach((target, j) => out.push([BPF.JA, 0, 0, this.forward(target - (here + 1 + j) - 1)]));
      }
    }
    return out;
  }

  private forward(off: number): number {
    if (off < 0) throw new Error('BPF jumps must go forward');
    return off;
  }
}

// ---------------------------------------------------------------------------
// Profile checking: resolve names, errnos and argument values, collecting every problem.

interface ResolvedArg { index: number; op: SeccompArg['op']; value: bigint; value2: bigint }
interface ResolvedRule { index: number; nrs: number[]; ret: number; label: string; args: ResolvedArg[] }

const U64 = (1n << 64n) - 1n;
const OPS = new Set(['eq', 'ne', 'lt', 'le', 'gt', 'ge', 'masked_eq']);

function levenshtein(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length];
}

function closest(name: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const cand of candidates) {
    const d = levenshtein(name, cand);
    if (d < bestD || (d === bestD && best !== undefined && cand < best)) { best = cand; bestD = d; }
  }
  return bestD <= Math.max(2, Math.floor(name.length / 3)) ? best : undefined;
}

/** The known syscall name (any arch) closest to `name`, if reasonably close. */
export function closestSyscall(name: string): string | undefined {
  return closest(name.toLowerCase(), new Set([...Object.keys(X86_64), ...Object.keys(AARCH64)]));
}

function actionRet(action: unknown, errno: unknown, af: string, ef: string, problems: ErrorDetail[]): { ret: number; label: string } {
  if (typeof action !== 'string' || !Object.hasOwn(SECCOMP_RET, action)) {
    problems.push({ field: af, message: `unknown seccomp action ${JSON.stringify(action)}`, hint: `one of ${Object.keys(SECCOMP_RET).join(', ')}` });
    return { ret: 0, label: '?' };
  }
  const base = SECCOMP_RET[action as SeccompAction];
  if (action !== 'errno' && action !== 'trace') {
    if (errno !== undefined) problems.push({ field: ef, message: `errno is only used with action errno (or trace), not ${action}` });
    return { ret: base, label: action };
  }
  let n: number | undefined = action === 'errno' ? 1 /* EPERM */ : 0;
  if (typeof errno === 'string') {
    n = /^\d+$/.test(errno) ? Number(errno) : errnoNumber(errno);
    if (n === undefined) {
      const near = closest(errno.toUpperCase(), Object.keys(ERRNO));
      problems.push({ field: ef, message: `unknown errno ${JSON.stringify(errno)}`, hint: near ? `did you mean ${near}?` : 'an errno name such as EPERM, EACCES, ENOSYS, or a number' });
    }
  } else if (typeof errno === 'number') n = errno;
  else if (errno !== undefined) problems.push({ field: ef, message: 'errno must be a name (EPERM) or a number' });
  if (n !== undefined && (!Number.isInteger(n) || n < 0 || n > (action === 'errno' ? MAX_ERRNO : SECCOMP_RET_DATA))) {
    problems.push({ field: ef, message: `errno ${n} is out of range (0..${action === 'errno' ? MAX_ERRNO : SECCOMP_RET_DATA})` });
    n = 0;
  }
  const data = n ?? 0;
  return { ret: (base | data) >>> 0, label: action === 'errno' ? `errno(${errnoName(data)})` : `trace(${data})` };
}

function argValue(v: unknown, field: string, problems: ErrorDetail[]): bigint {
  if (typeof v === 'bigint') return BigInt.asUintN(64, v);
  if (typeof v === 'number' && Number.isSafeInteger(v)) return BigInt.asUintN(64, BigInt(v));
  problems.push({
    field,
    message: `expected an integer, got ${JSON.stringify(v)}`,
    hint: typeof v === 'number' && Number.isInteger(v) ? 'values beyond 2^53 cannot be written exactly as numbers' : undefined,
  });
  return 0n;
}

function resolveArgs(args: SeccompArg[] | undefined, field: string, problems: ErrorDetail[]): ResolvedArg[] {
  if (args === undefined) return [];
  if (!Array.isArray(args)) {
    problems.push({ field, message: 'args must be a list of {index, op, value}' });
    return [];
  }
  return args.map((a, i) => {
    const f = `${field}.${i}`;
    if (!Number.isInteger(a.index) || a.index < 0 || a.index > 5) problems.push({ field: `${f}.index`, message: `argument index ${a.index} is out of range`, hint: 'syscalls have arguments 0..5' });
    if (!OPS.has(a.op)) problems.push({ field: `${f}.op`, message: `unknown comparison ${JSON.stringify(a.op)}`, hint: [...OPS].join(', ') });
    const value = argValue(a.value, `${f}.value`, problems);
    let value2 = 0n;
    if (a.op === 'masked_eq') {
      if (a.value_two === undefined) problems.push({ field: `${f}.value_two`, message: 'masked_eq needs value_two (the value expected after masking with value)' });
      else value2 = argValue(a.value_two, `${f}.value_two`, problems);
    }
    return { index: a.index, op: a.op, value: value & U64, value2: value2 & U64 };
  });
}

interface Resolved {
  defaultRet: number;
  defaultLabel: string;
  rules: ResolvedRule[];
  /** Names known on another arch but not this one. */
  skipped: string[];
}

function resolveProfile(profile: SeccompProfile, arch: SeccompArch, field: string): Resolved {
  const problems: ErrorDetail[] = [];
  const table = SYSCALL_TABLES[arch];
  if (!table) throw new Error(`seccomp: unsupported arch ${String(arch)}`);
  const other = arch === 'x86_64' ? AARCH64 : X86_64;
  const def = actionRet(profile.default_action, profile.default_errno, `${field}.default_action`, `${field}.default_errno`, problems);
  const skipped = new Set<string>();
  const rules: ResolvedRule[] = [];
  const list: SeccompRule[] = profile.syscalls ?? [];
  if (!Array.isArray(list)) problems.push({ field: `${field}.syscalls`, message: 'syscalls must be a list of rules' });
  else list.forEach((rule, ri) => {
    const rf = `${field}.syscalls.${ri}`;
    const nrs: number[] = [];
    if (!Array.isArray(rule.names) || rule.names.length === 0) problems.push({ field: `${rf}.names`, message: 'a rule must name at least one syscall' });
    else rule.names.forEach((name, ni) => {
      if (typeof name === 'string' && Object.hasOwn(table, name)) nrs.push(table[name]);
      else if (typeof name === 'string' && Object.hasOwn(other, name)) skipped.add(name);
      else {
        const near = typeof name === 'string' ? closestSyscall(name) : undefined;
        problems.push({
          field: `${rf}.names.${ni}`,
          message: `unknown syscall ${JSON.stringify(name)}`,
          hint: near ? `did you mean "${near}"?` : 'syscall names as in syscalls(2), e.g. openat, mkdirat',
        });
      }
    });
    const { ret, label } = actionRet(rule.action, rule.errno, `${rf}.action`, `${rf}.errno`, problems);
    const args = resolveArgs(rule.args, `${rf}.args`, problems);
    rules.push({ index: ri, nrs: [...new Set(nrs)], ret, label, args });
  });
  if (problems.length) {
    throw new UserError('SECCOMP_PROFILE', `invalid seccomp profile (${problems.length} problem${problems.length > 1 ? 's' : ''})`, problems);
  }
  return { defaultRet: def.ret, defaultLabel: def.label, rules, skipped: [...skipped].sort() };
}

// ---------------------------------------------------------------------------
// Code generation.

/** Unconditional groups: at most this many `jeq` per `ret`, so their jumps stay short. */
const GROUP = 128;

function emitGroups(asm: Assembler, groups: Map<number, number[]>): void {
  for (const [ret, nrs] of groups) {
    for (let s = 0; s < nrs.length; s += GROUP) {
      const chunk = nrs.slice(s, s + GROUP);
      const hit = asm.label();
      const after = asm.label();
      chunk.forEach((nr, i) => asm.jump(BPF.JEQ_K, nr, hit, i === chunk.length - 1 ? after : null));
      asm.mark(hit);
      asm.ret(ret);
      asm.mark(after);
    }
  }
}

/** One 64-bit comparison: falls through (to `pass`, marked by the caller) or jumps to `fail`. */
function emitArg(asm: Assembler, a: ResolvedArg, pass: Label, fail: Label): void {
  const hi = Number(a.value >> 32n);
  const lo = Number(a.value & 0xffffffffn);
  switch (a.op) {
    case 'eq':
      asm.ld(argHi(a.index)); asm.jump(BPF.JEQ_K, hi, null, fail);
      asm.ld(argLo(a.index)); asm.jump(BPF.JEQ_K, lo, pass, fail);
      return;
    case 'ne':
      asm.ld(argHi(a.index)); asm.jump(BPF.JEQ_K, hi, null, pass);
      asm.ld(argLo(a.index)); asm.jump(BPF.JEQ_K, lo, fail, pass);
      return;
    case 'gt': case 'ge':
      // high word decides unless equal; then the low word decides.
      asm.ld(argHi(a.index)); asm.jump(BPF.JGT_K, hi, pass, null); asm.jump(BPF.JEQ_K, hi, null, fail);
      asm.ld(argLo(a.index)); asm.jump(a.op === 'gt' ? BPF.JGT_K : BPF.JGE_K, lo, pass, fail);
      return;
    case 'lt': case 'le':
      asm.ld(argHi(a.index)); asm.jump(BPF.JGT_K, hi, fail, null); asm.jump(BPF.JEQ_K, hi, null, pass);
      // lt: lo < k ⇔ !(lo >= k); le: lo <= k ⇔ !(lo > k)
      asm.ld(argLo(a.index)); asm.jump(a.op === 'lt' ? BPF.JGE_K : BPF.JGT_K, lo, fail, pass);
      return;
    case 'masked_eq': {
      const mhi = Number(a.value >> 32n), mlo = Number(a.value & 0xffffffffn);
      const vhi = Number(a.value2 >> 32n), vlo = Number(a.value2 & 0xffffffffn);
      asm.ld(argHi(a.index)); asm.and(mhi); asm.jump(BPF.JEQ_K, vhi, null, fail);
      asm.ld(argLo(a.index)); asm.and(mlo); asm.jump(BPF.JEQ_K, vlo, pass, fail);
      return;
    }
  }
}

function emitConditional(asm: Assembler, nrs: number[], rule: ResolvedRule): void {
  const args = asm.label();
  const next = asm.label();
  nrs.forEach((nr, i) => asm.jump(BPF.JEQ_K, nr, args, i === nrs.length - 1 ? next : null));
  asm.mark(args);
  for (const a of rule.args) {
    const pass = asm.label();
    emitArg(asm, a, pass, next);
    asm.mark(pass);
  }
  asm.ret(rule.ret);
  asm.mark(next);
  asm.ld(OFF_NR); // the comparisons overwrote A
}

export interface CompiledSeccomp {
  filter: BpfInsn[];
  summary: string;
}

/**
 * Compile `profile` for `arch`. Throws UserError (code SECCOMP_PROFILE) naming each bad field,
 * e.g. `seccomp.syscalls.3.names.1`; `field` is the dotted path of the profile in the spec.
 */
export function compileSeccomp(profile: SeccompProfile, arch: SeccompArch, field = 'seccomp'): CompiledSeccomp {
  const r = resolveProfile(profile, arch, field);

  // Per syscall: its live conditional rules (in order) and the first unconditional rule.
  const decided = new Map<number, number>(); // nr → ret
  const hasCond = new Set<number>();
  const condBlocks: { rule: ResolvedRule; nrs: number[] }[] = [];
  const labels = new Map<number, string>([[r.defaultRet, r.defaultLabel]]);
  for (const rule of r.rules) {
    const live = rule.nrs.filter((nr) => !decided.has(nr));
    if (!labels.has(rule.ret)) labels.set(rule.ret, rule.label);
    if (rule.args.length === 0) live.forEach((nr) => decided.set(nr, rule.ret));
    else if (live.length) {
      condBlocks.push({ rule, nrs: live });
      live.forEach((nr) => hasCond.add(nr));
    }
  }
  // Unconditional verdicts equal to the default need no code: falling through gives the same.
  const early = new Map<number, number[]>();
  const late = new Map<number, number[]>();
  for (const [nr, ret] of decided) {
    if (ret === r.defaultRet) continue;
    const m = hasCond.has(nr) ? late : early;
    if (!m.has(ret)) m.set(ret, []);
    m.get(ret)!.push(nr);
  }

  const asm = new Assembler();
  const kill = asm.label();
  asm.ld(OFF_ARCH);
  asm.jump(BPF.JEQ_K, AUDIT_ARCH[arch], null, kill);
  asm.ld(OFF_NR);
  if (arch === 'x86_64') asm.jump(BPF.JGE_K, X32_SYSCALL_BIT, kill, null);
  emitGroups(asm, early);
  for (const b of condBlocks) emitConditional(asm, b.nrs, b.rule);
  emitGroups(asm, late);
  asm.ret(r.defaultRet);
  asm.mark(kill);
  asm.ret(SECCOMP_RET.kill_process);
  const filter = asm.assemble();
  if (filter.length > BPF_MAXINSNS) {
    throw new UserError('SECCOMP_TOO_LONG', `seccomp profile compiles to ${filter.length} BPF instructions; the kernel accepts at most ${BPF_MAXINSNS}`, [
      { field, message: 'too many rules', hint: 'merge rules with the same action, or drop argument comparisons' },
    ]);
  }

  // Summary: "default errno(EPERM), 312 allowed, 1 errno(ENOSYS), 2 conditional" (the plan printer adds the size).
  const counts = new Map<string, number>();
  for (const [nr, ret] of decided) {
    if (hasCond.has(nr) || ret === r.defaultRet) continue;
    const l = ret === SECCOMP_RET.allow ? 'allowed' : labels.get(ret) ?? `ret ${ret}`;
    counts.set(l, (counts.get(l) ?? 0) + 1);
  }
  const parts = [`default ${r.defaultLabel}`, `${counts.get('allowed') ?? 0} allowed`];
  for (const [l, c] of counts) if (l !== 'allowed') parts.push(`${c} ${l}`);
  if (hasCond.size) parts.push(`${hasCond.size} conditional`);
  if (r.skipped.length) parts.push(`${r.skipped.length} not on ${arch}`);
  return { filter, summary: parts.join(', ') };
}

/** The plan step that installs the filter (null profile = unconfined: no step). */
export function seccompStep(profile: SeccompProfile | null, arch: SeccompArch, field = 'seccomp'): StepDraft | null {
  if (profile === null) return null;
  const { filter, summary } = compileSeccomp(profile, arch, field);
  return {
    op: 'seccomp',
    summary,
    filter,
    field,
    why:
      'Install the syscall filter last, right before execve: the setup calls before it stay unfiltered, ' +
      'and with no_new_privs set it needs no privilege and binds the program and everything it starts.',
    man: 'seccomp(2)',
  };
}
