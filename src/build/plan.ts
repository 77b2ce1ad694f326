// The build plan (pure): a Dockerfile's instructions (or a spec's provision steps) → stages, which
// of them the target needs and in what order, the global ARGs resolved for the FROM lines, and the
// cache key of each step. Nothing here reads the host: the executor (execute.ts) resolves base
// images, hashes COPY sources and runs RUN steps as launch plans, keying each result with `stepKey`.
import { createHash } from 'node:crypto';
import { UserError, type ErrorDetail } from '../errors.js';
import type { DockerInstruction } from './dockerfile.js';
import { expandVars, unquote, type Vars } from './expand.js';

/** Docker's predefined ARGs: usable without an ARG line, and left out of the cache key when unset. */
export const PREDEFINED_ARGS = ['HTTP_PROXY', 'http_proxy', 'HTTPS_PROXY', 'https_proxy', 'FTP_PROXY', 'ftp_proxy', 'NO_PROXY', 'no_proxy', 'ALL_PROXY', 'all_proxy'];

export interface PlanStage {
  index: number;
  /** `AS name`, lowercased as Docker does. */
  name?: string;
  /** The FROM line, after expanding the global ARGs. */
  base: { kind: 'scratch' } | { kind: 'stage'; stage: number } | { kind: 'image'; ref: string };
  from: DockerInstruction;
  /** The instructions after FROM, in order. */
  steps: DockerInstruction[];
  /** Stages this one reads (its base, COPY --from). */
  needs: number[];
}

export interface BuildPlan {
  file: string;
  stages: PlanStage[];
  /** The stage that becomes the image. */
  target: number;
  /** Stages to build, each after the ones it needs. */
  order: number[];
  /** Global ARGs (before the first FROM) with their values after --build-arg. */
  globals: Vars;
  buildArgs: Record<string, string>;
  /** --build-arg names no ARG declares (Docker warns about them too). */
  unusedArgs: string[];
}

export interface PlanOptions {
  buildArgs?: Record<string, string>;
  /** Stage name (or index) to stop at; default the last stage. */
  target?: string;
}

const err = (file: string, i: Pick<DockerInstruction, 'line' | 'col'>, message: string, hint?: string): ErrorDetail => ({ file, line: i.line, col: i.col, message, ...(hint ? { hint } : {}) });

/** ARG lines → [name, default?] (an ARG may declare several). */
export function argDecls(i: DockerInstruction): [string, string | undefined][] {
  return (i.props ?? []).map(([k, v]) => [k, v]);
}

