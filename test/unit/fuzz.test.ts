// Fuzzing with a fixed seed (issue #13): mutated specs through validate and plan, mutated compose
// files through `compose config`'s loader, mutated layer tarballs through the unpacker, and a few
// mutated specs through the CLI. Each input must end in a success or a clear niwa error (a
// NiwaError with a code; exit 0, 1 or 2 from the CLI) — never another exception, a crash, a hang,
// or "internal error". NIWA_FUZZ_COUNT=N runs N cases per target (default 150); NIWA_FUZZ_SEED
// another seed. A failing case prints its seed and input, to be replayed.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { example, fixture, niwaBin, repoRoot } from '../helpers.js';
import { NiwaError } from '../../src/errors.js';
import { validateSpec } from '../../src/validate/spec.js';
import { compile } from '../../src/plan/compile.js';
import { genericHost } from '../../src/validate/host.js';
import { loadCompose } from '../../src/compose/index.js';

const COUNT = Number(process.env.NIWA_FUZZ_COUNT ?? 150);
const SEED = Number(process.env.NIWA_FUZZ_SEED ?? 0x6e697761);
/** One case may take this long (the loader, validate and plan of a small file take milliseconds). */
const CASE_MS = 3_000;

/** mulberry32: a small, fixed, seedable PRNG. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Tokens that YAML and niwa's fields care about. */
const TOKENS = [
  ':', '- ', '[', ']', '{', '}', '&a ', '*a', '<<: *a', '!!binary ', '!reset ', '!override ', '"', "'", '#', '|', '>', '\t', '\n', '  ', '?',
  '0', '-1', '1e400', '9007199254740993', '0x1F', '0o777', '1777', 'null', '~', 'true', 'yes', '.inf', '.nan', '""', '[]', '{}',
  '/', '../', '/proc/self', '\0', '\u202e', '${X}', '${X:?boom}', '$$', 'ALL', 'CAP_SYS_ADMIN', 'SIGKILL', '64M', '-5M', '0.0001', '999999T',
  'mount', 'user', 'pid', 'net', 'bind', 'tmpfs', 'pivot_root', 'chroot', 'x'.repeat(300),
];

function mutate(text: string, r: () => number): string {
  const pick = <T>(xs: T[]) => xs[Math.floor(r() * xs.length)];
  let s = text;
  const n = 1 + Math.floor(r() * 4);
  for (let i = 0; i < n; i++) {
    const at = Math.floor(r() * (s.length + 1));
    const lines = s.split('\n');
    const li = Math.floor(r() * lines.length);
    switch (Math.floor(r() * 8)) {
      case 0: s = s.slice(0, at) + pick(TOKENS) + s.slice(at); break; // insert a token
      case 1: s = s.slice(0, at) + s.slice(at + 1 + Math.floor(r() * 20)); break; // delete a run
      case 2: s = s.slice(0, at) + String.fromCharCode(Math.floor(r() * 128)) + s.slice(at + 1); break; // replace a byte
      case 3: lines.splice(li, 0, lines[Math.floor(r() * lines.length)]); s = lines.join('\n'); break; // duplicate a line
      case 4: lines.splice(li, 1); s = lines.join('\n'); break; // drop a line
      case 5: { // replace a value after a colon
        const line = lines[li];
        const c = line.indexOf(': ');
        if (c >= 0) lines[li] = line.slice(0, c + 2) + pick(TOKENS);
        s = lines.join('\n');
        break;
      }
      case 6: lines[li] = (r() < 0.5 ? ' ' : '') + lines[li].replace(/^ /, r() < 0.5 ? '' : '   '); s = lines.join('\n'); break; // indentation
      default: s = s.slice(0, at) + s.slice(at, at + 40).repeat(1 + Math.floor(r() * 3)) + s.slice(at + 40); break; // repeat a stretch
    }
  }
  return s;
}

/** A clear outcome: success, or a NiwaError with a code (a message the user can act on). */
function assertClear(e: unknown, what: string, input: string): void {
  if (e instanceof NiwaError && /^E_[A-Z0-9_]+$/.test(e.code) && e.message && !/internal error/.test(e.message)) return;
  assert.fail(`${what}: not a niwa error: ${(e as Error)?.stack ?? String(e)}\n--- input (seed ${SEED}) ---\n${input}`);
}

async function timed<T>(what: string, input: string, f: () => Promise<T>): Promise<void> {
  const t0 = Date.now();
  try { await f(); } catch (e) { assertClear(e, what, input); }
  const ms = Date.now() - t0;
  assert.ok(ms < CASE_MS, `${what}: took ${ms} ms\n--- input ---\n${input}`);
}

let dir = '';
before(() => { dir = mkdtempSync(join(tmpdir(), 'niwa-fuzz-')); });
after(() => { if (dir) rmSync(dir, { recursive: true, force: true }); });

const specSeeds = () => [example('probe.container.yaml'), example('haconiwa.container.yaml'), ...readdirSync(example('course')).filter((f) => f.endsWith('.yaml')).map((f) => example('course', f))];

