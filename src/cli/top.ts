// `niwa top NAME [--json]`: the processes in a container's cgroups (host pids), with user, CPU
// (average over each process's life), resident memory and command line from /proc.
import type { Verb } from './main.js';
import { parseArgs } from './args.js';
import { UserError } from '../errors.js';
import { TARGET_FLAGS, TARGET_USAGE, formatBytes, namesOf, resolveContainer, table } from './target.js';
import { listContainers } from './ps.js';
import { containerDir, readPlan } from '../runtime/state.js';
import { detectCgroupLayout } from '../runtime/cgroup/detect.js';
import { createCgroupManager } from '../runtime/cgroup/manager.js';
import { procInfo, uptimeSeconds, userNames } from '../runtime/proc.js';

const USAGE = 'niwa top [--json] NAME';

export const verb: Verb = {
  summary: 'the processes of a running container (pid, user, %cpu, rss, command)',
  usage: `${USAGE}\n\n${TARGET_USAGE}`,
  async run(argv) {
    const a = parseArgs(argv, { values: { ...TARGET_FLAGS }, booleans: { json: '' } }, 'top');
    const [ref] = namesOf(a.positionals, 'top', USAGE);
    const { t, name } = resolveContainer(a.flags, ref, 'top');
    const row = (await listContainers(t)).find((r) => r.name === name);
    if (!row) throw new UserError('E_NO_CONTAINER', `top: no container named '${name}' in project '${t.project}'`, [], 'see niwa ps');
    if (row.state !== 'running' && row.state !== 'paused') throw new UserError('E_NOT_RUNNING', `top: container '${name}' is ${row.status}`);
    const plan = readPlan(containerDir(t.root, t.project, name));
    const pids = createCgroupManager(detectCgroupLayout(), plan?.cgroups ?? []).pids();
    const now = uptimeSeconds();
    const user = userNames();
    const procs = pids.flatMap((p) => { const i = procInfo(p, now); return i ? [i] : []; });
    if (a.flags.json) { process.stdout.write(JSON.stringify(procs.map((p) => ({ ...p, user: user(p.uid) })), null, 2) + '\n'); return 0; }
    const lines = [['PID', 'PPID', 'USER', '%CPU', 'RSS', 'STAT', 'COMMAND']];
    for (const p of procs) lines.push([String(p.pid), String(p.ppid), user(p.uid), p.cpu.toFixed(1), formatBytes(p.rss), p.state, p.command]);
    process.stdout.write(table(lines));
    return 0;
  },
};
