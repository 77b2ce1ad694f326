// The build executor: runs a BuildPlan (plan.ts) stage by stage into the image store. Bases come
// from the store or a registry (ensureImage); metadata instructions change the config; RUN runs a
// container (run-step.ts) whose upper dir becomes a layer; COPY/ADD write a layer from the context or
// another stage (copy.ts). Every step's result is cached under its key (parent key + instruction +
// inputs) in images/build-cache/<hex>.json, pointing at a layer the store holds: a step whose key is
// cached and whose layer is still stored runs nothing. The result is a config + OCI manifest stored
// like a pulled image and named by each -t.
//
// It emits BuildEvents and never prints (the CLI renders them). A failing step leaves no container,
// mount or layer behind: the RUN's plan cleans its container up, its directory is removed, and a
// layer appears in the store only complete (layer.ts).
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { RuntimeFailure, UserError } from '../errors.js';
import { envList } from '../image/apply.js';
import { hostPlatform } from '../image/platform.js';
import { ensureImage } from '../image/pull.js';
import { canonicalName } from '../image/archive.js';
import type { Store } from '../image/store.js';
import { MEDIA, type ImageConfigFile, type ImageManifest, type ImageRuntimeConfig, type LayerRecord, type PullEvent, type StoredImage } from '../image/types.js';
import { readMerged } from '../image/view.js';
import type { HostFacts } from '../plan/types.js';
import type { StageStdio } from '../runtime/launch/stage.js';
import type { Sys } from '../runtime/sys/types.js';
import { archiveEntries, planCopy } from './copy.js';
import { expandVars, splitWords, unquote, type Vars } from './expand.js';
import { upperEntries, writeLayer, type LayerEntry } from './layer.js';
import { argDecls, stepKey, type BuildPlan, type PlanStage } from './plan.js';
import { runStep } from './run-step.js';
import { contextTree, layersTree, type Tree } from './sources.js';

export type BuildEvent =
  | { type: 'stage'; stage: string; base: string }
  | { type: 'step'; stage: string; n: number; total: number; text: string; line: number; state: 'cached' | 'running' | 'done' | 'config'; ms?: number; layer?: string }
  | { type: 'warning'; message: string }
  | { type: 'done'; digest: string; names: string[]; layers: number; ms: number; ran: number; cached: number };

export interface BuildOptions {
  store: Store;
  host: HostFacts;
  sys: Sys;
  /** The build context directory (absolute). */
  context: string;
  /** .dockerignore patterns (already read). */
  ignore: string[];
  /** Canonical names to give the result. */
  names: string[];
  noCache?: boolean;
  /** stdio of RUN containers (default: stdin closed, output on our stderr). */
  stdio?: StageStdio;
  onEvent?: (e: BuildEvent) => void;
  onPull?: (e: PullEvent) => void;
  /** lgetxattr(trusted.overlay.opaque) of a layer dir. */
  isOpaque: (dir: string) => boolean;
}

interface StageState {
  layers: LayerRecord[];
  config: ImageConfigFile;
  key: string;
  /** ARGs in scope, with their values. */
  args: Vars;
  shell: string[];
  cmdSet: boolean;
}

const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

function cacheDir(store: Store): string {
  return join(store.root, 'build-cache');
}

interface CacheRecord { layer: LayerRecord | null; at: string }

function cacheGet(store: Store, key: string): CacheRecord | undefined {
  try {
    const r = JSON.parse(fs.readFileSync(join(cacheDir(store), key.slice(7) + '.json'), 'utf8')) as CacheRecord;
    if (r.layer && !(store.hasBlob(r.layer.digest) && store.hasLayer(r.layer.diffId))) return undefined; // pruned since
    return r;
  } catch {
    return undefined;
  }
}

function cachePut(store: Store, key: string, layer: LayerRecord | null): void {
  const d = cacheDir(store);
  fs.mkdirSync(d, { recursive: true, mode: 0o700 });
  const tmp = join(d, `.${process.pid}.${key.slice(7)}.tmp`);
  fs.writeFileSync(tmp, JSON.stringify({ layer, at: new Date().toISOString() } satisfies CacheRecord));
  fs.renameSync(tmp, join(d, key.slice(7) + '.json'));
}

const sha256 = (b: Uint8Array | string) => 'sha256:' + createHash('sha256').update(b).digest('hex');

