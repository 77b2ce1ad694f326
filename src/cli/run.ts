// `niwa run SPEC [-- CMD...]`: run a container in the foreground; exit with its status.
import { randomBytes } from 'node:crypto';
import type { Verb } from './main.js';
import { parseArgs } from './args.js';
import { UserError } from '../errors.js';
import { loadChecked } from './spec.js';
import { compile } from '../plan/compile.js';
import { probeHost } from '../validate/host.js';
import { runPlan, DEFAULT_FORWARD } from '../runtime/launch/run.js';
import { realSys } from '../runtime/sys/real.js';
import { oomKilled } from '../runtime/cgroup/stats.js';
import { plainReporter } from './reporter.js';

export const verb: Verb = {
  summary: 'run a container from a spec in the foreground; its exit status becomes niwa\'s (128+N for a signal)',
  usage: 'niwa run SPEC [--name NAME] [--project NAME] [-v|--verbose] [-- CMD ARGS...]\n\n  -- CMD...     run CMD instead of process.args\n  --verbose     print each launch step as it happens (to stderr)',
  async run(argv) {
    const a = parseArgs(argv, { values: { name: '', project: '' }, booleans: { verbose: 'v' } }, 'run');
    if (a.positionals.length !== 1) throw new UserError('E_USAGE', 'run: expected exactly one SPEC file', [], 'usage: niwa run SPEC [-- CMD...]');
    const host = probeHost();
    const spec = await loadChecked(a.positionals[0], host);
    if (a.rest.length) spec.process.args = a.rest;
    if (a.flags.name) spec.name = String(a.flags.name);
    const id = `${spec.name}-${randomBytes(4).toString('hex')}`;
    const plan = compile(spec, host, { id, project: String(a.flags.project ?? 'default') });
    const r = await runPlan(plan, {
      sys: realSys,
      spec,
      stdio: 'inherit',
      forwardSignals: DEFAULT_FORWARD,
      emit: plainReporter({ verbose: Boolean(a.flags.verbose), plan }),
      oomCheck: (p) => oomKilled(p.cgroups, host.cgroup),
    });
    if (r.oomKilled) process.stderr.write(`niwa: container '${spec.name}' was killed by the OOM killer (cgroup memory limit ${spec.cgroup.memory ?? '?'} bytes)\n`);
    return r.status;
  },
};
