// What every load phase shares: the spec file, its directory, YAML positions and the error list.
import { dirname } from 'node:path';
import type { ErrorDetail } from '../../errors.js';
import type { HookFn, ProvisionStep, SeccompProfile } from '../types.js';
import type { Applied, ImageView } from '../../image/apply.js';
import type { RunOverrides } from './overrides.js';
import { optionOf } from '../../plan/format.js';

export type Positions = Record<string, { line: number; col: number }>;

/** Options of loadSpec/loadSpecObject. Everything host-dependent can be injected for tests. */
export interface LoadOptions {
  /** Controllers the host has (from validate/host.ts); cgroup keys for others are errors. Omitted: not checked. */
  hostCgroupControllers?: string[];
  /** The host's root for the default rootfs's /etc/passwd and /etc/group (default '/'). */
  hostRoot?: string;
  /** The invoking user's euid/egid, for the default user-namespace map (default process.geteuid/getegid). */
  hostUid?: number;
  hostGid?: number;
  /** Replaces the default seccomp profile (tests, before src/spec/seccomp-default.ts exists). */
  defaultSeccompProfile?: SeccompProfile;
  /** Existence check for host paths (bind sources, joined namespaces); default fs.existsSync. */
  exists?: (path: string) => boolean;
  /** The host's online CPUs and memory nodes ("0-3"), for cgroup.cpuset_cpus / cpus / cpuset_mems. Omitted: not checked. */
  hostCpus?: string;
  hostMems?: string;
  /** Skip the cross-field rules (validate/consistency.ts). */
  skipConsistency?: boolean;
  /**
   * Gets the image a `rootfs.image` names (from the store, pulling as `pull` says). Omitted (plain
   * `validate`): the image is not read, and a command may be left to it unchecked.
   */
  image?: (ref: string, pull: 'missing' | 'always' | 'never') => Promise<ImageView>;
  /**
   * Builds a provisioned image (rootfs.provision: the base image plus the steps, with the spec's
   * directory as the build context) and returns it. Omitted: the base image is read as it is.
   */
  provision?: (req: { ref: string; pull: 'missing' | 'always' | 'never'; steps: ProvisionStep[]; dir: string; name: string }) => Promise<ImageView>;
  /** Docker-style command-line options applied over the spec (overrides.ts), e.g. from `niwa run --memory 64m`. */
  overrides?: RunOverrides;
}

export interface LoadContext {
  /** Absolute spec path, or '<inline>'. */
  file: string;
  /** Directory relative paths in the spec are resolved against. */
  dir: string;
  positions: Positions;
  /** Function hooks lifted out of a TS spec before schema validation, by dotted path. */
  functions: Map<string, HookFn>;
  errors: ErrorDetail[];
  opts: LoadOptions;
  /** The image of rootfs.image once the image phase has read it, with what its config filled in. */
  image?: { view: ImageView; applied: Applied };
  /** Spec fields set by a command-line option → that option (overrides.ts). */
  flagSources?: Record<string, string>;
}

export function newContext(file: string, opts: LoadOptions = {}, dir?: string): LoadContext {
  return { file, dir: dir ?? (file === '<inline>' ? process.cwd() : dirname(file)), positions: {}, functions: new Map(), errors: [], opts };
}

/** The source position of a dotted path, or of its nearest ancestor that has one. */
export function positionOf(positions: Positions, field: string): { line: number; col: number } | undefined {
  let p = field;
  for (;;) {
    if (positions[p]) return positions[p];
    if (!p) return undefined;
    const i = p.lastIndexOf('.');
    p = i < 0 ? '' : p.slice(0, i);
  }
}

/** An ErrorDetail for `field`, located through the positions map. */
export function detail(ctx: Pick<LoadContext, 'file' | 'positions'>, field: string, message: string, hint?: string): ErrorDetail {
  const pos = positionOf(ctx.positions, field);
  const d: ErrorDetail = { file: ctx.file, field: field || undefined, message };
  if (pos) { d.line = pos.line; d.col = pos.col; }
  if (hint) d.hint = hint;
  return d;
}

/** A later phase's problem with a field a command-line option set: named after the option, not the spec file. */
export function relabel(sources: Record<string, string> | undefined, d: ErrorDetail): ErrorDetail {
  const flag = optionOf(sources, d.field);
  return flag ? { field: `${flag} (${d.field})`, message: d.message, ...(d.hint ? { hint: d.hint } : {}) } : d;
}

/** Record a problem and go on: every phase reports all it finds. */
export function report(ctx: LoadContext, field: string, message: string, hint?: string): void {
  ctx.errors.push(detail(ctx, field, message, hint));
}
