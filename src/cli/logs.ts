// `niwa logs [-f] [--tail N] [--since T] [-t] NAME`: a container's stdout/stderr from its log file
// (stdout lines to stdout, stderr lines to stderr); -f follows live through the supervisor.
import type { Verb } from './main.js';
import { parseArgs } from './args.js';
import { UserError } from '../errors.js';
import { TARGET_FLAGS, TARGET_USAGE, namesOf, resolveContainer } from './target.js';
import { containerDir, logPath, readState } from '../runtime/state.js';
import { parseSince, readLogEntries, type LogEntry } from '../runtime/supervisor/logs.js';
import { check, tryRequest } from '../runtime/supervisor/client.js';
import { harmless } from '../ui/safe-text.js';

const USAGE = 'niwa logs [-f|--follow] [--tail N] [--since T] [-t|--timestamps] [--raw] NAME';

export const verb: Verb = {
  summary: 'print the logs of a container (-f to follow)',
  usage: `${USAGE}\n\n  --tail N        only the last N lines\n  --since T       only lines since T: an ISO time, Unix seconds, or a duration (10s, 5m, 1h)\n  -t              prefix each line with its time and stream\n  --raw           the bytes as the container wrote them (on a terminal, control characters are shown as ^[ … by default)\n${TARGET_USAGE}`,
  async run(argv) {
    const a = parseArgs(argv, { values: { ...TARGET_FLAGS, tail: '', since: '' }, booleans: { follow: 'f', timestamps: 't', raw: '' } }, 'logs');
    const [ref] = namesOf(a.positionals, 'logs', USAGE);
    const { t, name } = resolveContainer(a.flags, ref, 'logs');
    const tail = a.flags.tail === undefined || a.flags.tail === 'all' ? undefined : Number(a.flags.tail);
    if (tail !== undefined && (!Number.isInteger(tail) || tail < 0)) throw new UserError('E_USAGE', `logs: --tail expects a number of lines, got '${a.flags.tail}'`);
    const sinceText = a.flags.since === undefined ? undefined : String(a.flags.since);
    const since = sinceText === undefined ? undefined : parseSince(sinceText);
    if (sinceText !== undefined && !since) throw new UserError('E_USAGE', `logs: --since expects a time or a duration, got '${sinceText}'`, [], 'e.g. 2026-01-02T15:04:05Z, 1767366245, 10s, 5m');
    const dir = containerDir(t.root, t.project, name);
    const st = readState(dir);
    if (!st) throw new UserError('E_NO_CONTAINER', `no container named '${name}' in project '${t.project}'`, [], 'see niwa ps');
    if (st.foreground) {
      throw new UserError('E_NO_LOGS', `logs: '${name}' runs in the foreground (niwa run, pid ${st.foreground.ownerPid}): its output goes to that terminal, not to a log`, [], 'run it with niwa run -d to keep its output in a log');
    }
    const print = (e: LogEntry) => {
      const out = e.stream === 'stderr' ? process.stderr : process.stdout;
      const line = !a.flags.raw && out.isTTY ? harmless(e.line) : e.line;
      out.write((a.flags.timestamps ? `${e.time} ${e.stream} ` : '') + line + '\n');
    };
    if (a.flags.follow) {
      // since is sent as an absolute time so the supervisor filters exactly what we asked for
      const r = await tryRequest(t, { op: 'logs-follow', name, tail, since: since?.toISOString() }, (l) => { if ('log' in l) print(l.log); });
      if (r) { check(r); return 0; }
      // no supervisor: nothing can be written any more; print what there is
    }
    for (const e of readLogEntries(logPath(dir), { tail, since })) print(e);
    return 0;
  },
};
