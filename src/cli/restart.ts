// `niwa restart [-t SECS] NAME...`: stop, remove and run again from the stored spec.
import type { Verb } from './main.js';
import { parseArgs } from './args.js';
import { UserError } from '../errors.js';
import { TARGET_FLAGS, TARGET_USAGE, eachName, namesOf, targetOf } from './target.js';
import { restartContainer } from '../runtime/supervisor/restart-container.js';

const USAGE = 'niwa restart [-t|--time SECS] NAME...';

export const verb: Verb = {
  summary: 'restart containers: stop (stop signal, then SIGKILL), then run again from the same spec',
  usage: `${USAGE}\n\n  -t SECS   grace period before SIGKILL (default: the spec's stop_grace_period)\n${TARGET_USAGE}`,
  async run(argv) {
    const a = parseArgs(argv, { values: { ...TARGET_FLAGS, time: 't' } }, 'restart');
    const names = namesOf(a.positionals, 'restart', USAGE);
    const t = targetOf(a.flags, 'restart');
    const secs = a.flags.time === undefined ? undefined : Number(a.flags.time);
    if (secs !== undefined && !(secs >= 0)) throw new UserError('E_USAGE', `restart: -t expects seconds, got '${a.flags.time}'`);
    return eachName(names, async (name) => {
      const r = await restartContainer(t, name, secs === undefined ? undefined : Math.round(secs * 1000));
      process.stdout.write(`${name} ${r.id}\n`);
    });
  },
};
