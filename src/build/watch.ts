// Compose's develop.watch as data (pure): each service's rules ({action, path, target, ignore})
// with paths made absolute, and what a changed host path means — the file to copy into the
// container (sync, sync+restart) or a rebuild. `niwa compose watch` (src/cli/compose-watch.ts) acts on it.
import { isAbsolute, join, posix, relative, sep } from 'node:path';
import ignoreModule from '@balena/dockerignore';
import { UserError } from '../errors.js';

type IgnoreFactory = typeof ignoreModule.default;
const ignore = ((ignoreModule as unknown as { default?: IgnoreFactory }).default ?? ignoreModule) as unknown as IgnoreFactory;

export type WatchAction = 'sync' | 'rebuild' | 'sync+restart';

export interface WatchRule {
  service: string;
  action: WatchAction;
  /** Absolute host path (a file or a directory). */
  path: string;
  /** Container path (sync actions). */
  target?: string;
  ignore: string[];
}

/** The develop.watch rules of the services (paths relative to the project directory). */
export function watchRules(services: Record<string, { develop?: unknown; build?: unknown }>, projectDir: string): WatchRule[] {
  const out: WatchRule[] = [];
  for (const [service, svc] of Object.entries(services)) {
    const watch = (svc.develop as { watch?: unknown } | undefined)?.watch;
    if (watch === undefined) continue;
    if (!Array.isArray(watch)) throw new UserError('E_COMPOSE_WATCH', `services.${service}.develop.watch must be a list of rules`);
    watch.forEach((r: Record<string, unknown>, i) => {
      const at = `services.${service}.develop.watch.${i}`;
      const action = r.action as WatchAction;
      if (!['sync', 'rebuild', 'sync+restart'].includes(action)) throw new UserError('E_COMPOSE_WATCH', `${at}.action: '${String(r.action)}' is not sync, rebuild or sync+restart`);
      if (typeof r.path !== 'string' || !r.path) throw new UserError('E_COMPOSE_WATCH', `${at}.path is required`);
      if (action !== 'rebuild' && (typeof r.target !== 'string' || !r.target.startsWith('/'))) throw new UserError('E_COMPOSE_WATCH', `${at}.target: ${action} needs an absolute container path`);
      if (action === 'rebuild' && svc.build === undefined) throw new UserError('E_COMPOSE_WATCH', `${at}: rebuild needs the service to have build:`);
      out.push({ service, action, path: isAbsolute(r.path) ? r.path : join(projectDir, r.path), ...(typeof r.target === 'string' ? { target: r.target } : {}), ignore: Array.isArray(r.ignore) ? r.ignore.map(String) : [] });
    });
  }
  return out;
}

/** The rules a changed host path triggers, each with the container path to sync it to. */
export function matchChange(rules: WatchRule[], changed: string): { rule: WatchRule; containerPath?: string }[] {
  const out: { rule: WatchRule; containerPath?: string }[] = [];
  for (const rule of rules) {
    const rel = relative(rule.path, changed);
    if (rel.startsWith('..') || isAbsolute(rel)) continue;
    const relPosix = rel.split(sep).join('/');
    if (relPosix && ignore().add(rule.ignore).ignores(relPosix)) continue;
    out.push({ rule, ...(rule.target ? { containerPath: relPosix ? posix.join(rule.target, relPosix) : rule.target } : {}) });
  }
  return out;
}
