// `niwa run [OPTIONS] [SPEC | IMAGE] [-- CMD...]`: run a container in the foreground (or -d under the
// project's supervisor); exit with its status. Docker's options are in run-flags.ts.
import { randomBytes } from 'node:crypto';
import type { Verb } from './main.js';
import { parseArgs } from './args.js';
import { RUN_OPTIONS_USAGE, overridesOf, runArgSpec, runSource } from './run-flags.js';
import { checkName } from '../spec/names.js';
import { loadChecked, pullFlag } from './spec.js';
import { compile } from '../plan/compile.js';
import { probeHost } from '../validate/host.js';
import { runPlan, DEFAULT_FORWARD } from '../runtime/launch/run.js';
import { realSys } from '../runtime/sys/real.js';
import { oomKilled } from '../runtime/cgroup/stats.js';
import { plainReporter } from '../ui/plain.js';
import { registerForeground } from '../runtime/foreground.js';
import { netFactsFor, whileStale } from '../runtime/net/facts.js';

export const verb: Verb = {
  summary: 'run a container from a spec, an image or the default root; its exit status becomes niwa\'s (128+N for a signal)',
  usage: [
    'niwa run [OPTIONS] [SPEC | IMAGE] [-- CMD ARGS...]',
    '',
    '  SPEC          a spec file (.yaml/.yml/.json/.ts, or any existing file); IMAGE: an image reference',
    '                (rootfs {image}); neither: the embedded default root (give a command after --)',
    '  -- CMD...     run CMD instead of process.args (and instead of an image\'s Cmd)',
    '  -d            run in the background under the project\'s supervisor; print the container id',
    '  --project P   the project the container belongs to (default: default)',
    '  -q, --quiet   no pull progress',
    '  --verbose     print each launch step as it happens (to stderr)',
    '  --state-root  where containers keep state (default: $NIWA_STATE_ROOT or /run/niwa)',
    '  --step        pause at each phase (before prepare, after clone, before/after the root switch, before execve,',
    '                after cleanup): what changed and how to look at it; Enter goes on',
    '',
    RUN_OPTIONS_USAGE,
    '',
    'Exit status: the container\'s (128+N when killed by signal N); 125 when niwa itself fails (usage,',
    'invalid spec, setup), 126 when the command cannot be executed, 127 when it is not found.',
  ].join('\n'),
  passesStatus: true,
  async run(argv) {
    const opts = argv.indexOf('--') < 0 ? argv : argv.slice(0, argv.indexOf('--'));
    if (opts.includes('--quiz')) return (await import('./quiz.js')).runQuiz(argv); // predict, then run (src/cli/quiz.ts)
    const a = parseArgs(argv, runArgSpec({ project: '', 'state-root': '' }, { verbose: '', detach: 'd', step: '', quiet: 'q' }), 'run');
    const source = runSource(a, 'run');
    const host = probeHost(a.flags['state-root'] ? { stateRoot: String(a.flags['state-root']) } : {});
    const overrides = overridesOf(a);
    // A one-off without --name gets a name of its own, so two of them can run side by side.
    if (source.kind === 'inline' && overrides.name === undefined) overrides.name = `${source.spec.name}-${randomBytes(2).toString('hex')}`;
    const spec = await loadChecked(source.kind === 'file' ? source.file : { inline: source.spec }, host, { pull: pullFlag(a.flags.pull), quiet: Boolean(a.flags.quiet), overrides });
    const project = checkName(String(a.flags.project ?? 'default'), 'project name (--project)', 'run');
    const id = `${spec.name}-${randomBytes(4).toString('hex')}`;
    const stepper = a.flags.step ? (await import('../runtime/launch/step.js')).addStepPauses(spec) : undefined;
    // A bridge network's plan is decided against the lease database: when another niwa took its address
    // meanwhile (E_PLAN_STALE, nothing of this container made), it is compiled again and the new plan runs.
    return whileStale(async () => {
      const plan = compile(spec, host, { id, project, ...netFactsFor(spec, host.stateRoot) });
      stepper?.setPlan(plan);
      if (a.flags.detach) {
        // --rm: the supervisor removes the container once it has ended for good (no restart to come)
        if (a.flags.rm) spec.annotations = { ...spec.annotations, 'niwa.autoremove': 'true' };
        return (await import('./run-detached.js')).runDetached(plan, spec, host);
      }
      // Registered like a supervised container, so ps/exec/stop/kill/rm work from another terminal.
      const reg = registerForeground(host.stateRoot, plan, spec);
      const r = await runPlan(plan, {
        ports: reg.ports,
        sys: realSys,
        spec,
        // stdin only with -i, as Docker does (or with a terminal: -t, the spec's process.tty), else /dev/null
        stdio: a.flags.interactive || a.flags.tty || plan.tty ? (stepper?.stdio ?? 'inherit') : ['ignore', 'inherit', 'inherit'],
        forwardSignals: DEFAULT_FORWARD,
        emit: plainReporter({ verbose: Boolean(a.flags.verbose), plan }),
        oomCheck: (p) => oomKilled(p.cgroups, host.cgroup),
        onStarted: (h) => { void h.pid.then((pid) => reg.started(pid, h.process.pid)); },
      }).finally(() => { reg.done(); });
      if (r.oomKilled) process.stderr.write(`niwa: container '${spec.name}' was killed by the OOM killer (cgroup memory limit ${spec.cgroup.memory ?? '?'} bytes)\n`);
      return r.status;
    }).finally(() => stepper?.close());
  },
};
// --quiz is handled by src/cli/quiz.ts before the options above are parsed.
verb.usage += '\n  --quiz        predict, then run: shows the container and its command, asks what it will print,\n                runs it and compares';