function envMap(c: ImageRuntimeConfig): Record<string, string> {
  return envList(c.Env);
}
function setEnv(c: ImageRuntimeConfig, k: string, v: string): void {
  const list = (c.Env ?? []).filter((e) => e.split('=')[0] !== k);
  list.push(`${k}=${v}`);
  c.Env = list;
}

/** ns from a Dockerfile duration (30s, 1m30s, 500ms). */
function durationNs(s: string, where: string): number {
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g;
  const unit: Record<string, number> = { ns: 1, us: 1e3, 'µs': 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };
  let total = 0;
  let consumed = 0;
  for (const m of s.matchAll(re)) { total += Number(m[1]) * unit[m[2]]; consumed += m[0].length; }
  if (!consumed || consumed !== s.length) throw new UserError('E_DOCKERFILE', `${where}: ${JSON.stringify(s)} is not a duration`, [], 'durations look like 30s, 1m30s or 500ms');
  return Math.round(total);
}

/** Resolves `user[:group]` of --chown to numbers through the stage's /etc/passwd and /etc/group. */
function chownIds(spec: string, layers: string[], isOpaque: (d: string) => boolean, where: string): { uid: number; gid: number } {
  const [u, g] = spec.split(':');
  const lookup = (file: string, name: string): { id: number; gid?: number } | undefined => {
    if (/^\d+$/.test(name)) return { id: Number(name) };
    const text = readMerged(layers, file, isOpaque) ?? '';
    for (const line of text.split('\n')) {
      const f = line.split(':');
      if (f[0] === name) return { id: Number(f[2]), gid: f[3] !== undefined ? Number(f[3]) : undefined };
    }
    return undefined;
  };
  const user = lookup('/etc/passwd', u);
  if (!user) throw new UserError('E_BUILD_COPY', `${where}: --chown: no user ${u} in the image's /etc/passwd`);
  const group = g !== undefined ? lookup('/etc/group', g) : undefined;
  if (g !== undefined && !group) throw new UserError('E_BUILD_COPY', `${where}: --chown: no group ${g} in the image's /etc/group`);
  return { uid: user.id, gid: group ? group.id : /^\d+$/.test(u) ? user.id : user.gid ?? user.id };
}

