// One operation at a time per project: `compose up`, `down`, `start`, `run`… of one project take
// its lock (`<stateRoot>/_locks/<project>.lock`, created O_EXCL, holding the owner's pid and verb).
// A second operation waits, saying for whom, or (`wait: false`) refuses at once naming the holder.
// A lock whose owner has died is taken over, so a killed niwa never blocks the project.
import { closeSync, mkdirSync, openSync, readFileSync, renameSync, rmdirSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { RuntimeFailure } from '../../errors.js';
import { safeComponent } from '../net/names.js';

export interface LockOwner { pid: number; verb: string; since: string }

export interface ProjectLock { release(): void }

export const lockPath = (stateRoot: string, project: string) => join(stateRoot, '_locks', `${safeComponent('project', project)}.lock`);

function owner(path: string): LockOwner | undefined {
  try { return JSON.parse(readFileSync(path, 'utf8')) as LockOwner; } catch { return undefined; }
}

const alive = (pid: number) => {
  try { process.kill(pid, 0); return true; } catch (e) { return (e as NodeJS.ErrnoException).code === 'EPERM'; }
};

const describe = (o: LockOwner | undefined) => (o ? `pid ${o.pid}, \`${o.verb}\`, since ${o.since}` : 'an unknown process');

/**
 * Takes the project's lock. With `wait` (default) it waits up to `timeoutMs` (default 10 minutes),
 * telling `onWait` once who holds it; otherwise a held lock is refused at once (E_PROJECT_BUSY).
 */
export async function lockProject(stateRoot: string, project: string, verb: string, o: { wait?: boolean; timeoutMs?: number; onWait?: (message: string) => void } = {}): Promise<ProjectLock> {
  const path = lockPath(stateRoot, project);
  mkdirSync(join(stateRoot, '_locks'), { recursive: true, mode: 0o700 });
  const end = Date.now() + (o.timeoutMs ?? 600_000);
  let told = false;
  for (;;) {
    try {
      const fd = openSync(path, 'wx', 0o600);
      const me: LockOwner = { pid: process.pid, verb, since: new Date().toISOString() };
      writeSync(fd, JSON.stringify(me));
      closeSync(fd);
      let released = false;
      const release = () => {
        if (released) return;
        released = true;
        if (owner(path)?.pid === process.pid) rmSync(path, { force: true });
        try { rmdirSync(join(stateRoot, '_locks')); } catch { /* other projects' locks */ }
        process.off('exit', release);
      };
      process.on('exit', release);
      return { release };
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') { mkdirSync(join(stateRoot, '_locks'), { recursive: true, mode: 0o700 }); continue; } // another released the last lock and removed the directory
      if (code !== 'EEXIST') throw e;
    }
    const who = owner(path);
    if (who && !alive(who.pid)) { rmSync(path, { force: true }); continue; } // its owner died: take it over
    if (!who) { await new Promise((r) => setTimeout(r, 20)); if (!owner(path)) rmSync(path, { force: true }); continue; } // being written, or garbage
    if (who.pid === process.pid) throw new RuntimeFailure('E_PROJECT_BUSY', `project '${project}' is already locked by this process (${who.verb})`);
    const msg = `project '${project}' is busy: ${describe(who)}`;
    if (o.wait === false) throw new RuntimeFailure('E_PROJECT_BUSY', msg, { hint: 'one operation at a time per project: wait until it has finished, or stop it' });
    if (Date.now() > end) throw new RuntimeFailure('E_PROJECT_BUSY', `${msg}; gave up waiting`, { hint: `if that process is stuck, stop it (kill ${who.pid})` });
    if (!told) { told = true; o.onWait?.(`waiting for project '${project}' (${describe(who)})`); }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * Hands the project's lock from process `from` to process `to` (the client that took it to the
 * supervisor that carries out its operation, and back); false when `from` does not hold it.
 * `to` undefined: `from` lets it go (its client went away meanwhile).
 */
export function handOverLock(stateRoot: string, project: string, from: number, to: number | undefined, verb = 'compose'): boolean {
  const path = lockPath(stateRoot, project);
  const who = owner(path);
  if (who?.pid !== from) return false;
  if (to === undefined) {
    rmSync(path, { force: true });
    try { rmdirSync(join(stateRoot, '_locks')); } catch { /* other projects' locks */ }
    return true;
  }
  writeFileSync(`${path}.${process.pid}`, JSON.stringify({ pid: to, verb: who.verb ?? verb, since: who.since } satisfies LockOwner), { mode: 0o600 });
  renameSync(`${path}.${process.pid}`, path);
  return true;
}
