// Generates the syscall-number tables (src/plan/syscalls/{x86_64,aarch64}.ts) and the errno
// table (src/plan/errno.ts) from this machine's Linux UAPI headers. Run: node scripts/gen-syscalls.mjs
//
//  - x86_64:  /usr/include/<multiarch>/asm/unistd_64.h (plain `#define __NR_name N` lines).
//  - aarch64: arm64 has no table of its own; it uses include/uapi/asm-generic/unistd.h with the
//             switches arm64's uapi asm/unistd.h sets (listed in AARCH64_WANTS below). The header
//             is full of #if blocks, so we let the C preprocessor evaluate it (`cc -E -dM`).
//  - errno:   asm-generic/errno-base.h + asm-generic/errno.h (x86_64 and arm64 both use them).
//
// Syscalls added to the kernel after the installed headers are appended from NEWER_SYSCALLS
// (since Linux 5.1 every new syscall has one number on all architectures), only when the
// headers lack them, so regenerating on a machine with newer headers changes nothing.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const INC = process.env.NIWA_UAPI_INCLUDE ?? '/usr/include';

const X86_CANDIDATES = [
  join(INC, 'x86_64-linux-gnu/asm/unistd_64.h'),
  join(INC, 'asm/unistd_64.h'),
];
const GENERIC = join(INC, 'asm-generic/unistd.h');
const ERRNO_FILES = [join(INC, 'asm-generic/errno-base.h'), join(INC, 'asm-generic/errno.h')];

/** The switches arch/arm64/include/uapi/asm/unistd.h defines before including the generic table. */
const AARCH64_WANTS = [
  '__ARCH_WANT_RENAMEAT',
  '__ARCH_WANT_NEW_STAT',
  '__ARCH_WANT_SET_GET_RLIMIT',
  '__ARCH_WANT_TIME32_SYSCALLS',
  '__ARCH_WANT_SYS_CLONE3',
  '__ARCH_WANT_MEMFD_SECRET',
];

/** Syscalls newer than some installed headers: name → [number, first kernel]. Same number on both arches. */
const NEWER_SYSCALLS = {
  cachestat: [451, '6.5'],
  fchmodat2: [452, '6.6'],
  map_shadow_stack: [453, '6.6'],
  futex_wake: [454, '6.7'],
  futex_wait: [455, '6.7'],
  futex_requeue: [456, '6.7'],
  statmount: [457, '6.8'],
  listmount: [458, '6.8'],
  lsm_get_self_attr: [459, '6.8'],
  lsm_set_self_attr: [460, '6.8'],
  lsm_list_modules: [461, '6.8'],
  mseal: [462, '6.10'],
  setxattrat: [463, '6.13'],
  getxattrat: [464, '6.13'],
  listxattrat: [465, '6.13'],
  removexattrat: [466, '6.13'],
  open_tree_attr: [467, '6.15'],
  file_getattr: [468, '6.17'],
  file_setattr: [469, '6.17'],
};

function headerVersion() {
  const p = join(INC, 'linux/version.h');
  if (!existsSync(p)) return 'unknown';
  const t = readFileSync(p, 'utf8');
  const m = (k) => t.match(new RegExp(`#define ${k} (\\d+)`))?.[1];
  return m('LINUX_VERSION_MAJOR') ? `${m('LINUX_VERSION_MAJOR')}.${m('LINUX_VERSION_PATCHLEVEL')}.${m('LINUX_VERSION_SUBLEVEL')}` : 'unknown';
}

