// `niwa pause NAME...`: freeze every process of containers (cgroup freezer).
import type { Verb } from './main.js';
import { parseArgs } from './args.js';
import { TARGET_FLAGS, TARGET_USAGE, eachName, namesOf, targetOf } from './target.js';
import { check, request } from '../runtime/supervisor/client.js';

const USAGE = 'niwa pause NAME...';

export const verb: Verb = {
  summary: 'freeze every process of containers (cgroup freezer)',
  usage: `${USAGE}\n\n${TARGET_USAGE}`,
  async run(argv) {
    const a = parseArgs(argv, { values: { ...TARGET_FLAGS } }, 'pause');
    const names = namesOf(a.positionals, 'pause', USAGE);
    const t = targetOf(a.flags, 'pause');
    return eachName(names, async (name) => {
      check(await request(t, { op: 'pause', name }));
      process.stdout.write(name + '\n');
    });
  },
};
