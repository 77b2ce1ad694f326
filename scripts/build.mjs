// Build: compile the TypeScript sources to dist/ and the C stage to native/build/.
// Runs at `npm install`/`npm ci` (the root package's own `prepare`), and before tests.
import { spawnSync } from 'node:child_process';
import { mkdirSync, existsSync, readdirSync, renameSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const run = (cmd, args) => {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' });
  if (r.error) throw r.error;
  if (r.status !== 0) process.exit(r.status ?? 1);
};

// 1. The native stage (see native/README.md). A missing compiler is reported, not fatal:
//    `niwa plan`/`validate` work without it; `niwa run` says how to fix it.
const cc = process.env.CC || 'cc';
const out = join(root, 'native', 'build');
mkdirSync(out, { recursive: true });
const srcs = existsSync(join(root, 'native')) ? readdirSync(join(root, 'native')).filter((f) => f.endsWith('.c')) : [];
if (srcs.length) {
  // Build to a temporary name and rename: a running `niwa run` never sees a half-written binary.
  const tmp = join(out, `niwa-stage.${process.pid}.tmp`);
  const r = spawnSync(cc, ['-O2', '-Wall', '-Wextra', '-Werror', '-std=gnu11', '-o', tmp, ...srcs.map((s) => join(root, 'native', s))], { stdio: 'inherit' });
  if (!r.error && r.status === 0) renameSync(tmp, join(out, 'niwa-stage'));
  else console.error(`niwa: could not build the native stage with '${cc}' (install a C compiler, e.g. apt-get install gcc); niwa run will not work until then`);
}

// 1a. EXPERIMENT: the same stage core as a shared library for an in-process launch through koffi
//     (native/lib/*.c + the stage's plan.c and ops.c, never its main; src/runtime/launch/inproc.ts).
//     Measured in bench/inproc.mjs, not used by niwa (see native/README.md). Not fatal: niwa does
//     not need it. Same temporary name + rename as the executable.
const libSrcs = existsSync(join(root, 'native', 'lib')) ? readdirSync(join(root, 'native', 'lib')).filter((f) => f.endsWith('.c')) : [];
if (libSrcs.length) {
  const tmp = join(out, `libniwa-stage.so.${process.pid}.tmp`);
  const r = spawnSync(cc, ['-O2', '-Wall', '-Wextra', '-Werror', '-std=gnu11', '-fPIC', '-shared', '-fvisibility=hidden', '-Wl,-z,defs', '-o', tmp,
    ...libSrcs.map((s) => join(root, 'native', 'lib', s)), ...['plan.c', 'ops.c'].map((s) => join(root, 'native', s))], { stdio: 'inherit' });
  if (!r.error && r.status === 0) renameSync(tmp, join(out, 'libniwa-stage.so'));
  else console.error(`niwa: could not build the experimental in-process stage library (native/lib); niwa does not use it`);
}

// 1b. The container schema, compiled ahead of time by ajv (see scripts/build-schema.mjs).
run(process.execPath, [join(root, 'scripts', 'build-schema.mjs')]);

// 1c. Start-up: the `yaml` package as one bundled file (loads in a third of the time). Optional:
//     without esbuild (a dependency of tsx) src/vendor/yaml.ts loads the package as it is.
try {
  const esbuild = await import('esbuild');
  mkdirSync(join(root, 'dist', 'vendor'), { recursive: true });
  esbuild.buildSync({ entryPoints: ['yaml'], bundle: true, platform: 'node', format: 'cjs', minify: true, outfile: join(root, 'dist', 'vendor', 'yaml.cjs'), logLevel: 'error', absWorkingDir: root });
} catch (e) {
  console.error(`niwa: yaml not pre-bundled (${e.message}); start-up is a little slower`);
}

// 2. TypeScript → dist/ (tsc; strict). Uses the local compiler from devDependencies,
//    falls back to esbuild-free plain tsc when present globally.
const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
if (existsSync(tsc)) run(process.execPath, [tsc, '-p', join(root, 'tsconfig.json')]);
else if (!existsSync(join(root, 'dist'))) { console.error('niwa: typescript missing; run npm install'); process.exit(1); }