function x86_64Table() {
  const file = X86_CANDIDATES.find(existsSync);
  if (!file) throw new Error(`no x86_64 unistd_64.h under ${INC} (install linux-libc-dev)`);
  const table = {};
  for (const m of readFileSync(file, 'utf8').matchAll(/^#define __NR_(\w+)\s+(\d+)\s*$/gm)) table[m[1]] = Number(m[2]);
  return { file, table };
}

function aarch64Table() {
  if (!existsSync(GENERIC)) throw new Error(`missing ${GENERIC} (install linux-libc-dev)`);
  // Drop the #include of the host's asm/bitsperlong.h and say "64-bit, native (not compat)" ourselves.
  const src = readFileSync(GENERIC, 'utf8').replace(/^#include <asm\/bitsperlong\.h>$/m, '');
  const prelude = ['#define __BITS_PER_LONG 64', ...AARCH64_WANTS.map((w) => `#define ${w}`)].join('\n');
  const out = execFileSync('cc', ['-E', '-dM', '-undef', '-nostdinc', '-x', 'c', '-'], {
    input: `${prelude}\n${src}\n`,
    encoding: 'utf8',
  });
  const defs = new Map();
  for (const m of out.matchAll(/^#define (__NR\w*)\s+(\S+)\s*$/gm)) defs.set(m[1], m[2]);
  const resolve = (v, depth = 0) => (/^\d+$/.test(v) ? Number(v) : depth < 8 && defs.has(v) ? resolve(defs.get(v), depth + 1) : NaN);
  const table = {};
  for (const [k, v] of defs) {
    // __NR_arch_specific_syscall marks the start of a reserved range; it is not a syscall.
    if (!k.startsWith('__NR_') || k === '__NR_syscalls' || k === '__NR_arch_specific_syscall') continue;
    const n = resolve(v);
    if (Number.isInteger(n)) table[k.slice('__NR_'.length)] = n;
  }
  return { file: GENERIC, table };
}

function errnoTable() {
  const names = {};
  const aliases = {};
  const messages = {};
  for (const f of ERRNO_FILES) {
    if (!existsSync(f)) throw new Error(`missing ${f} (install linux-libc-dev)`);
    for (const m of readFileSync(f, 'utf8').matchAll(/^#define\s+(E[A-Z0-9]+)\s+(\w+)\s*(?:\/\*\s*(.*?)\s*\*\/)?/gm)) {
      if (/^\d+$/.test(m[2])) {
        names[m[1]] = Number(m[2]);
        if (m[3]) messages[m[2]] = m[3];
      } else aliases[m[1]] = m[2];
    }
  }
  return { names, aliases, messages };
}

function withNewer(table) {
  const added = [];
  for (const [name, [nr, since]] of Object.entries(NEWER_SYSCALLS)) {
    if (table[name] === undefined && !Object.values(table).includes(nr)) {
      table[name] = nr;
      added.push(`${name} (${since})`);
    }
  }
  return added;
}

function syscallModule(arch, from, table, added) {
  const entries = Object.entries(table).sort((a, b) => a[1] - b[1] || a[0].localeCompare(b[0]));
  return [
    `// Syscall numbers for ${arch}: name → number. GENERATED by scripts/gen-syscalls.mjs; do not edit.`,
    `// Source: ${from} (UAPI headers ${headerVersion()})${arch === 'aarch64' ? ` with ${AARCH64_WANTS.join(', ')}` : ''}.`,
    added.length ? `// Added after those headers (same number on every arch): ${added.join(', ')}.` : '// Nothing added beyond the headers.',
    '// Regenerate: node scripts/gen-syscalls.mjs',
    '',
    'export const SYSCALLS: Record<string, number> = {',
    ...entries.map(([n, v]) => `  ${n}: ${v},`),
    '};',
    '',
  ].join('\n');
}

function errnoModule({ names, aliases, messages }) {
  const entries = Object.entries(names).sort((a, b) => a[1] - b[1]);
  const q = (s) => JSON.stringify(s);
  return [
    '// Linux errno names ↔ numbers (asm-generic, used by x86_64 and aarch64) and their descriptions.',
    `// Table GENERATED by scripts/gen-syscalls.mjs from ${ERRNO_FILES.join(' + ')} (UAPI ${headerVersion()}); do not edit.`,
    '// Regenerate: node scripts/gen-syscalls.mjs',
    '',
    '/** Canonical errno name → number. */',
    'export const ERRNO: Record<string, number> = {',
    ...entries.map(([n, v]) => `  ${n}: ${v},`),
    '};',
    '',
    '/** Other names for the same numbers (EWOULDBLOCK = EAGAIN, ...). */',
    'export const ERRNO_ALIASES: Record<string, string> = {',
    ...Object.entries(aliases).map(([n, v]) => `  ${n}: ${q(v)},`),
    '};',
    '',
    "/** number → the kernel header's one-line description. */",
    'const MESSAGES: Record<number, string> = {',
    ...entries.filter(([, v]) => messages[v]).map(([, v]) => `  ${v}: ${q(messages[v])},`),
    '};',
    '',
    'const BY_NUMBER: Record<number, string> = Object.fromEntries(Object.entries(ERRNO).map(([k, v]) => [v, k]));',
    '',
    '/** 13 → "EACCES"; unknown numbers → "E<n>". */',
    'export function errnoName(n: number): string {',
    '  return BY_NUMBER[n] ?? `E${n}`;',
    '}',
    '',
    '/** "EACCES" / "eacces" / "EWOULDBLOCK" → number; undefined when unknown. */',
    'export function errnoNumber(name: string): number | undefined {',
    '  const up = name.toUpperCase();',
    '  return ERRNO[ERRNO_ALIASES[up] ?? up];',
    '}',
    '',
    '/** 13 → "Permission denied" (the kernel header\'s wording); "" when unknown. */',
    'export function errnoMessage(n: number): string {',
    "  return MESSAGES[n] ?? '';",
    '}',
    '',
    '/** "EACCES (Permission denied)" for error messages. */',
    'export function describeErrno(n: number): string {',
    '  const m = errnoMessage(n);',
    '  return m ? `${errnoName(n)} (${m})` : errnoName(n);',
    '}',
    '',
  ].join('\n');
}

const outDir = join(root, 'src/plan/syscalls');
mkdirSync(outDir, { recursive: true });
for (const [arch, get] of [['x86_64', x86_64Table], ['aarch64', aarch64Table]]) {
  const { file, table } = get();
  const added = withNewer(table);
  writeFileSync(join(outDir, `${arch}.ts`), syscallModule(arch, file, table, added));
  console.log(`${arch}: ${Object.keys(table).length} syscalls from ${file}${added.length ? ` + ${added.length} newer` : ''}`);
}
const errno = errnoTable();
writeFileSync(join(root, 'src/plan/errno.ts'), errnoModule(errno));
console.log(`errno: ${Object.keys(errno.names).length} names, ${Object.keys(errno.aliases).length} aliases`);