export async function executeBuild(plan: BuildPlan, opts: BuildOptions): Promise<StoredImage> {
  const t0 = Date.now();
  const emit = opts.onEvent ?? (() => {});
  const store = opts.store;
  const lease = store.lease();
  const done = new Map<number, StageState>();
  const layerDirs = (s: StageState) => s.layers.map((l) => store.layerDir(l.diffId));
  const contextT = contextTree(opts.context, opts.ignore);
  let ran = 0;
  let cached = 0;
  const platform = hostPlatform();

  const baseState = async (st: PlanStage): Promise<StageState> => {
    if (st.base.kind === 'stage') {
      const s = done.get(st.base.stage)!;
      return { ...structuredClone(s), args: {}, cmdSet: false };
    }
    if (st.base.kind === 'scratch') {
      const config: ImageConfigFile = { architecture: platform.architecture, os: platform.os, ...(platform.variant ? { variant: platform.variant } : {}), config: {}, rootfs: { type: 'layers', diff_ids: [] }, history: [] };
      return { layers: [], config, key: stepKey('scratch', platform.architecture), args: {}, shell: ['/bin/sh', '-c'], cmdSet: false };
    }
    const img = await ensureImage(st.base.ref, { store, policy: 'missing', onEvent: opts.onPull });
    img.layers.forEach((l) => lease.add(l.digest));
    const config = structuredClone(img.config);
    config.config = config.config ?? {};
    return { layers: [...img.layers], config, key: stepKey('image', img.digest), args: {}, shell: ['/bin/sh', '-c'], cmdSet: false };
  };

  try {
    for (const n of plan.order) {
      const st = plan.stages[n];
      const label = st.name ?? String(n);
      emit({ type: 'stage', stage: label, base: st.base.kind === 'image' ? st.base.ref : st.base.kind === 'stage' ? `stage ${plan.stages[st.base.stage].name ?? st.base.stage}` : 'scratch' });
      const s = await baseState(st);
      const c = s.config.config!;
      if (!c.Env?.some((e) => e.startsWith('PATH='))) c.Env = [DEFAULT_PATH, ...(c.Env ?? [])];
      const total = st.steps.length;
      for (const [k, i] of st.steps.entries()) {
        const stepT0 = Date.now();
        const where = `${plan.file}:${i.line}`;
        const vars = (): Vars => ({ ...s.args, ...envMap(c) });
        const x = (w: string) => expandVars(w, vars());
        const words = () => i.words.map((w) => unquote(x(w)));
        const event = (state: 'cached' | 'done' | 'config' | 'running', layer?: LayerRecord | null) => emit({ type: 'step', stage: label, n: k + 1, total, text: i.text, line: i.line, state, ms: Date.now() - stepT0, ...(layer ? { layer: layer.digest } : {}) });
        const history = (empty: boolean, text = i.text) => { s.config.history = [...(s.config.history ?? []), { created_by: text, ...(empty ? { empty_layer: true } : {}) }]; };
        const meta = (text: string) => { s.key = stepKey(s.key, text); history(true, text); event('config'); };
        switch (i.keyword) {
          case 'ENV': {
            const v = vars();
            const pairs = (i.props ?? []).map(([kk, vv]) => [kk, expandVars(vv ?? '', v)] as const);
            if (!pairs.length) throw new UserError('E_DOCKERFILE', `${where}: ENV needs KEY=VALUE`);
            for (const [kk, vv] of pairs) setEnv(c, kk, vv);
            meta(`ENV ${pairs.map(([kk, vv]) => `${kk}=${JSON.stringify(vv)}`).join(' ')}`);
            break;
          }
          case 'ARG': {
            for (const [name, def] of argDecls(i)) {
              s.args[name] = name in plan.buildArgs ? plan.buildArgs[name] : def !== undefined ? expandVars(def, vars()) : plan.globals[name];
            }
            // ARG values enter the cache key of later RUNs through their environment, not here
            event('config');
            break;
          }
          case 'WORKDIR': {
            const p = unquote(x(i.args));
            const abs = p.startsWith('/') ? p : `${c.WorkingDir || '/'}/${p}`;
            c.WorkingDir = abs.replace(/\/+/g, '/').replace(/(.)\/$/, '$1');
            meta(`WORKDIR ${c.WorkingDir}`);
            break;
          }
          case 'USER': c.User = unquote(x(i.args)); meta(`USER ${c.User}`); break;
          case 'LABEL': {
            const v = vars();
            c.Labels = { ...(c.Labels ?? {}) };
            for (const [kk, vv] of i.props ?? []) c.Labels[expandVars(kk, v)] = expandVars(vv ?? '', v);
            meta(`LABEL ${JSON.stringify(c.Labels)}`);
            break;
          }
          case 'EXPOSE': {
            c.ExposedPorts = { ...(c.ExposedPorts ?? {}) };
            for (const w of words()) {
              if (!/^\d+(-\d+)?(\/(tcp|udp|sctp))?$/i.test(w)) throw new UserError('E_DOCKERFILE', `${where}: EXPOSE ${w}: not a port`, [{ file: plan.file, line: i.line, col: i.col, message: `not a port: ${w}` }], 'EXPOSE 80, 8080/tcp or 53/udp');
              c.ExposedPorts[w.includes('/') ? w.toLowerCase() : `${w}/tcp`] = {};
            }
            meta(`EXPOSE ${Object.keys(c.ExposedPorts).join(' ')}`);
            break;
          }
          case 'VOLUME': {
            c.Volumes = { ...(c.Volumes ?? {}) };
            for (const p of i.json ?? words()) c.Volumes[x(p)] = {};
            meta(`VOLUME ${Object.keys(c.Volumes).join(' ')}`);
            break;
          }
          case 'ENTRYPOINT':
          case 'CMD': {
            const argv = i.json ?? (i.args ? [...s.shell, i.args] : []);
            if (i.keyword === 'CMD') { c.Cmd = argv; s.cmdSet = true; } else { c.Entrypoint = argv; if (!s.cmdSet) c.Cmd = null; }
            meta(`${i.keyword} ${JSON.stringify(argv)}`);
            break;
          }
          case 'SHELL': {
            if (!i.json || !i.json.length) throw new UserError('E_DOCKERFILE', `${where}: SHELL needs a JSON array, e.g. SHELL ["/bin/bash", "-c"]`, [{ file: plan.file, line: i.line, col: i.col, message: 'SHELL takes the exec (JSON) form only' }]);
            s.shell = i.json;
            meta(`SHELL ${JSON.stringify(i.json)}`);
            break;
          }
          case 'STOPSIGNAL': c.StopSignal = x(i.args); meta(`STOPSIGNAL ${c.StopSignal}`); break;
          case 'MAINTAINER': s.config.author = i.args; meta(`MAINTAINER ${i.args}`); break;
          case 'HEALTHCHECK': {
            const first = (i.words[0] ?? '').toUpperCase();
            if (first === 'NONE') c.Healthcheck = { Test: ['NONE'] };
            else if (first === 'CMD') {
              const rest = i.args.replace(/^\s*CMD\s*/i, '');
              const json = rest.trim().startsWith('[') ? (() => { try { return JSON.parse(rest) as string[]; } catch { return undefined; } })() : undefined;
              c.Healthcheck = {
                Test: json ? ['CMD', ...json] : ['CMD-SHELL', rest],
                ...(i.flags.interval ? { Interval: durationNs(i.flags.interval, where) } : {}),
                ...(i.flags.timeout ? { Timeout: durationNs(i.flags.timeout, where) } : {}),
                ...(i.flags['start-period'] ? { StartPeriod: durationNs(i.flags['start-period'], where) } : {}),
                ...(i.flags['start-interval'] ? { StartInterval: durationNs(i.flags['start-interval'], where) } : {}),
                ...(i.flags.retries ? { Retries: Number(i.flags.retries) } : {}),
              };
            } else throw new UserError('E_DOCKERFILE', `${where}: HEALTHCHECK takes NONE or CMD …`, [{ file: plan.file, line: i.line, col: i.col, message: 'HEALTHCHECK [OPTIONS] CMD command, or HEALTHCHECK NONE' }]);
            meta(`HEALTHCHECK ${JSON.stringify(c.Healthcheck)}`);
            break;
          }
          case 'RUN': {
            const argv = i.json ?? [...s.shell, i.args];
            const network = (i.flags.network ?? 'default') as 'default' | 'host' | 'none';
            const args: Record<string, string> = {};
            for (const [a, v] of Object.entries(s.args)) if (v !== undefined) args[a] = v;
            for (const [a, v] of Object.entries(plan.buildArgs)) if (!(a in args) && /^(HTTPS?|FTP|NO|ALL)_PROXY$/i.test(a)) args[a] = v;
            const key = stepKey(s.key, `RUN ${JSON.stringify(argv)} network=${network}`, { args: JSON.stringify(Object.entries(args).sort()) });
            const hit = opts.noCache ? undefined : cacheGet(store, key);
            if (hit) {
              cached++;
              if (hit.layer) { s.layers.push(hit.layer); lease.add(hit.layer.digest); }
              s.key = key;
              history(!hit.layer);
              event('cached', hit.layer);
              break;
            }
            event('running');
            ran++;
            const r = await runStep({ layers: layerDirs(s), config: c, argv, args, network, label: `${label}:${k + 1}` }, { host: opts.host, sys: opts.sys, stdio: opts.stdio ?? ['ignore', 2, 2], isOpaque: opts.isOpaque });
            let layer: LayerRecord | undefined;
            try {
              if (r.interrupted) throw new RuntimeFailure('E_BUILD_INTERRUPTED', `${where}: ${i.text}: interrupted`, { hint: 'the step was stopped and nothing of it was kept; the steps before it stay cached' });
              if (r.status !== 0) {
                throw new RuntimeFailure('E_BUILD_RUN', `${where}: ${i.text}: the command exited with status ${r.status}`, { hint: `step ${k + 1}/${total} of stage ${label} failed; nothing of it was kept` });
              }
              layer = await writeLayer(store, upperEntries(join(r.dir, 'upper'), opts.isOpaque), { skipEmpty: true });
            } finally {
              fs.rmSync(r.dir, { recursive: true, force: true });
              try { fs.rmdirSync(join(r.dir, '..')); } catch { /* other builds use it */ }
            }
            if (layer) { lease.add(layer.digest); s.layers.push(layer); }
            cachePut(store, key, layer ?? null);
            s.key = key;
            history(!layer);
            event('done', layer ?? null);
            break;
          }
          case 'COPY':
          case 'ADD': {
            const add = i.keyword === 'ADD';
            const parts = (i.json ?? splitWords(i.args)).map((w) => unquote(x(w)));
            if (parts.length < 2) throw new UserError('E_DOCKERFILE', `${where}: ${i.keyword} needs SOURCE... DEST`, [{ file: plan.file, line: i.line, col: i.col, message: `${i.keyword} needs at least one source and a destination` }]);
            let src: Tree = contextT;
            if (i.flags.from) {
              const from = x(i.flags.from).toLowerCase();
              const idx = plan.stages.find((p) => p.name === from)?.index ?? (/^\d+$/.test(from) ? Number(from) : undefined);
              if (idx !== undefined && done.has(idx)) src = layersTree(layerDirs(done.get(idx)!), `stage ${from}`, opts.isOpaque);
              else {
                const img = await ensureImage(x(i.flags.from), { store, policy: 'missing', onEvent: opts.onPull });
                src = layersTree(img.layers.map((l) => store.layerDir(l.diffId)), `image ${x(i.flags.from)}`, opts.isOpaque);
              }
            }
            const whereInfo = { file: plan.file, line: i.line, col: i.col, text: i.text };
            const owner = i.flags.chown ? chownIds(x(i.flags.chown), layerDirs(s), opts.isOpaque, where) : undefined;
            let chmod: number | undefined;
            if (i.flags.chmod) {
              if (!/^[0-7]{3,4}$/.test(i.flags.chmod)) throw new UserError('E_DOCKERFILE', `${where}: --chmod=${i.flags.chmod}: niwa takes octal modes`, [{ file: plan.file, line: i.line, col: i.col, message: 'use an octal mode such as --chmod=0755' }]);
              chmod = parseInt(i.flags.chmod, 8);
            }
            const cp = planCopy(src, layersTree(layerDirs(s), 'the image', opts.isOpaque), { sources: parts.slice(0, -1), dest: parts[parts.length - 1], workdir: c.WorkingDir ?? '/', owner, chmod, add, where: whereInfo });
            const key = stepKey(s.key, `${i.keyword} ${JSON.stringify(parts)} from=${i.flags.from ?? ''} chown=${owner ? `${owner.uid}:${owner.gid}` : ''} chmod=${chmod ?? ''}`, { content: cp.digest });
            const hit = opts.noCache ? undefined : cacheGet(store, key);
            if (hit?.layer) {
              cached++;
              s.layers.push(hit.layer);
              lease.add(hit.layer.digest);
              s.key = key;
              history(false);
              event('cached', hit.layer);
              break;
            }
            event('running');
            ran++;
            async function* all(): AsyncGenerator<LayerEntry> {
              yield* cp.entries;
              for (const a of cp.archives) yield* archiveEntries(a.host, a.dest, where);
            }
            const layer = (await writeLayer(store, all()))!;
            lease.add(layer.digest);
            s.layers.push(layer);
            cachePut(store, key, layer);
            s.key = key;
            history(false);
            event('done', layer);
            break;
          }
          default:
            throw new UserError('E_DOCKERFILE', `${where}: ${i.keyword} is not supported by niwa build`);
        }
      }
      done.set(n, s);
    }
    // the target becomes an image: config + manifest, stored like a pulled one
    const s = done.get(plan.target)!;
    const config: ImageConfigFile = { ...s.config, rootfs: { type: 'layers', diff_ids: s.layers.map((l) => l.diffId) } };
    delete config.created;
    const configBytes = Buffer.from(JSON.stringify(config));
    const manifest: ImageManifest = {
      schemaVersion: 2,
      mediaType: MEDIA.ociManifest,
      config: { mediaType: MEDIA.ociConfig, digest: sha256(configBytes), size: configBytes.length },
      layers: s.layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
    };
    const manifestBytes = Buffer.from(JSON.stringify(manifest));
    const digest = sha256(manifestBytes);
    lease.add(digest);
    lease.add(manifest.config.digest);
    await store.putBlob(manifest.config.digest, configBytes.length, configBytes);
    await store.putBlob(digest, manifestBytes.length, manifestBytes);
    const names = opts.names.map(canonicalName);
    for (const nm of names) store.tag(nm, digest);
    const img = store.resolve(digest);
    if (!img) throw new RuntimeFailure('E_IMAGE_STORE', `the built image ${digest} cannot be read back from the store`);
    emit({ type: 'done', digest, names, layers: s.layers.length, ms: Date.now() - t0, ran, cached });
    return img;
  } finally {
    lease.release();
  }
}