export function compileBuild(instrs: DockerInstruction[], file: string, opts: PlanOptions = {}): BuildPlan {
  const buildArgs = opts.buildArgs ?? {};
  const problems: ErrorDetail[] = [];
  const declared = new Set<string>();
  const globals: Vars = {};
  let k = 0;
  for (; k < instrs.length && instrs[k].keyword !== 'FROM'; k++) {
    for (const [name, def] of argDecls(instrs[k])) {
      declared.add(name);
      globals[name] = name in buildArgs ? buildArgs[name] : def === undefined ? undefined : expandVars(def, globals);
    }
  }
  const stages: PlanStage[] = [];
  for (; k < instrs.length; k++) {
    const i = instrs[k];
    if (i.keyword === 'FROM') {
      const words = i.words.map((w) => unquote(expandVars(w, globals)));
      let name: string | undefined;
      if (words.length === 3 && words[1].toUpperCase() === 'AS') name = words[2].toLowerCase();
      else if (words.length !== 1) problems.push(err(file, i, `FROM takes IMAGE [AS NAME], not ${JSON.stringify(i.args)}`));
      if (name && !/^[a-z][a-z0-9_.-]*$/.test(name)) problems.push(err(file, i, `invalid stage name ${JSON.stringify(name)}`, 'stage names start with a letter: letters, digits, _ . -'));
      if (name && stages.some((s) => s.name === name)) problems.push(err(file, i, `stage name ${name} is used twice`));
      const ref = words[0] ?? '';
      const byName = stages.find((s) => s.name === ref.toLowerCase());
      const base: PlanStage['base'] = ref.toLowerCase() === 'scratch' ? { kind: 'scratch' } : byName ? { kind: 'stage', stage: byName.index } : { kind: 'image', ref };
      if (!ref) problems.push(err(file, i, 'FROM names no image (an ARG it uses is empty?)', 'give the ARG a default or pass --build-arg'));
      if (i.flags.platform) problems.push(err(file, i, 'FROM --platform is not supported by niwa build yet', 'build for the host\'s platform (omit --platform)'));
      stages.push({ index: stages.length, name, base, from: i, steps: [], needs: base.kind === 'stage' ? [base.stage] : [] });
      continue;
    }
    const st = stages[stages.length - 1];
    if (i.keyword === 'ARG') argDecls(i).forEach(([n]) => declared.add(n));
    if ((i.keyword === 'COPY') && i.flags.from) {
      const from = expandVars(i.flags.from, globals).toLowerCase();
      const byName = stages.find((s) => s.name === from) ?? (/^\d+$/.test(from) ? stages[Number(from)] : undefined);
      if (byName && byName.index >= st.index) problems.push(err(file, i, `COPY --from=${from} names this stage or a later one`));
      else if (byName) st.needs.push(byName.index);
      else if (/^\d+$/.test(from)) problems.push(err(file, i, `COPY --from=${from}: there is no stage ${from} before this one`));
      // else: an image reference, resolved by the executor
    }
    st.steps.push(i);
  }
  let target = stages.length - 1;
  if (opts.target !== undefined) {
    const t = stages.find((s) => s.name === opts.target!.toLowerCase()) ?? (/^\d+$/.test(opts.target) ? stages[Number(opts.target)] : undefined);
    if (!t) problems.push({ file, message: `--target ${opts.target}: no such stage`, hint: stages.some((s) => s.name) ? `stages: ${stages.filter((s) => s.name).map((s) => s.name).join(', ')}` : 'name stages with FROM IMAGE AS NAME' });
    else target = t.index;
  }
  if (problems.length) throw new UserError('E_DOCKERFILE', `${file}: ${problems.length === 1 ? problems[0].message : `${problems.length} problems`}`, problems);
  // the target and what it needs, dependencies first
  const order: number[] = [];
  const visit = (n: number) => {
    if (order.includes(n)) return;
    for (const d of stages[n].needs) visit(d);
    order.push(n);
  };
  visit(target);
  const unusedArgs = Object.keys(buildArgs).filter((a) => !declared.has(a) && !PREDEFINED_ARGS.includes(a));
  return { file, stages, target, order, globals, buildArgs, unusedArgs };
}

/**
 * The cache key of a step: its parent's key, the instruction after expansion and the digests of its
 * inputs (COPY/ADD sources, the build args a RUN sees). Equal keys mean equal results, so the layer
 * stored under a key is reused without running anything.
 */
export function stepKey(parent: string, instruction: string, inputs: Record<string, string> = {}): string {
  const h = createHash('sha256');
  h.update(`niwa-build-v1\0${parent}\0${instruction}\0`);
  for (const k of Object.keys(inputs).sort()) h.update(`${k}=${inputs[k]}\0`);
  return 'sha256:' + h.digest('hex');
}

/** One line per stage and step, for `niwa build --dry-run` and `niwa plan` of a provisioned spec. */
export function formatBuildPlan(p: BuildPlan): string[] {
  const lines: string[] = [];
  for (const n of p.order) {
    const s = p.stages[n];
    const base = s.base.kind === 'scratch' ? 'scratch (empty)' : s.base.kind === 'stage' ? `stage ${p.stages[s.base.stage].name ?? s.base.stage}` : s.base.ref;
    lines.push(`stage ${s.name ?? n}${n === p.target ? ' (target)' : ''}: FROM ${base}${s.from.line ? `   [${p.file}:${s.from.line}]` : ''}`);
    s.steps.forEach((i, k) => {
      const what = i.keyword === 'RUN' ? 'a container on the layers so far; its writes become a layer'
        : i.keyword === 'COPY' || i.keyword === 'ADD' ? 'files from the context become a layer'
          : 'image config only (no layer)';
      lines.push(`  ${String(k + 1).padStart(2)}. ${i.text}   [line ${i.line}: ${what}]`);
    });
  }
  return lines;
}
