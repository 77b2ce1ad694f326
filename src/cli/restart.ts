// `niwa restart [-t SECS] NAME...`: stop, remove and run again from the stored spec.
import type { Verb } from './main.js';
import { parseArgs } from './args.js';
import { TARGET_FLAGS, TARGET_USAGE, eachContainer, graceMsOf } from './target.js';
import { restartContainer } from '../runtime/supervisor/restart-container.js';

const USAGE = 'niwa restart [-t|--time SECS] NAME...';

export const verb: Verb = {
  summary: 'restart containers: stop (stop signal, then SIGKILL), then run again from the same spec',
  usage: `${USAGE}\n\n  -t SECS   grace period before SIGKILL (default: the spec's stop_grace_period)\n${TARGET_USAGE}`,
  async run(argv) {
    const a = parseArgs(argv, { values: { ...TARGET_FLAGS, time: 't' } }, 'restart');
    const timeoutMs = graceMsOf(a.flags, 'restart');
    return eachContainer(a.positionals, a.flags, 'restart', USAGE, async (t, name) => {
      const r = await restartContainer(t, name, timeoutMs);
      process.stdout.write(`${name} ${r.id}\n`);
    });
  },
};
