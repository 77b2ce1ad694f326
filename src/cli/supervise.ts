// `niwa __supervise PROJECT` (hidden): the per-project supervisor daemon, started by the CLI on demand.
import type { Verb } from './main.js';
import { UserError } from '../errors.js';
import { defaultStateRoot } from '../validate/host.js';

export const verb: Verb = {
  summary: 'run the supervisor of a project (started by niwa itself when needed)',
  usage: 'niwa __supervise PROJECT',
  async run(argv) {
    if (argv.length !== 1) throw new UserError('E_USAGE', '__supervise: expected PROJECT');
    const { supervise } = await import('../runtime/supervisor/daemon.js');
    const code = await supervise(defaultStateRoot(), argv[0]);
    return (await import('./main.js')).exitNow(code);
  },
};
