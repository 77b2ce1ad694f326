// `niwa stats [--json] [NAME...]`: CPU, memory and pids of running containers, from their cgroups
// (two samples 250 ms apart for CPU %).
import type { Verb } from './main.js';
import { parseArgs } from './args.js';
import { UserError } from '../errors.js';
import { TARGET_FLAGS, TARGET_USAGE, formatBytes, table, targetOf } from './target.js';
import { listContainers } from './ps.js';
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { containerDir, logPath, readPlan } from '../runtime/state.js';
import { parseLogLine } from '../runtime/supervisor/logs.js';
import { detectCgroupLayout } from '../runtime/cgroup/detect.js';
import { readCgroupStats } from '../runtime/cgroup/stats.js';
import type { CgroupStats } from '../runtime/cgroup/types.js';
import type { Target } from '../runtime/supervisor/client.js';
import { progressMode } from '../ui/progress.js';

export interface StatsRow { name: string; cpuPercent: number | null; memory: CgroupStats['memory']; pids: CgroupStats['pids']; oomKills: number }

export const verb: Verb = {
  summary: 'CPU, memory and pids of running containers, from their cgroups (--json for data)',
  usage: `niwa stats [--json] [--no-stream] [NAME...]\n\n  --no-stream   print one sample and exit (the default when stdout is not a terminal)\n${TARGET_USAGE}`,
  async run(argv) {
    const a = parseArgs(argv, { values: { ...TARGET_FLAGS, progress: '' }, booleans: { json: '', 'no-stream': '' } }, 'stats');
    const t = targetOf(a.flags, 'stats');
    // On a terminal: the live view (Ink, loaded only here), refreshed every second until q.
    if (!a.flags['no-stream'] && progressMode({ progress: a.flags.progress as string | undefined, json: Boolean(a.flags.json), stdoutIsTTY: Boolean(process.stdout.isTTY) }) === 'tty') {
      return liveStats(t, a.positionals);
    }
    const all = await listContainers(t);
    for (const n of a.positionals) if (!all.some((r) => r.name === n)) throw new UserError('E_NO_CONTAINER', `stats: no container named '${n}' in project '${t.project}'`, [], 'see niwa ps');
    const rows = all.filter((r) => (a.positionals.length ? a.positionals.includes(r.name) : true) && (r.state === 'running' || r.state === 'paused'));
    const layout = detectCgroupLayout();
    const cgroups = new Map(rows.map((r) => [r.name, readPlan(containerDir(t.root, t.project, r.name))?.cgroups ?? []]));
    const read = () => new Map(rows.map((r) => [r.name, readCgroupStats(cgroups.get(r.name)!, layout)]));
    const t0 = performance.now();
    const first = read();
    await new Promise((r) => setTimeout(r, 250));
    const second = read();
    const elapsedNs = (performance.now() - t0) * 1e6;
    const out: StatsRow[] = rows.map((r) => {
      const a0 = first.get(r.name)!.cpu.usageNs;
      const s = second.get(r.name)!;
      const cpu = a0 !== undefined && s.cpu.usageNs !== undefined ? (100 * (s.cpu.usageNs - a0)) / elapsedNs : null;
      return { name: r.name, cpuPercent: cpu === null ? null : Math.max(0, cpu), memory: s.memory, pids: s.pids, oomKills: s.oomKills };
    });
    if (a.flags.json) { process.stdout.write(JSON.stringify(out, null, 2) + '\n'); return 0; }
    const lines = [['NAME', 'CPU %', 'MEM USAGE / LIMIT', 'MEM %', 'PIDS']];
    for (const r of out) {
      const lim = r.memory.limit;
      lines.push([
        r.name,
        r.cpuPercent === null ? '-' : r.cpuPercent.toFixed(2) + '%',
        `${formatBytes(r.memory.current)} / ${lim === null ? 'unlimited' : formatBytes(lim)}`,
        lim && r.memory.current !== undefined ? ((100 * r.memory.current) / lim).toFixed(2) + '%' : '-',
        r.pids.current === undefined ? '-' : String(r.pids.current),
      ]);
    }
    process.stdout.write(table(lines));
    return 0;
  },
};

/** `niwa stats` on a terminal: the live view over the project's containers; r restarts, s stops, l shows
 *  the log, q leaves (the containers keep running). */
async function liveStats(t: Target, only: string[]): Promise<number> {
  const { runStatsView } = await import('../ui/stats-view.js');
  const { restartContainer } = await import('../runtime/supervisor/restart-container.js');
  const { request } = await import('../runtime/supervisor/client.js');
  const layout = detectCgroupLayout();
  const tails = new Map<string, ReturnType<typeof logTail>>();
  const pick = <T extends { name: string }>(xs: T[]) => (only.length ? xs.filter((x) => only.includes(x.name)) : xs);
  await runStatsView({
    title: `niwa stats — ${t.project}`,
    list: async () => pick(await listContainers(t)).map((r) => ({
      name: r.name, state: r.state, pid: r.pid, uptime: r.uptime, restarts: r.restarts, health: r.health ?? 'none', exitCode: r.exitCode, signal: r.signal,
    })),
    stats: async (names) => Object.fromEntries(names.map((n) => [n, readCgroupStats(readPlan(containerDir(t.root, t.project, n))?.cgroups ?? [], layout)])),
    restart: async (name) => { await restartContainer(t, name); },
    stop: async (name) => { await request(t, { op: 'stop', name }); },
    newLogLines: (name) => (tails.get(name) ?? tails.set(name, logTail(logPath(containerDir(t.root, t.project, name)))).get(name)!)(),
  });
  return 0;
}

/** The lines appended to a container log since the last call; the first call gives the last few KiB.
 *  A file that shrank was rotated: reading starts again at its beginning. */
function logTail(path: string, firstBytes = 8192): () => { at: number; stream: 'stdout' | 'stderr'; line: string }[] {
  let offset: number | undefined;
  let partial = '';
  return () => {
    let size: number;
    try { size = statSync(path).size; } catch { return []; }
    if (offset === undefined) offset = Math.max(0, size - firstBytes);
    if (size < offset) { offset = 0; partial = ''; }
    if (size === offset) return [];
    const buf = Buffer.alloc(Math.min(size - offset, 1 << 20));
    const fd = openSync(path, 'r');
    try { readSync(fd, buf, 0, buf.length, offset); } finally { closeSync(fd); }
    offset += buf.length;
    const lines = (partial + buf.toString('utf8')).split('\n');
    partial = lines.pop() ?? '';
    return lines.flatMap((l) => {
      const e = parseLogLine(l);
      return e ? [{ at: Date.parse(e.time) || Date.now(), stream: e.stream, line: e.line }] : [];
    });
  };
}
