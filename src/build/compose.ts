// Compose `build:` through the builder. A service's `build` (a context string, or {context,
// dockerfile, args, target, labels, no_cache}) is built into the store and named by its `image:`,
// else `<project>-<service>` (as docker compose names it). `composeBuildRequest` is what the project
// plan's build step carries (the engine builds it: runtime/project/images.ts); `buildService` builds
// one outside a plan (watch's rebuild), and the layer cache makes an unchanged rebuild run nothing.
import { isAbsolute, join } from 'node:path';
import { UserError } from '../errors.js';
import type { PullEvent, StoredImage } from '../image/types.js';
import type { HostFacts } from '../plan/types.js';
import type { StageStdio } from '../runtime/launch/stage.js';
import type { BuildEvent } from './execute.js';
import type { BuildRequest } from './index.js';

export interface ComposeBuildOptions {
  /** Host facts for the RUN steps' launch plans (default: probed). */
  host?: HostFacts;
  noCache?: boolean;
  /** --build-arg given to `compose build`, over the file's args. */
  buildArgs?: Record<string, string>;
  onEvent?: (service: string, e: BuildEvent) => void;
  onPull?: (e: PullEvent) => void;
  stdio?: StageStdio;
}

/** The image name a build service runs on: its `image:`, else `<project>-<service>`. */
export function builtImageName(project: string, service: string, svc: { image?: string }): string {
  return svc.image ?? `${project}-${service}`.toLowerCase();
}

/** The build request a service's `build:` stands for (pure). */
export function composeBuildRequest(project: string, service: string, svc: { image?: string; build?: unknown }, base = process.cwd()): BuildRequest {
  const b = svc.build;
  const o: Record<string, unknown> = typeof b === 'string' ? { context: b } : b && typeof b === 'object' ? (b as Record<string, unknown>) : {};
  const context = typeof o.context === 'string' ? (isAbsolute(o.context) ? o.context : join(base, o.context)) : base;
  if (typeof o.context === 'string' && /^[a-z]+:\/\/|^git@/.test(o.context)) {
    throw new UserError('E_BUILD_CONTEXT', `services.${service}.build.context: remote contexts (${o.context}) are not supported by niwa build`, [], 'clone the repository and point build.context at the directory');
  }
  const args: Record<string, string> = {};
  if (Array.isArray(o.args)) for (const a of o.args.map(String)) { const i = a.indexOf('='); if (i > 0) args[a.slice(0, i)] = a.slice(i + 1); else if (process.env[a] !== undefined) args[a] = process.env[a]!; }
  else if (o.args && typeof o.args === 'object') for (const [k, v] of Object.entries(o.args as Record<string, unknown>)) if (v !== null && v !== undefined) args[k] = String(v);
  const labels: Record<string, string> = {};
  if (Array.isArray(o.labels)) for (const l of o.labels.map(String)) { const i = l.indexOf('='); labels[i > 0 ? l.slice(0, i) : l] = i > 0 ? l.slice(i + 1) : ''; }
  else if (o.labels && typeof o.labels === 'object') for (const [k, v] of Object.entries(o.labels as Record<string, unknown>)) labels[k] = String(v ?? '');
  return {
    context,
    ...(typeof o.dockerfile === 'string' ? { dockerfile: o.dockerfile } : {}),
    ...(typeof o.dockerfile_inline === 'string' ? { dockerfileText: o.dockerfile_inline } : {}),
    tags: [builtImageName(project, service, svc)],
    buildArgs: args,
    ...(typeof o.target === 'string' ? { target: o.target } : {}),
    ...(Object.keys(labels).length ? { labels } : {}),
    ...(o.no_cache === true ? { noCache: true } : {}),
  };
}

/** Builds a service's image (always; the cache keeps an unchanged rebuild cheap). */
export async function buildService(project: string, service: string, svc: { image?: string; build?: unknown }, opts: ComposeBuildOptions, base?: string): Promise<StoredImage> {
  const [{ buildImage }, { probeHost }] = await Promise.all([import('./index.js'), import('../validate/host.js')]);
  const host = opts.host ?? probeHost();
  const req = composeBuildRequest(project, service, svc, base);
  if (opts.noCache) req.noCache = true;
  if (opts.buildArgs) req.buildArgs = { ...req.buildArgs, ...opts.buildArgs };
  return buildImage(req, { host, onEvent: opts.onEvent && ((e) => opts.onEvent!(service, e)), onPull: opts.onPull, stdio: opts.stdio ?? ['ignore', 2, 2] });
}
