// Shared by the lifecycle verbs: --project and --state-root (or NIWA_STATE_ROOT), how a container is
// found (a name from any project, the id `run -d` printed, or a unique prefix of it), and small
// formatting helpers for tables and durations.
import { UserError } from '../errors.js';
import { defaultStateRoot } from '../validate/host.js';
import { checkName } from '../spec/names.js';
import type { Target } from '../runtime/supervisor/client.js';
import { containerDir, listNames, listProjects, listRecordDirs, readState } from '../runtime/state.js';

/** Value flags every lifecycle verb accepts. */
export const TARGET_FLAGS = { project: '', 'state-root': '' } as const;

export const TARGET_USAGE = '  --project NAME      the project (default: default)\n  --state-root DIR    where state lives (default: $NIWA_STATE_ROOT or /run/niwa)';

export function targetOf(flags: Record<string, unknown>, verb: string): Target {
  const project = String(flags.project ?? 'default');
  checkName(project, 'project name (--project)', verb);
  return { root: String(flags['state-root'] ?? defaultStateRoot()), project };
}

export function namesOf(positionals: string[], verb: string, usage: string): string[] {
  if (!positionals.length) throw new UserError('E_USAGE', `${verb}: expected a container name`, [], `usage: ${usage}`);
  for (const n of positionals) checkName(n, 'container name', verb);
  return positionals;
}

/** A container found by resolveContainer: its project (a Target) and name. */
export interface Found { t: Target; name: string; id: string }

/**
 * A container by name (in --project when given, else in any project), by its id, or by a unique
 * prefix of its id (or of the id's random part). Ambiguity is an error listing the candidates with
 * their projects; nothing found is an error saying where niwa looked.
 */
/** `unfinished`: also directories without state.json (a record a full disk or a kill left half-made; rm removes them). */
export function resolveContainer(flags: Record<string, unknown>, ref: string, verb: string, o: { unfinished?: boolean } = {}): Found {
  const root = String(flags['state-root'] ?? defaultStateRoot());
  checkName(ref, 'container name', verb);
  if (flags.project !== undefined) checkName(String(flags.project), 'project name (--project)', verb);
  const projects = flags.project !== undefined ? [String(flags.project)] : listProjects(root);
  const all = projects.flatMap((project) => (o.unfinished ? listRecordDirs(root, project) : listNames(root, project)).map((name) => ({ t: { root, project }, name, id: readState(containerDir(root, project, name))?.id ?? name })));
  const pick = (hits: Found[], how: string): Found | undefined => {
    if (hits.length <= 1) return hits[0];
    throw new UserError('E_AMBIGUOUS', `${verb}: '${ref}' ${how} ${hits.length} containers`, hits.map((h) => ({ message: `${h.name} (id ${h.id}) in project ${h.t.project}` })),
      `name one with --project P, or give more of its id`);
  };
  const found = pick(all.filter((c) => c.name === ref), 'names')
    ?? pick(all.filter((c) => c.id === ref), 'is the id of')
    ?? pick(all.filter((c) => c.id.startsWith(ref) || c.id.slice(c.id.lastIndexOf('-') + 1).startsWith(ref)), 'is a prefix of the ids of');
  if (found) return found;
  const where = flags.project !== undefined ? `in project '${String(flags.project)}'` : projects.length ? `in any project (${projects.join(', ')})` : `(no containers under ${root})`;
  throw new UserError('E_NO_CONTAINER', `${verb}: no container '${ref}' ${where}`, [], 'niwa ps lists them: NAME, ID and PROJECT');
}

/** Runs `f` for each container named (by name, id or id prefix); like eachName, one failure does not stop the others. */
export async function eachContainer(refs: string[], flags: Record<string, unknown>, verb: string, usage: string, f: (t: Target, name: string) => Promise<void>, o: { unfinished?: boolean } = {}): Promise<number> {
  if (!refs.length) throw new UserError('E_USAGE', `${verb}: expected a container name`, [], `usage: ${usage}`);
  return eachName(refs, async (ref) => { const c = resolveContainer(flags, ref, verb, o); await f(c.t, c.name); });
}

/** `-t SECS` of stop/restart as milliseconds (undefined: the spec's stop_grace_period). */
export function graceMsOf(flags: Record<string, unknown>, verb: string): number | undefined {
  if (flags.time === undefined) return undefined;
  const secs = Number(flags.time);
  if (!(secs >= 0)) throw new UserError('E_USAGE', `${verb}: -t expects seconds, got '${String(flags.time)}'`);
  return Math.round(secs * 1000);
}

/** 3s, 5m12s, 2h3m, 4d1h. */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${s % 60}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d${Math.floor((s % 86400) / 3600)}h`;
}

export function formatBytes(n: number | undefined | null): string {
  if (n === undefined || n === null) return '-';
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < u.length - 1) { v /= 1024; i++; }
  return `${i ? v.toFixed(1) : v}${u[i]}`;
}

/** Left-aligned columns, two spaces apart. */
export function table(rows: string[][]): string {
  const w = rows[0].map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(w[i]))).join('  ')).join('\n') + '\n';
}

/** Runs `f` for each name; reports each failure and returns 1 if any failed (like docker stop a b c). */
export async function eachName(names: string[], f: (name: string) => Promise<void>): Promise<number> {
  let status = 0;
  for (const n of names) {
    try { await f(n); } catch (e) {
      const { formatError, NiwaError } = await import('../errors.js');
      process.stderr.write(formatError(e) + '\n');
      status = Math.max(status, e instanceof NiwaError ? e.exitCode : 1);
    }
  }
  return status;
}
