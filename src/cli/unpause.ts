// `niwa unpause NAME...`: thaw containers frozen by niwa pause.
import type { Verb } from './main.js';
import { parseArgs } from './args.js';
import { TARGET_FLAGS, TARGET_USAGE, eachName, namesOf, targetOf } from './target.js';
import { check, request } from '../runtime/supervisor/client.js';

const USAGE = 'niwa unpause NAME...';

export const verb: Verb = {
  summary: 'thaw containers frozen by niwa pause',
  usage: `${USAGE}\n\n${TARGET_USAGE}`,
  async run(argv) {
    const a = parseArgs(argv, { values: { ...TARGET_FLAGS } }, 'unpause');
    const names = namesOf(a.positionals, 'unpause', USAGE);
    const t = targetOf(a.flags, 'unpause');
    return eachName(names, async (name) => {
      check(await request(t, { op: 'unpause', name }));
      process.stdout.write(name + '\n');
    });
  },
};