test(`fuzz: ${COUNT} mutated specs through validate and plan`, { timeout: 120_000 }, async () => {
  const r = rng(SEED);
  const seeds = specSeeds().map((f) => readFileSync(f, 'utf8'));
  const host = genericHost();
  let ok = 0;
  for (let i = 0; i < COUNT; i++) {
    const input = mutate(seeds[i % seeds.length], r);
    const file = join(dir, `s${i}.container.yaml`);
    writeFileSync(file, input);
    await timed(`spec case ${i}`, input, async () => {
      const v = await validateSpec(file, { hostCgroupControllers: ['cpu', 'memory', 'pids', 'cpuset', 'io'], exists: () => true });
      if (!v.ok) { assertClear(v.error, `spec case ${i}`, input); return; }
      compile(v.spec, host, { id: `${v.spec.name}-fuzz`, project: 'fuzz' });
      ok++;
    });
  }
  process.stderr.write(`# specs: ${COUNT} cases, ${ok} valid and planned, the rest clear errors\n`);
});

test(`fuzz: ${COUNT} mutated compose files through the compose loader`, { timeout: 120_000 }, async () => {
  const r = rng(SEED + 1);
  const base = fixture('compose');
  const seeds = readdirSync(base).flatMap((d) => { try { return [readFileSync(join(base, d, 'compose.yaml'), 'utf8')]; } catch { return []; } })
    .concat(readFileSync(example('compose', 'compose.yaml'), 'utf8'));
  let ok = 0;
  for (let i = 0; i < COUNT; i++) {
    const input = mutate(seeds[i % seeds.length], r);
    const d = join(dir, `c${i}`);
    mkdirSync(d);
    writeFileSync(join(d, 'compose.yaml'), input);
    await timed(`compose case ${i}`, input, async () => {
      await loadCompose({ files: [join(d, 'compose.yaml')], cwd: d, env: {}, skipCanonical: true, dataRoot: join(dir, 'data') });
      ok++;
    });
  }
  process.stderr.write(`# compose: ${COUNT} cases, ${ok} loaded, the rest clear errors\n`);
});

test(`fuzz: mutated layer tarballs through the unpacker`, { skip: process.getuid?.() !== 0 && 'needs root (mknod, xattrs)', timeout: 120_000 }, async () => {
  const { layerTar, compress } = await import('../image-fixtures.js');
  const { unpackLayerTo } = await import('../../src/image/unpack.js');
  const { realSys, prepareNative } = await import('../../src/runtime/sys/real.js');
  await prepareNative();
  const r = rng(SEED + 2);
  const tarBuf = await layerTar([
    { name: 'etc/', type: 'dir' }, { name: 'etc/hostname', content: 'box\n' }, { name: 'bin/', type: 'dir' },
    { name: 'bin/sh', content: 'x'.repeat(3000), mode: 0o755 }, { name: 'bin/ln', type: 'symlink', linkname: 'sh' },
    { name: 'bin/hard', type: 'link', linkname: 'bin/sh' }, { name: 'a/', type: 'dir' }, { name: 'a/.wh.gone', content: '' },
    { name: 'o/', type: 'dir' }, { name: 'o/.wh..wh..opq', content: '' }, { name: 'dev/', type: 'dir' }, { name: 'dev/fifo', type: 'fifo' },
    { name: 'etc/x', content: 'x', pax: { 'SCHILY.xattr.user.k': 'v' } },
  ]);
  const n = Math.max(20, Math.floor(COUNT / 3));
  let ok = 0;
  for (let i = 0; i < n; i++) {
    const how = (['none', 'gzip', 'zstd'] as const)[i % 3];
    const bytes = Buffer.from(tarBuf);
    // flip bytes (headers are in the first 512 of each entry), truncate, or splice
    const flips = Math.floor(r() * 3);
    for (let k = 0; k < flips; k++) bytes[Math.floor(r() * bytes.length)] = Math.floor(r() * 256);
    let data = compress(r() < 0.2 ? bytes.subarray(0, Math.floor(r() * bytes.length)) : bytes, how);
    if (how !== 'none' && r() < 0.3) { data = Buffer.from(data); data[10 + Math.floor(r() * (data.length - 10))] ^= 0xff; }
    const dest = join(dir, `l${i}`);
    await timed(`layer case ${i} (${how})`, data.subarray(0, 64).toString('hex'), async () => { await unpackLayerTo(data, dest, { sys: realSys }); ok++; });
  }
  process.stderr.write(`# layers: ${n} cases, ${ok} unpacked, the rest clear errors\n`);
});

test('fuzz: a few mutated specs through the CLI exit 0, 1 or 2 and never say internal error', { timeout: 120_000 }, () => {
  const r = rng(SEED + 3);
  const seeds = specSeeds().map((f) => readFileSync(f, 'utf8'));
  const n = Math.min(12, COUNT);
  for (let i = 0; i < n; i++) {
    const input = mutate(seeds[i % seeds.length], r);
    const file = join(dir, `cli${i}.container.yaml`);
    writeFileSync(file, input);
    for (const verb of i % 2 ? ['plan'] : ['validate']) {
      const res = spawnSync(process.execPath, [niwaBin, verb, file], { encoding: 'utf8', cwd: repoRoot, timeout: 20_000 });
      assert.ok([0, 1, 2].includes(res.status ?? -1), `${verb} case ${i}: exit ${res.status} ${res.signal ?? ''}\n${res.stderr}\n--- input ---\n${input}`);
      assert.doesNotMatch(res.stderr, /internal error/, `${verb} case ${i}\n--- input ---\n${input}`);
    }
  }
});
