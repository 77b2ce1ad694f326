// `niwa start [-a] NAME...`: run stopped containers again from their stored spec (a new run under the
// same name and project, as `restart` does, but a running container is left alone). `-a` (one
// container) attaches: its output until it ends, and its exit status becomes niwa's, as `docker start -a`.
import type { Verb } from './main.js';
import { parseArgs } from './args.js';
import { UserError } from '../errors.js';
import { TARGET_FLAGS, TARGET_USAGE, eachContainer, resolveContainer } from './target.js';
import { restartContainer } from '../runtime/supervisor/restart-container.js';
import { containerDir, readState } from '../runtime/state.js';
import { isLive } from '../runtime/status.js';
import { check, tryRequest } from '../runtime/supervisor/client.js';
import type { LogEntry } from '../runtime/supervisor/logs.js';

const USAGE = 'niwa start [-a|--attach] NAME...';

export const verb: Verb = {
  summary: 'start stopped containers again from their spec (-a: attach and pass the exit status through)',
  usage: `${USAGE}\n\n  -a, --attach   follow the container's output until it ends; niwa exits with its status\n                 (125 when niwa itself fails, 126/127 when the command cannot run or is not found)\n${TARGET_USAGE}`,
  passesStatus: (args) => args.includes('-a') || args.includes('--attach'),
  async run(argv) {
    const a = parseArgs(argv, { values: { ...TARGET_FLAGS }, booleans: { attach: 'a' } }, 'start');
    if (!a.flags.attach) {
      return eachContainer(a.positionals, a.flags, 'start', USAGE, async (t, name) => {
        const st = readState(containerDir(t.root, t.project, name));
        if (!st || !isLive(st.status)) await restartContainer(t, name);
        process.stdout.write(name + '\n');
      });
    }
    if (a.positionals.length !== 1) throw new UserError('E_USAGE', 'start: -a attaches to exactly one container', [], `usage: ${USAGE}`);
    const { t, name } = resolveContainer(a.flags, a.positionals[0], 'start');
    const dir = containerDir(t.root, t.project, name);
    const before = readState(dir);
    const since = new Date().toISOString();
    if (!before || !isLive(before.status)) await restartContainer(t, name);
    const print = (e: LogEntry) => (e.stream === 'stderr' ? process.stderr : process.stdout).write(e.line + '\n');
    // The follow ends when the container does.
    const r = await tryRequest(t, { op: 'logs-follow', name, since }, (l) => { if ('log' in l) print(l.log); });
    if (r) check(r);
    const st = readState(dir);
    if (!st) return 0;
    return st.signal != null ? 128 + st.signal : st.exitCode ?? 0;
  },
};
