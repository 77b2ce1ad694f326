// Runs a hook step: a TS function from a .container.ts spec (typed context) or a command.
import { spawnSync } from 'node:child_process';
import type { CanonicalSpec } from '../../spec/types.js';
import type { LaunchPlan, Step } from '../../plan/types.js';
import { RuntimeFailure } from '../../errors.js';

export async function runHook(step: Extract<Step, { op: 'hook' }>, spec: CanonicalSpec, plan: LaunchPlan, pid?: number): Promise<void> {
  const hook = spec.hooks[step.index];
  try {
    if (hook?.fn) {
      await hook.fn({ point: hook.point, name: spec.name, pid, stateDir: plan.rootDir, spec });
    } else if (step.command?.length) {
      const r = spawnSync(step.command[0], step.command.slice(1), {
        stdio: ['ignore', 'inherit', 'inherit'],
        timeout: (hook?.timeout ?? 30) * 1000,
        env: { ...process.env, NIWA_CONTAINER: spec.name, NIWA_HOOK: step.point, ...(pid ? { NIWA_PID: String(pid) } : {}) },
      });
      if (r.error) throw r.error;
      if (r.status !== 0) throw new Error(`exited with ${r.status ?? r.signal}`);
    }
  } catch (e) {
    if (step.optional) return;
    throw new RuntimeFailure('E_HOOK', `hook ${step.point}[${step.index}] failed: ${(e as Error).message}`, { cause: e, field: step.field, hint: 'mark the hook optional: true if its failure should not stop the container' });
  }
}
