// `niwa stop [-t SECS] NAME...`: the stop signal, then SIGKILL after the grace period.
import type { Verb } from './main.js';
import { parseArgs } from './args.js';
import { UserError } from '../errors.js';
import { TARGET_FLAGS, TARGET_USAGE, eachContainer, graceMsOf } from './target.js';
import { containerDir, deriveState, readSpec, readState } from '../runtime/state.js';
import { signalForeground } from '../runtime/foreground.js';
import { isLive } from '../runtime/status.js';
import { check, request } from '../runtime/supervisor/client.js';
import { detectCgroupLayout } from '../runtime/cgroup/detect.js';

const USAGE = 'niwa stop [-t|--time SECS] NAME...';

export const verb: Verb = {
  summary: 'stop containers: the stop signal, then SIGKILL after the grace period',
  usage: `${USAGE}\n\n  -t SECS   grace period before SIGKILL (default: the spec's stop_grace_period, 10 s)\n${TARGET_USAGE}`,
  async run(argv) {
    const a = parseArgs(argv, { values: { ...TARGET_FLAGS, time: 't' } }, 'stop');
    const timeoutMs = graceMsOf(a.flags, 'stop');
    return eachContainer(a.positionals, a.flags, 'stop', USAGE, async (t, name) => {
      const st = readState(containerDir(t.root, t.project, name));
      if (!st) throw new UserError('E_NO_CONTAINER', `stop: no container named '${name}' in project '${t.project}'`, [], 'see niwa ps');
      const now = deriveState(st, detectCgroupLayout(), containerDir(t.root, t.project, name));
      if (st.foreground && isLive(now.status)) {
        // Owned by a foreground `niwa run`, not by the supervisor: signal it directly.
        const lc = readSpec(containerDir(t.root, t.project, name))?.lifecycle;
        await signalForeground(now, lc?.stopSignal ?? 'SIGTERM', timeoutMs ?? lc?.stopTimeoutMs ?? 10_000);
      } else if (isLive(now.status) || isLive(st.status)) {
        check(await request(t, { op: 'stop', name, timeoutMs }, undefined, (timeoutMs ?? 600_000) + 60_000));
      }
      process.stdout.write(name + '\n');
    });
  },
};
