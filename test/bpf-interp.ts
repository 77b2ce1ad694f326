// Test helper: a classic-BPF checker and interpreter for seccomp filters, independent of the compiler.
// check() applies the kernel's load-time rules (bpf_check_classic + seccomp_check_filter);
// run() executes the program over a seccomp_data {nr, arch, instruction_pointer, args[6]}.

export type Insn = [number, number, number, number];

export interface SeccompData {
  nr: number;
  arch: number;
  ip?: bigint;
  /** 64-bit arguments; numbers are taken as-is (must be safe integers), negatives as two's complement. */
  args?: (bigint | number)[];
}

const SECCOMP_DATA_SIZE = 64;
const BPF_MAXINSNS = 4096;
const cls = (code: number) => code & 0x07;
const CLASS = { LD: 0x00, LDX: 0x01, ST: 0x02, STX: 0x03, ALU: 0x04, JMP: 0x05, RET: 0x06, MISC: 0x07 };

/** Throws if the kernel would refuse the program. */
export function check(prog: Insn[]): void {
  if (prog.length === 0 || prog.length > BPF_MAXINSNS) throw new Error(`bad length ${prog.length}`);
  prog.forEach(([code, jt, jf, k], pc) => {
    for (const [n, v, max] of [['code', code, 0xffff], ['jt', jt, 255], ['jf', jf, 255], ['k', k, 0xffffffff]] as const) {
      if (!Number.isInteger(v) || v < 0 || v > max) throw new Error(`insn ${pc}: ${n} = ${v} out of range`);
    }
    switch (cls(code)) {
      case CLASS.LD:
        if (code === 0x20) {
          if (k % 4 !== 0 || k >= SECCOMP_DATA_SIZE) throw new Error(`insn ${pc}: load offset ${k} outside seccomp_data`);
        } else if (code !== 0x00 && code !== 0x60 && code !== 0x80) throw new Error(`insn ${pc}: load 0x${code.toString(16)} not allowed in seccomp`);
        break;
      case CLASS.JMP: {
        if (code === 0x05) {
          if (k >= prog.length - pc - 1) throw new Error(`insn ${pc}: ja ${k} leaves the program`);
        } else if (pc + jt + 1 >= prog.length || pc + jf + 1 >= prog.length) throw new Error(`insn ${pc}: jump leaves the program`);
        break;
      }
    }
  });
  if (cls(prog[prog.length - 1][0]) !== CLASS.RET) throw new Error('last instruction is not a return');
}

function dataBuffer(d: SeccompData): Buffer {
  const b = Buffer.alloc(SECCOMP_DATA_SIZE);
  b.writeUInt32LE(d.nr >>> 0, 0);
  b.writeUInt32LE(d.arch >>> 0, 4);
  b.writeBigUInt64LE(d.ip ?? 0n, 8);
  (d.args ?? []).forEach((a, i) => b.writeBigUInt64LE(BigInt.asUintN(64, BigInt(a)), 16 + 8 * i));
  return b;
}

/** Runs the filter; returns the 32-bit return value. Throws on anything a seccomp filter cannot do. */
export function run(prog: Insn[], d: SeccompData): number {
  const data = dataBuffer(d);
  const mem = new Uint32Array(16);
  let A = 0;
  let X = 0;
  for (let pc = 0, steps = 0; pc < prog.length; pc++, steps++) {
    if (steps > BPF_MAXINSNS) throw new Error('ran too long');
    const [code, jt, jf, k] = prog[pc];
    switch (code) {
      case 0x20: A = data.readUInt32LE(k); break; // ld [k]
      case 0x00: A = k >>> 0; break; // ld #k
      case 0x60: A = mem[k]; break; // ld M[k]
      case 0x01: X = k >>> 0; break; // ldx #k
      case 0x02: mem[k] = A; break; // st M[k]
      case 0x03: mem[k] = X; break; // stx M[k]
      case 0x54: A = (A & k) >>> 0; break; // and #k
      case 0x44: A = (A | k) >>> 0; break; // or #k
      case 0x04: A = (A + k) >>> 0; break; // add #k
      case 0x05: pc += k; break; // ja
      case 0x15: pc += A === k >>> 0 ? jt : jf; break; // jeq #k
      case 0x25: pc += A > k >>> 0 ? jt : jf; break; // jgt #k
      case 0x35: pc += A >= k >>> 0 ? jt : jf; break; // jge #k
      case 0x45: pc += (A & k) !== 0 ? jt : jf; break; // jset #k
      case 0x06: return k >>> 0; // ret #k
      case 0x16: return A >>> 0; // ret A
      case 0x07: X = A; break; // tax
      case 0x87: A = X; break; // txa
      default: throw new Error(`insn ${pc}: opcode 0x${code.toString(16)} not interpreted`);
    }
  }
  throw new Error('fell off the end of the program');
}

/** Decodes a SECCOMP_RET_* value. */
export function verdict(ret: number): { action: string; data: number } {
  const full = (ret & 0xffff0000) >>> 0;
  const data = ret & 0xffff;
  const names: Record<number, string> = {
    0x80000000: 'kill_process', 0x00000000: 'kill_thread', 0x00030000: 'trap', 0x00050000: 'errno',
    0x7fc00000: 'user_notif', 0x7ff00000: 'trace', 0x7ffc0000: 'log', 0x7fff0000: 'allow',
  };
  return { action: names[full] ?? `0x${full.toString(16)}`, data };
}
