// `niwa kill [-s SIG] NAME...`: send a signal (default SIGKILL) to containers.
import type { Verb } from './main.js';
import { parseArgs } from './args.js';
import { TARGET_FLAGS, TARGET_USAGE, eachContainer } from './target.js';
import { parseSignal } from '../runtime/signals.js';
import { check, request } from '../runtime/supervisor/client.js';
import { containerDir, readState } from '../runtime/state.js';
import { signalForeground } from '../runtime/foreground.js';

const USAGE = 'niwa kill [-s|--signal SIG] NAME...';

export const verb: Verb = {
  summary: 'send a signal to containers (default SIGKILL)',
  usage: `${USAGE}\n\n  -s SIG   signal name or number (KILL, TERM, HUP, 9, ...); TERM/INT/QUIT/KILL count as a stop\n${TARGET_USAGE}`,
  async run(argv) {
    const a = parseArgs(argv, { values: { ...TARGET_FLAGS, signal: 's' } }, 'kill');
    const signal = parseSignal(String(a.flags.signal ?? 'SIGKILL'));
    return eachContainer(a.positionals, a.flags, 'kill', USAGE, async (t, name) => {
      const st = readState(containerDir(t.root, t.project, name));
      if (st?.foreground) await signalForeground(st, signal); // owned by a foreground `niwa run`
      else check(await request(t, { op: 'kill', name, signal }));
      process.stdout.write(name + '\n');
    });
  },
};
