// A RUN step is a niwa container: a spec on the stage's layers so far (an overlay with a fresh
// upper dir, exactly as `niwa run` of an image), the image's Env, User and WorkingDir, the build args
// in scope as environment, and the host's network (Docker's build default is a network; niwa uses the
// host's network namespace, so no bridge or veth is made per step; `RUN --network=none` gets a new
// empty one). The spec is compiled into a launch plan and run like any other; the one change to that
// plan is that its cleanup keeps the upper dir: the build commits it as a layer (layer.ts), then
// removes the container's directory itself. Whatever happens, nothing of the step is left behind.
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import type { ImageView } from '../image/apply.js';
import type { ImageRuntimeConfig } from '../image/types.js';
import { readMerged } from '../image/view.js';
import { compile } from '../plan/compile.js';
import type { HostFacts, LaunchPlan } from '../plan/types.js';
import { containerDataDir } from '../plan/steps/image.js';
import { runPlan } from '../runtime/launch/run.js';
import type { StageStdio } from '../runtime/launch/stage.js';
import type { Sys } from '../runtime/sys/types.js';
import { loadSpecObject } from '../spec/load/index.js';
import type { ContainerSpec } from '../spec/types.js';

export const BUILD_PROJECT = 'niwa-build';

export interface RunStepInput {
  /** Unpacked layer dirs, bottom first. */
  layers: string[];
  /** The stage's config so far (Env, User, WorkingDir are used). */
  config: ImageRuntimeConfig;
  argv: string[];
  /** Build args in scope (added to the environment, not kept in the image). */
  args: Record<string, string>;
  network: 'default' | 'host' | 'none';
  /** For the container's name and messages. */
  label: string;
}

export interface RunStepResult {
  status: number;
  /** The container's directory (upper dir inside); the caller commits, then removes it. */
  dir: string;
  plan: LaunchPlan;
  /** A signal to niwa stopped the step. */
  interrupted: boolean;
}

/** The spec a RUN step runs (pure; exported for tests and `niwa build --dry-run`). */
export function runStepSpec(input: RunStepInput, name: string): ContainerSpec {
  const env: Record<string, string> = {};
  const imageEnv = new Set((input.config.Env ?? []).map((e) => e.split('=')[0]));
  for (const [k, v] of Object.entries(input.args)) if (!imageEnv.has(k)) env[k] = v; // ENV wins over ARG, as in Docker
  return {
    name,
    rootfs: { image: 'niwa-build-step', pull: 'never' },
    namespaces: input.network === 'none' ? ['mount', 'uts', 'ipc', 'pid', 'net'] : ['mount', 'uts', 'ipc', 'pid'],
    hostname: name,
    process: { args: input.argv, ...(Object.keys(env).length ? { env } : {}) },
    mounts: input.network === 'none' || !fs.existsSync('/etc/resolv.conf') ? [] : [{ type: 'bind', source: '/etc/resolv.conf', target: '/etc/resolv.conf', readonly: true }],
  } as ContainerSpec;
}

/** Runs one RUN step; the upper dir stays for the commit (see the top of this file). */
export async function runStep(input: RunStepInput, ctx: { host: HostFacts; sys: Sys; stdio: StageStdio; isOpaque: (d: string) => boolean }): Promise<RunStepResult> {
  const name = `build-${randomBytes(4).toString('hex')}`;
  const view: ImageView = {
    name: input.label,
    digest: 'sha256:' + '0'.repeat(64),
    // only what a RUN uses: no Entrypoint/Cmd (RUN gives the command), no Volumes or Healthcheck
    config: { Env: input.config.Env, User: input.config.User, WorkingDir: input.config.WorkingDir },
    layers: input.layers,
    readFile: (p) => readMerged(input.layers, p, ctx.isOpaque),
  };
  const spec = await loadSpecObject(runStepSpec(input, name), '<inline>', { image: async () => view });
  const plan = compile(spec, ctx.host, { id: name, project: BUILD_PROJECT });
  const dir = containerDataDir(ctx.host, BUILD_PROJECT, name);
  // keep the upper dir past the container's cleanup: the build plan's commit step takes it, then removes the rest
  plan.steps = plan.steps.map((s) => (s.phase === 'cleanup' && s.op === 'rmtree' && s.path === dir
    ? { ...s, path: `${dir}/work`, why: 'remove the overlay work dir; the upper dir stays for the build\'s commit step, which turns it into a layer and then removes the container\'s directory' }
    : s));
  // Ctrl-C or SIGTERM while a step runs: the step is killed (a shell as PID 1 ignores both), the
  // build then fails as for any RUN that dies, and everything is cleaned up before niwa exits.
  let kill: (() => void) | undefined;
  let interrupted = false;
  const onSignal = () => { interrupted = true; kill?.(); };
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  for (const sg of signals) process.on(sg, onSignal);
  try {
    const r = await runPlan(plan, { sys: ctx.sys, spec, stdio: ctx.stdio, onStarted: (h) => { kill = () => { h.kill('SIGKILL'); }; if (interrupted) kill(); } });
    return { status: r.status, dir, plan, interrupted };
  } catch (e) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw e;
  } finally {
    for (const sg of signals) process.off(sg, onSignal);
  }
}
