// Shared test helpers: repo paths, running the CLI, root/kernel feature checks for skips.
import { spawnSync, type SpawnSyncOptions } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { existsSync } from 'node:fs';

/** Repository root: the nearest directory above this file with a package.json (works from test/ and dist/test/). */
export const repoRoot = ((): string => {
  let d = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(d, 'package.json')) && dirname(d) !== d) d = dirname(d);
  return d;
})();
export const fixture = (...p: string[]) => join(repoRoot, 'test', 'fixtures', ...p);
export const example = (...p: string[]) => join(repoRoot, 'examples', ...p);
export const niwaBin = join(repoRoot, 'bin', 'niwa.js');

export interface CliResult { status: number; stdout: string; stderr: string }
export function niwa(args: string[], opts: SpawnSyncOptions = {}): CliResult {
  const r = spawnSync(process.execPath, [niwaBin, ...args], { encoding: 'utf8', cwd: repoRoot, timeout: 60_000, ...opts });
  return { status: r.status ?? -1, stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? '') };
}

/** Reason to skip a test that needs root, or false when we are root. */
export function needsRoot(): string | false {
  return process.getuid?.() === 0 ? false : 'needs root (run as root to exercise real namespaces and cgroups)';
}
export function needsStage(): string | false {
  return existsSync(join(repoRoot, 'native', 'build', 'niwa-stage')) ? false : 'native stage not built (no C compiler?)';
}

/** Polls `f` every 50 ms until it returns something truthy; throws after `timeoutMs`. */
export async function until<T>(what: string, f: () => T | undefined | false, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = f();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
