// Owns the option parsing the orchestration verbs share with this directory's verbs, so that
// compose-verbs.ts calls it with one line: `logs --since/--until` (a time window) and
// `run -v SRC:DST[:ro] -w DIR -u USER[:GROUP]` (changes to the one-off container's spec).
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { UserError } from '../../errors.js';
import type { CanonicalMount, CanonicalSpec } from '../../spec/types.js';
import type { ComposeLoad } from '../../compose/index.js';
import type { OneOff } from '../../plan/project/compile.js';
import { parseSince } from '../../runtime/supervisor/logs.js';
import type { ParsedArgs } from '../args.js';

/** `--since T` / `--until T`: an RFC 3339 time, Unix seconds, or a duration before now (10m, 1h30m). */
export function logWindow(a: ParsedArgs, now = Date.now()): { since?: Date; until?: Date } {
  const out: { since?: Date; until?: Date } = {};
  for (const k of ['since', 'until'] as const) {
    const v = a.flags[k];
    if (v === undefined) continue;
    const d = parseSince(String(v), now);
    if (!d) throw new UserError('E_USAGE', `logs: --${k} expects a time or a duration, got '${String(v)}'`, [], 'e.g. 2026-01-02T15:04:05Z, 1767366245, 10s, 5m, 1h');
    out[k] = d;
  }
  return out;
}

/** The directory holding the passwd and group files of a spec's root (the top image layer that has them). */
function etcOf(spec: CanonicalSpec): string {
  const r = spec.rootfs;
  if (r.kind === 'dir') return join(r.path, 'etc');
  if (r.kind === 'image') {
    const layers = [...(r.image?.layers ?? [])].reverse();
    const top = layers.find((l) => existsSync(join(l, 'etc', 'passwd')));
    return top ? join(top, 'etc') : '/nonexistent';
  }
  return '/etc'; // the embedded default root binds the host's /etc essentials
}

/** One `-v SRC:DST[:ro|rw]`: a host path (absolute, or ./relative to the project directory) or a named volume of the project. */
export function runVolume(v: string, load: ComposeLoad): CanonicalMount {
  const parts = v.split(':');
  const [src, dst, mode] = parts;
  if (parts.length < 2 || parts.length > 3 || !src || !dst || (mode !== undefined && mode !== 'ro' && mode !== 'rw')) {
    throw new UserError('E_USAGE', `compose run: -v expects SRC:DST[:ro], got '${v}'`, [], 'e.g. -v ./data:/data:ro or -v site:/srv');
  }
  if (!isAbsolute(dst)) throw new UserError('E_USAGE', `compose run: -v target '${dst}' must be an absolute path`);
  let source: string;
  if (src.startsWith('/') || src.startsWith('.') || src.startsWith('~')) {
    source = src.startsWith('~') ? join(process.env.HOME ?? '/root', src.slice(1)) : resolve(load.project.workingDir, src);
    if (!existsSync(source)) throw new UserError('E_USAGE', `compose run: -v source ${source} does not exist`);
  } else {
    const vol = [...load.services.values()].flatMap((s) => s.compose.volumes).find((x) => x.name === src && !x.anonymous);
    if (!vol) throw new UserError('E_USAGE', `compose run: -v '${src}' is not a volume of the project`, [], `declare it under the top-level volumes:, or give a path (./${src})`);
    source = vol.hostPath;
    mkdirSync(source, { recursive: true, mode: 0o755 }); // as up creates a named volume before its first use
  }
  return {
    type: 'bind', source, target: dst, readonly: mode === 'ro', recursive: true, options: [], field: 'run -v',
    sourceKind: statSync(source).isDirectory() ? 'dir' : 'file',
  };
}

/**
 * `compose run -v/-w/-u` as changes of the one-off container (src/plan/project OneOff): carried in its
 * launch step, so that a launch compiled after its image's pull or build (deferred) gets them too. A
 * user is resolved here when the service's image is in the store; otherwise the late compile looks it
 * up in the pulled or built image.
 */
export async function runOptions(load: ComposeLoad, service: string, a: ParsedArgs): Promise<Pick<OneOff, 'mounts' | 'cwd' | 'user'>> {
  const svc = load.services.get(service);
  const out: Pick<OneOff, 'mounts' | 'cwd' | 'user'> = {};
  const volumes = (a.flags.volume as string[] | undefined) ?? [];
  if (volumes.length) out.mounts = volumes.map((v) => runVolume(v, load));
  if (a.flags.workdir !== undefined) {
    const w = String(a.flags.workdir);
    if (!isAbsolute(w)) throw new UserError('E_USAGE', `compose run: -w '${w}' must be an absolute path`);
    out.cwd = w;
  }
  if (a.flags.user !== undefined) {
    const u = String(a.flags.user);
    if (!/^[^:\s]+(:[^:\s]+)?$/.test(u)) throw new UserError('E_USAGE', `compose run: -u expects USER[:GROUP], got '${u}'`);
    out.user = { name: u };
    if (svc?.canonical && !svc.deferred) {
      const { resolveUser } = await import('../exec.js');
      out.user = { name: u, ...resolveUser(u, 0, etcOf(svc.canonical)) };
    }
  }
  return out;
}
