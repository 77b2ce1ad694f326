// `niwa build [-t NAME[:TAG]]... [-f Dockerfile] [--build-arg K=V]... [--target STAGE] [--no-cache] [CONTEXT]`:
// build an image from a Dockerfile into the image store. Progress (each step, cached or run, and its
// time) goes to stderr as plain lines, RUN output too; the image digest alone goes to stdout.
import type { Verb } from './main.js';
import { parseArgs } from './args.js';
import { UserError } from '../errors.js';
import type { BuildEvent } from '../build/execute.js';

/** K=V list (--build-arg); a bare K takes the value from the environment, as docker build does. */
export function buildArgList(list: string[], env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const out: Record<string, string> = {};
  for (const a of list) {
    const i = a.indexOf('=');
    if (i === 0) throw new UserError('E_USAGE', `--build-arg ${a}: expected NAME=VALUE`);
    if (i < 0) { if (env[a] !== undefined) out[a] = env[a]!; } else out[a.slice(0, i)] = a.slice(i + 1);
  }
  return out;
}

const secs = (ms: number) => `${(ms / 1000).toFixed(2)}s`;

/** Plain lines for build events (the live view and --json read the same events). */
export function plainBuildReporter(write: (s: string) => void = (s) => process.stderr.write(s)): (e: BuildEvent) => void {
  return (e) => {
    if (e.type === 'stage') write(`[${e.stage}] FROM ${e.base}\n`);
    else if (e.type === 'warning') write(`warning: ${e.message}\n`);
    else if (e.type === 'step') {
      if (e.state === 'running') write(`[${e.stage} ${e.n}/${e.total}] ${e.text}\n`);
      else if (e.state === 'cached') write(`[${e.stage} ${e.n}/${e.total}] CACHED ${e.text}\n`);
      else if (e.state === 'done') write(`[${e.stage} ${e.n}/${e.total}] done in ${secs(e.ms ?? 0)}${e.layer ? ` → layer ${e.layer.slice(7, 19)}` : ' (no change)'}\n`);
      else write(`[${e.stage} ${e.n}/${e.total}] ${e.text}\n`);
    } else if (e.type === 'done') {
      write(`built ${e.digest}${e.names.length ? ` as ${e.names.join(', ')}` : ''}: ${e.layers} layer${e.layers === 1 ? '' : 's'}, ${e.ran} step${e.ran === 1 ? '' : 's'} run, ${e.cached} cached, ${secs(e.ms)}\n`);
    }
  };
}

export const verb: Verb = {
  summary: 'build an image from a Dockerfile (cached layers) into the image store',
  usage: 'niwa build [-t NAME[:TAG]]... [-f Dockerfile] [--build-arg K=V]... [--target STAGE] [--no-cache] [-q] [--json] [CONTEXT]\n\n  CONTEXT        the directory COPY and ADD read from (default .); .dockerignore in it is honoured\n  -t, --tag      name the result (repeatable)\n  -f, --file     the Dockerfile (default CONTEXT/Dockerfile)\n  --build-arg    K=V for an ARG (repeatable; a bare K takes $K)\n  --target       build up to this stage\n  --no-cache     run every step again (the results still fill the cache)\n  --dry-run      print the build plan (stages and steps) and build nothing\n  -q, --quiet    no progress, only the digest\n  --json         one JSON build event per line on stdout',
  async run(argv) {
    const a = parseArgs(argv, { values: { tag: 't', file: 'f', 'build-arg': '', target: '' }, booleans: { 'no-cache': '', quiet: 'q', json: '', 'dry-run': '' }, repeat: ['tag', 'build-arg'] }, 'build');
    if (a.positionals.length > 1) throw new UserError('E_USAGE', 'build: expected at most one CONTEXT directory', [], 'usage: niwa build [-t NAME] [CONTEXT]');
    const [{ buildImage, loadBuild }, { probeHost }, { parseRef }] = await Promise.all([import('../build/index.js'), import('../validate/host.js'), import('../image/reference.js')]);
    const tags = (a.flags.tag as string[] | undefined) ?? [];
    for (const t of tags) parseRef(t); // a bad name is refused before anything runs
    const req = {
      context: a.positionals[0] ?? '.',
      dockerfile: a.flags.file ? String(a.flags.file) : undefined,
      tags,
      buildArgs: buildArgList((a.flags['build-arg'] as string[] | undefined) ?? []),
      target: a.flags.target ? String(a.flags.target) : undefined,
      noCache: Boolean(a.flags['no-cache']),
    };
    if (a.flags['dry-run']) {
      const { formatBuildPlan } = await import('../build/plan.js');
      process.stdout.write(formatBuildPlan(loadBuild(req).plan).join('\n') + '\n');
      return 0;
    }
    const json = Boolean(a.flags.json);
    const quiet = Boolean(a.flags.quiet);
    const onEvent = json ? (e: BuildEvent) => process.stdout.write(JSON.stringify(e) + '\n') : quiet ? undefined : plainBuildReporter();
    const progress = quiet || json ? undefined : (await import('./pull-progress.js')).stderrPullReporter();
    try {
      const img = await buildImage(req, { host: probeHost(), onEvent, onPull: progress?.onEvent, stdio: quiet || json ? ['ignore', 'ignore', 2] : ['ignore', 2, 2] });
      if (!json) process.stdout.write(img.digest + '\n');
    } finally {
      progress?.finish();
    }
    return 0;
  },
};
