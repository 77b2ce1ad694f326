// Owns the device allowlist of a container (pure): the default rules plus spec.devices, their v1
// devices.allow text, and the cgroup v2 BPF_CGROUP_DEVICE program that enforces the same list
// (generated here as runc's libcontainer/cgroups/devices/devicefilter does; loaded and attached
// by the native stage, op `device_filter`).
import { DEFAULT_DEVICE_RULES } from '../../spec/defaults.js';
import type { CanonicalSpec, DeviceRule } from '../../spec/types.js';

/** Every rule the container gets, in order: the default allowlist, then spec.devices. */
export function deviceRules(spec: Pick<CanonicalSpec, 'devices'>): DeviceRule[] {
  return [...DEFAULT_DEVICE_RULES, ...(spec.devices ?? []).map(({ type, major, minor, access }) => ({ type, major, minor, access }))];
}

/** "c 1:3 rwm", "c *:* m": the line cgroup v1 devices.allow takes (and how `niwa plan` shows a rule). */
export function ruleText(r: DeviceRule): string {
  const n = (v: number) => (v < 0 ? '*' : String(v));
  return r.type === 'a' ? `a ${r.access}` : `${r.type} ${n(r.major)}:${n(r.minor)} ${r.access}`;
}

/** One eBPF instruction: opcode, registers (dst in the low nibble, src in the high), offset, immediate. */
export type BpfInsn = [code: number, regs: number, off: number, imm: number];

// The few eBPF opcodes the program uses (linux/bpf.h, linux/bpf_common.h).
const LDXW = 0x61; // BPF_LDX | BPF_MEM | BPF_W: dst = *(u32 *)(src + off)
const AND32_K = 0x54; // BPF_ALU | BPF_AND | BPF_K
const RSH32_K = 0x74; // BPF_ALU | BPF_RSH | BPF_K
const MOV32_X = 0xbc; // BPF_ALU | BPF_MOV | BPF_X
const MOV64_K = 0xb7; // BPF_ALU64 | BPF_MOV | BPF_K
const JNE_K = 0x55; // BPF_JMP | BPF_JNE | BPF_K: if dst != imm goto pc + 1 + off
const JNE_X = 0x5d; // BPF_JMP | BPF_JNE | BPF_X
const EXIT = 0x95; // BPF_JMP | BPF_EXIT
const regs = (dst: number, src = 0) => (src << 4) | dst;

/** struct bpf_cgroup_dev_ctx { u32 access_type (access << 16 | type); u32 major; u32 minor; }. */
export const BPF_DEVCG_DEV = { b: 1, c: 2 } as const;
export const BPF_DEVCG_ACC = { m: 1, r: 2, w: 4 } as const;
export const accessBits = (access: string) => [...access].reduce((m, c) => m | BPF_DEVCG_ACC[c as 'r' | 'w' | 'm'], 0);

/**
 * The BPF_PROG_TYPE_CGROUP_DEVICE program for an allowlist: returns 1 (allow) when one rule matches
 * the access, 0 (deny: EPERM) otherwise. r2 = device type, r3 = requested access, r4 = major,
 * r5 = minor; each rule is a block of tests that jumps to the next rule on the first mismatch.
 */
export function deviceProgram(rules: readonly DeviceRule[]): BpfInsn[] {
  const p: BpfInsn[] = [
    [LDXW, regs(2, 1), 0, 0], [AND32_K, regs(2), 0, 0xffff],
    [LDXW, regs(3, 1), 0, 0], [RSH32_K, regs(3), 0, 16],
    [LDXW, regs(4, 1), 4, 0], [LDXW, regs(5, 1), 8, 0],
  ];
  for (const r of rules) {
    const tests: ((skip: number) => BpfInsn[])[] = [];
    if (r.type !== 'a') tests.push((skip) => [[JNE_K, regs(2), skip, BPF_DEVCG_DEV[r.type as 'b' | 'c']]]);
    const acc = accessBits(r.access);
    if (acc !== 7) tests.push((skip) => [[MOV32_X, regs(1, 3), 0, 0], [AND32_K, regs(1), 0, acc], [JNE_X, regs(1, 3), skip, 0]]);
    if (r.major >= 0) tests.push((skip) => [[JNE_K, regs(4), skip, r.major]]);
    if (r.minor >= 0) tests.push((skip) => [[JNE_K, regs(5), skip, r.minor]]);
    // Lay the block out backwards so each jump knows how many instructions remain after it.
    let block: BpfInsn[] = [[MOV64_K, regs(0), 0, 1], [EXIT, 0, 0, 0]];
    // (every test ends with its jump, which skips what follows it in the block)
    for (const t of tests.reverse()) block = [...t(block.length), ...block];
    p.push(...block);
  }
  p.push([MOV64_K, regs(0), 0, 0], [EXIT, 0, 0, 0]);
  return p;
}

/** The program as the bytes bpf(BPF_PROG_LOAD) takes: struct bpf_insn × n, little-endian. */
export function programBytes(prog: readonly BpfInsn[]): Buffer {
  const b = Buffer.alloc(prog.length * 8);
  prog.forEach(([code, rg, off, imm], i) => {
    b.writeUInt8(code, i * 8);
    b.writeUInt8(rg, i * 8 + 1);
    b.writeInt16LE(off, i * 8 + 2);
    b.writeInt32LE(imm | 0, i * 8 + 4);
  });
  return b;
}

/** Runs a program on one access, as the kernel would (for tests and `niwa plan` checks): 1 allow, 0 deny. */
export function runDeviceProgram(prog: readonly BpfInsn[], type: 'b' | 'c', access: string, major: number, minor: number): number {
  const ctx = [(accessBits(access) << 16) | BPF_DEVCG_DEV[type], major, minor];
  const r = new Array<number>(11).fill(0);
  for (let pc = 0; pc < prog.length; pc++) {
    const [code, rg, off, imm] = prog[pc];
    const dst = rg & 0xf, src = rg >> 4;
    switch (code) {
      case LDXW: r[dst] = ctx[off / 4] >>> 0; break;
      case AND32_K: r[dst] = (r[dst] & imm) >>> 0; break;
      case RSH32_K: r[dst] = r[dst] >>> imm; break;
      case MOV32_X: r[dst] = r[src] >>> 0; break;
      case MOV64_K: r[dst] = imm; break;
      case JNE_K: if (r[dst] !== imm >>> 0) pc += off; break;
      case JNE_X: if (r[dst] !== r[src]) pc += off; break;
      case EXIT: return r[0];
      default: throw new Error(`unknown eBPF opcode 0x${code.toString(16)} at ${pc}`);
    }
  }
  throw new Error('the program ran off its end');
}
