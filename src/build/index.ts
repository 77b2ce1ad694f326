// The builder's one entry point: a context directory and a Dockerfile (or provision steps) →
// parse → build plan → execute into the image store. `niwa build`, `niwa compose build`, compose's
// `build:` services and provisioned specs all come through `buildImage`.
import * as fs from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { UserError } from '../errors.js';
import type { PullEvent, StoredImage } from '../image/types.js';
import type { HostFacts } from '../plan/types.js';
import type { StageStdio } from '../runtime/launch/stage.js';
import { parseDockerfile, type DockerInstruction } from './dockerfile.js';
import type { BuildEvent } from './execute.js';
import { compileBuild, type BuildPlan } from './plan.js';
import { readIgnoreFile } from './sources.js';

export type { BuildEvent } from './execute.js';

export interface BuildRequest {
  /** Context directory. */
  context: string;
  /** Dockerfile path (relative to the context; default Dockerfile), or its text. */
  dockerfile?: string;
  dockerfileText?: string;
  /** Instructions given directly (provisioned specs) instead of a Dockerfile, and what to call them in messages. */
  instructions?: DockerInstruction[];
  source?: string;
  /** Names for the result (-t); canonicalised. */
  tags?: string[];
  buildArgs?: Record<string, string>;
  target?: string;
  noCache?: boolean;
  /** Extra labels (compose build.labels). */
  labels?: Record<string, string>;
}

export interface BuildEnv {
  host: HostFacts;
  /** Data root (default host.dataRoot or $NIWA_DATA_ROOT). */
  dataRoot?: string;
  onEvent?: (e: BuildEvent) => void;
  onPull?: (e: PullEvent) => void;
  stdio?: StageStdio;
}

/** Reads the Dockerfile and .dockerignore and compiles the build plan (pure after reading). */
export function loadBuild(req: BuildRequest): { plan: BuildPlan; ignore: string[]; context: string } {
  const context = resolve(req.context);
  if (!fs.existsSync(context) || !fs.statSync(context).isDirectory()) throw new UserError('E_BUILD_CONTEXT', `build context ${req.context} is not a directory`, [], 'give the directory holding the Dockerfile and the files it copies');
  let file = req.source ?? '<provision>';
  let instrs = req.instructions;
  if (!instrs) {
    file = req.dockerfile ? (isAbsolute(req.dockerfile) ? req.dockerfile : join(context, req.dockerfile)) : join(context, 'Dockerfile');
    let text = req.dockerfileText;
    if (text === undefined) {
      try { text = fs.readFileSync(file, 'utf8'); } catch {
        throw new UserError('E_BUILD_DOCKERFILE', `cannot read ${file}`, [], req.dockerfile ? 'check the -f path (relative to the context directory)' : 'put a Dockerfile in the context directory, or name it with -f');
      }
    }
    instrs = parseDockerfile(text, file);
  }
  if (req.labels && Object.keys(req.labels).length) {
    instrs = [...instrs, { keyword: 'LABEL', line: 0, col: 0, args: '', words: [], flags: {}, props: Object.entries(req.labels), text: `LABEL ${Object.entries(req.labels).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(' ')}` }];
  }
  const plan = compileBuild(instrs, file, { buildArgs: req.buildArgs, target: req.target });
  // Docker reads <Dockerfile>.dockerignore first when it exists, else the context's .dockerignore
  const specific = req.instructions ? '' : `${file}.dockerignore`;
  const ignore = readIgnoreFile(specific && fs.existsSync(specific) ? specific : join(context, '.dockerignore'));
  return { plan, ignore, context };
}

/** Builds an image into the store and names it; returns the stored image. */
export async function buildImage(req: BuildRequest, env: BuildEnv): Promise<StoredImage> {
  const { plan, ignore, context } = loadBuild(req);
  for (const a of plan.unusedArgs) env.onEvent?.({ type: 'warning', message: `--build-arg ${a} is not used by any ARG of ${plan.file}` });
  const [{ openStore }, { dataRoot }, { executeBuild }, { realSys, prepareNative }] = await Promise.all([
    import('../image/store.js'), import('../image/types.js'), import('./execute.js'), import('../runtime/sys/real.js'),
  ]);
  await prepareNative();
  const store = openStore(env.dataRoot ?? env.host.dataRoot ?? dataRoot());
  const isOpaque = (dir: string) => {
    try { return realSys.lgetxattr(dir, 'trusted.overlay.opaque')?.toString() === 'y'; } catch { return false; }
  };
  return executeBuild(plan, {
    store, host: env.host, sys: realSys, context, ignore, names: req.tags ?? [], noCache: req.noCache,
    stdio: env.stdio, onEvent: env.onEvent, onPull: env.onPull, isOpaque,
  });
}
