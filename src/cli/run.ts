// `niwa run SPEC [-- CMD...]`: run a container in the foreground; exit with its status.
import { randomBytes } from 'node:crypto';
import type { Verb } from './main.js';
import { parseArgs } from './args.js';
import { UserError } from '../errors.js';
import { checkName } from '../spec/names.js';
import { loadChecked, pullFlag } from './spec.js';
import { compile } from '../plan/compile.js';
import { probeHost } from '../validate/host.js';
import { runPlan, DEFAULT_FORWARD } from '../runtime/launch/run.js';
import { realSys } from '../runtime/sys/real.js';
import { oomKilled } from '../runtime/cgroup/stats.js';
import { plainReporter } from '../ui/plain.js';
import { registerForeground } from '../runtime/foreground.js';

export const verb: Verb = {
  summary: 'run a container from a spec in the foreground; its exit status becomes niwa\'s (128+N for a signal)',
  usage: 'niwa run SPEC [-d|--detach] [--name NAME] [--project NAME] [-v|--verbose] [-- CMD ARGS...]\n\n  -- CMD...     run CMD instead of process.args (and instead of an image\'s Entrypoint + Cmd)\n  --pull WHEN   missing (default), always or never: when to pull rootfs.image\n  -q, --quiet   no pull progress\n  --verbose     print each launch step as it happens (to stderr)\n  -d            run in the background under the project\'s supervisor; print the container id\n  --state-root  where detached containers keep state (default: $NIWA_STATE_ROOT or /run/niwa)\n  --step        pause at each phase (before prepare, after clone, before/after the root switch, before execve,\n                after cleanup): what changed and how to look at it; Enter goes on',
  async run(argv) {
    const opts = argv.indexOf('--') < 0 ? argv : argv.slice(0, argv.indexOf('--'));
    if (opts.includes('--quiz')) return (await import('./quiz.js')).runQuiz(argv); // predict, then run (src/cli/quiz.ts)
    const a = parseArgs(argv, { values: { name: '', project: '', 'state-root': '', pull: '' }, booleans: { verbose: 'v', detach: 'd', step: '', quiet: 'q' } }, 'run');
    if (a.positionals.length !== 1) throw new UserError('E_USAGE', 'run: expected exactly one SPEC file', [], 'usage: niwa run SPEC [-- CMD...]');
    const host = probeHost(a.flags['state-root'] ? { stateRoot: String(a.flags['state-root']) } : {});
    const spec = await loadChecked(a.positionals[0], host, { pull: pullFlag(a.flags.pull), quiet: Boolean(a.flags.quiet) });
    if (a.rest.length) spec.process.args = a.rest;
    if (a.flags.name) spec.name = checkName(String(a.flags.name), 'container name (--name)', 'run');
    const project = checkName(String(a.flags.project ?? 'default'), 'project name (--project)', 'run');
    const id = `${spec.name}-${randomBytes(4).toString('hex')}`;
    const stepper = a.flags.step ? (await import('../runtime/launch/step.js')).addStepPauses(spec) : undefined;
    const plan = compile(spec, host, { id, project });
    stepper?.setPlan(plan);
    if (a.flags.detach) return (await import('./run-detached.js')).runDetached(plan, spec, host);
    // Registered like a supervised container, so ps/exec/stop/kill/rm work from another terminal.
    const reg = registerForeground(host.stateRoot, plan, spec);
    const r = await runPlan(plan, {
      sys: realSys,
      spec,
      stdio: stepper?.stdio ?? 'inherit',
      forwardSignals: DEFAULT_FORWARD,
      emit: plainReporter({ verbose: Boolean(a.flags.verbose), plan }),
      oomCheck: (p) => oomKilled(p.cgroups, host.cgroup),
      onStarted: (h) => { void h.pid.then((pid) => reg.started(pid, h.process.pid)); },
    }).finally(() => { stepper?.close(); reg.done(); });
    if (r.oomKilled) process.stderr.write(`niwa: container '${spec.name}' was killed by the OOM killer (cgroup memory limit ${spec.cgroup.memory ?? '?'} bytes)\n`);
    return r.status;
  },
};
// --quiz is handled by src/cli/quiz.ts before the options above are parsed.
verb.usage += '\n  --quiz        predict, then run: shows the container and its command, asks what it will print,\n                runs it and compares';
