// `niwa restart [-t SECS] NAME...`: stop, remove and run again from the stored spec.
import type { Verb } from './main.js';
import { parseArgs } from './args.js';
import { TARGET_FLAGS, TARGET_USAGE, eachName, graceMsOf, namesOf, targetOf } from './target.js';
import { restartContainer } from '../runtime/supervisor/restart-container.js';

const USAGE = 'niwa restart [-t|--time SECS] NAME...';

export const verb: Verb = {
  summary: 'restart containers: stop (stop signal, then SIGKILL), then run again from the same spec',
  usage: `${USAGE}\n\n  -t SECS   grace period before SIGKILL (default: the spec's stop_grace_period)\n${TARGET_USAGE}`,
  async run(argv) {
    const a = parseArgs(argv, { values: { ...TARGET_FLAGS, time: 't' } }, 'restart');
    const names = namesOf(a.positionals, 'restart', USAGE);
    const t = targetOf(a.flags, 'restart');
    const timeoutMs = graceMsOf(a.flags, 'restart');
    return eachName(names, async (name) => {
      const r = await restartContainer(t, name, timeoutMs);
      process.stdout.write(`${name} ${r.id}\n`);
    });
  },
};
