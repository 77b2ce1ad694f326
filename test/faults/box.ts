// Shared scaffolding of the fault tests: a private temp dir and state root per test file, the CLI
// with that root, ps --json, polling, and the leak check (cgroups, state dirs, mounts, processes)
// of a project. Everything a test creates is under its own dir and its own projects.
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { niwa, until, type CliResult } from '../helpers.js';
export { until };
import { tryRequest } from '../../src/runtime/supervisor/client.js';

export interface Box {
  dir: string;
  state: string;
  project(name: string): string;
  env(): NodeJS.ProcessEnv;
  cli(p: string, args: string[]): CliResult;
  spec(name: string, yaml: string): string;
  ps(p: string): Record<string, PsRow>;
  supervisorPid(p: string): number | undefined;
  cgroupsOf(p: string): string[];
  assertNothingLeft(p: string, pids?: (number | undefined | null)[]): Promise<void>;
  cleanup(): Promise<void>;
}
export interface PsRow { name: string; status: string; state: string; pid: number | null; id: string; supervised: boolean }

export const sh = (script: string) => `process:\n  args: [/bin/sh, -c, ${JSON.stringify(script)}]\n`;

/** True while a process exists and is not a zombie. */
export function alive(pid: number | undefined | null): boolean {
  if (!pid) return false;
  try { return !/^\S+ \(.*\) [ZX] /.test(readFileSync(`/proc/${pid}/stat`, 'utf8')); } catch { return false; }
}


/** `stateRoot`: a directory under the box's dir (default `state`), created by the caller when it is a mount point. */
export function makeBox(tag: string, opts: { tmpfsBytes?: number } = {}): Box {
  const uniq = `${process.pid.toString(36)}${Date.now().toString(36).slice(-4)}`;
  const dir = mkdtempSync(join(tmpdir(), `niwa-${tag}-test-`));
  chmodSync(dir, 0o755);
  const state = join(dir, 'state');
  mkdirSync(state);
  let mounted = false;
  if (opts.tmpfsBytes) {
    const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${opts.tmpfsBytes}`, 'tmpfs', state], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    mounted = true;
  }
  const projects = new Set<string>();
  const env = () => ({ ...process.env, NIWA_STATE_ROOT: state, NIWA_SUPERVISOR_IDLE_MS: '300' });
  const cli = (p: string, args: string[]) => niwa([args[0], '--project', p, ...args.slice(1)], { env: env() });
  const supervisorPid = (p: string) => {
    try { return JSON.parse(readFileSync(join(state, p, '_supervisor.json'), 'utf8')).pid as number; } catch { return undefined; }
  };
  const cgroupsOf = (p: string) => {
    const out: string[] = [];
    for (const r of [...readdirSync('/sys/fs/cgroup').map((c) => join('/sys/fs/cgroup', c)), '/sys/fs/cgroup']) if (existsSync(join(r, 'niwa', p))) out.push(join(r, 'niwa', p));
    return out;
  };
  return {
    dir, state, env, cli, supervisorPid, cgroupsOf,
    project(name) { const p = `${tag}-${name}-${uniq}`; projects.add(p); return p; },
    spec(name, yaml) {
      const file = join(dir, `${name}-${uniq}.container.yaml`);
      writeFileSync(file, `name: ${name}\nnamespaces: [mount, uts, ipc, pid, net]\n${yaml}`);
      return file;
    },
    ps(p) {
      const r = cli(p, ['ps', '--json']);
      assert.equal(r.status, 0, r.stderr);
      return Object.fromEntries((JSON.parse(r.stdout) as PsRow[]).map((c) => [c.name, c]));
    },
    async assertNothingLeft(p, pids = []) {
      const sup = supervisorPid(p);
      await until('the project directory to go', () => !existsSync(join(state, p)), 10_000).catch(() => undefined);
      assert.deepEqual(cgroupsOf(p), [], 'no cgroup of the project is left');
      assert.equal(existsSync(join(state, p)), false, `no state directory of the project is left: ${existsSync(join(state, p)) ? readdirSync(join(state, p)).join(' ') : ''}`);
      assert.equal(readFileSync('/proc/self/mountinfo', 'utf8').includes(join(state, p)), false, 'no mount under the state dir');
      const all = [...pids, sup];
      await until('every process to end', () => all.every((x) => !alive(x)), 5_000).catch(() => undefined);
      assert.deepEqual(all.filter((x) => alive(x)), [], 'no container, stage or supervisor process is left');
    },
    async cleanup() {
      for (const p of projects) {
        for (const name of existsSync(join(state, p)) ? readdirSync(join(state, p)).filter((n) => !n.startsWith('_')) : []) cli(p, ['rm', '-f', name]);
        await tryRequest({ root: state, project: p }, { op: 'shutdown' }).catch(() => undefined);
        const pid = supervisorPid(p);
        if (pid) try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
        for (const cg of cgroupsOf(p)) spawnSync('sh', ['-c', `find ${cg} -depth -type d -exec rmdir {} \\; 2>/dev/null`]);
      }
      if (mounted) {
        // the default root's mount point lives under the state root; make sure nothing is mounted below
        for (let i = 0; i < 20 && spawnSync('umount', [state]).status !== 0; i++) await new Promise((r) => setTimeout(r, 100));
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
