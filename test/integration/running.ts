// A container started in the background from YAML (runPlan, stdio ignored), for tests that act on
// a running container (exec, health checks, hooks). Each test file uses its own state root and
// project; `stop()` SIGKILLs the container and waits for runPlan's cleanup.
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { loadSpec } from '../../src/spec/load/index.js';
import { compile } from '../../src/plan/compile.js';
import { runPlan, type RunResult } from '../../src/runtime/launch/run.js';
import { realSys } from '../../src/runtime/sys/real.js';
import type { StageHandle } from '../../src/runtime/launch/stage.js';
import type { CanonicalSpec } from '../../src/spec/types.js';
import type { HostFacts, LaunchPlan } from '../../src/plan/types.js';

export interface Running { name: string; pid: number; spec: CanonicalSpec; plan: LaunchPlan; handle: StageHandle; done: Promise<RunResult>; stop(): Promise<void> }

export async function startContainer(dir: string, host: HostFacts, project: string, name: string, yaml: string): Promise<Running> {
  const file = join(dir, `${name}.container.yaml`);
  writeFileSync(file, `name: ${name}\n${yaml}`);
  const spec = await loadSpec(file, { hostCgroupControllers: [...host.cgroup.v2Controllers, ...Object.keys(host.cgroup.v1)] });
  const plan = compile(spec, host, { id: `${name}-${randomBytes(3).toString('hex')}`, project });
  let got!: (h: StageHandle) => void;
  const started = new Promise<StageHandle>((r) => { got = r; });
  const done = runPlan(plan, { sys: realSys, spec, stdio: 'ignore', onStarted: got });
  const handle = await Promise.race([started, done.then(() => { throw new Error(`${name} exited before it was used`); })]);
  const pid = await handle.pid;
  return { name, pid, spec, plan, handle, done, async stop() { handle.kill('SIGKILL'); await done.catch(() => undefined); } };
}

/** niwa cgroups of `project` left on the host (any hierarchy). */
export function cgroupsLeft(project: string): string[] {
  const out: string[] = [];
  for (const c of readdirSync('/sys/fs/cgroup')) {
    const p = join('/sys/fs/cgroup', c, 'niwa', project);
    if (existsSync(p)) out.push(p);
  }
  const unified = join('/sys/fs/cgroup', 'niwa', project);
  if (existsSync(unified) && !out.includes(unified)) out.push(unified);
  return out;
}
