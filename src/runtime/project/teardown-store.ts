// Owns the project's stored teardown: the teardown steps of every plan applied to the project,
// merged by unit (a later plan's steps of a unit replace the earlier ones), kept in
// `<stateRoot>/<project>/_teardown.json`. They are what undoes things: a removed container's
// `container:NAME` steps (its veths, lease, netns, hosts file), and at `down` the rest (networks,
// shared files, mounts; volumes with -v). Only the project's supervisor writes it.
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { ProjectStep } from '../../plan/project/types.js';
import { projectDir } from '../state.js';

export const teardownPath = (stateRoot: string, project: string) => join(projectDir(stateRoot, project), '_teardown.json');

/** Teardown order by what a unit is: containers first, then the project's shared files, networks, the rest. */
function rank(s: ProjectStep): number {
  if (s.unit.startsWith('container:')) return 0;
  if (s.unit.startsWith('file:') && s.op === 'rm' && s.path.endsWith('_resolv.conf')) return 1;
  if (s.unit.startsWith('network:')) return 2;
  return 3;
}

export function readTeardown(stateRoot: string, project: string): ProjectStep[] {
  try { return JSON.parse(readFileSync(teardownPath(stateRoot, project), 'utf8')) as ProjectStep[]; } catch { return []; }
}

function write(stateRoot: string, project: string, steps: ProjectStep[]): void {
  const p = teardownPath(stateRoot, project);
  if (!steps.length) { rmSync(p, { force: true }); return; }
  mkdirSync(dirname(p), { recursive: true, mode: 0o700 });
  writeFileSync(`${p}.tmp`, JSON.stringify(steps) + '\n', { mode: 0o600 });
  renameSync(`${p}.tmp`, p);
}

/** Pure: `stored` with the units of `added` replaced by `added`'s steps, in teardown order. */
export function mergeTeardown(stored: ProjectStep[], added: ProjectStep[]): ProjectStep[] {
  const units = new Set(added.map((s) => s.unit));
  const all = [...added, ...stored.filter((s) => !units.has(s.unit))];
  return all.map((s, i) => [s, i] as const).sort((a, b) => rank(a[0]) - rank(b[0]) || a[1] - b[1]).map(([s]) => s);
}

/** Merges a plan's teardown into the stored one (before the plan runs, so a killed run is undone too). */
export function storeTeardown(stateRoot: string, project: string, steps: ProjectStep[]): void {
  if (!steps.length) return;
  write(stateRoot, project, mergeTeardown(readTeardown(stateRoot, project), steps));
}

/** Takes the stored steps of `units` out of the store (every unit when undefined) and returns them. */
export function takeTeardown(stateRoot: string, project: string, units?: string[]): ProjectStep[] {
  const stored = readTeardown(stateRoot, project);
  const want = units && new Set(units);
  const taken = stored.filter((s) => !want || want.has(s.unit));
  if (taken.length) write(stateRoot, project, stored.filter((s) => want && !want.has(s.unit)));
  return taken;
}
