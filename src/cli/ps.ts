// `niwa ps [--json]`: the containers of every project (or of --project) with status, pid, uptime,
// restarts, health and, while they run, their published ports (as net.json records them: a port
// published without a host port as the one the kernel chose).
// Asks the supervisor; without one, derives the truth from state.json and the host (runtime/state.ts).
import { readdirSync } from 'node:fs';
import type { Verb } from './main.js';
import { parseArgs } from './args.js';
import { TARGET_FLAGS, formatDuration, table, targetOf } from './target.js';
import { join } from 'node:path';
import { NAME_RE, containerDir, deriveState, listNames, readJson, readState, type ContainerState } from '../runtime/state.js';
import { formatMapping } from '../runtime/net/ports.js';
import type { RunNet } from '../runtime/supervisor/protocol.js';
import { describeStatus } from '../runtime/status.js';
import { tryRequest, type Target } from '../runtime/supervisor/client.js';
import { detectCgroupLayout } from '../runtime/cgroup/detect.js';

export interface PsRow {
  id: string;
  name: string;
  project: string;
  /** As shown: running, paused, exited(0), exited(unknown), stopped(143), oom-killed, ... */
  status: string;
  /** The raw status (runtime/status.ts). */
  state: ContainerState['status'];
  pid: number | null;
  /** Seconds since the current run started (running or paused), else null. */
  uptime: number | null;
  restarts: number;
  health: ContainerState['health'];
  exitCode: number | null;
  signal: number | null;
  oomKilled: boolean;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  supervised: boolean;
  /** Published ports while it runs (`0.0.0.0:8080->80/tcp`), from net.json. */
  ports: string[];
}

export async function listContainers(t: Target): Promise<PsRow[]> {
  const r = await tryRequest(t, { op: 'ps' }).catch(() => undefined);
  let states: ContainerState[];
  const supervised = Boolean(r?.ok);
  if (r?.ok) states = (r as unknown as { containers: ContainerState[] }).containers;
  else {
    const layout = detectCgroupLayout();
    states = listNames(t.root, t.project).flatMap((n) => {
      const dir = containerDir(t.root, t.project, n);
      const st = readState(dir);
      return st ? [deriveState(st, layout, dir)] : [];
    });
  }
  const now = Date.now();
  return states.map((s) => ({
    id: s.id, name: s.name, project: s.project,
    status: describeStatus(s), state: s.status,
    pid: s.status === 'running' || s.status === 'paused' ? s.pid ?? null : null,
    uptime: (s.status === 'running' || s.status === 'paused') && s.startedAt ? Math.max(0, (now - Date.parse(s.startedAt)) / 1000) : null,
    // Health describes a running container; an ended one has none (the last probe is stale).
    restarts: s.restarts, health: s.status === 'running' || s.status === 'paused' ? s.health : 'none',
    exitCode: s.exitCode ?? null, signal: s.signal ?? null, oomKilled: s.oomKilled,
    createdAt: s.createdAt, startedAt: s.startedAt ?? null, finishedAt: s.finishedAt ?? null,
    supervised,
    ports: s.status === 'running' || s.status === 'paused' ? portsOf(containerDir(t.root, t.project, s.name)) : [],
  }));
}

export const verb: Verb = {
  summary: 'list the containers of every project, with a PROJECT column and, when some publish ports, PORTS (--project filters; --json for data)',
  usage: `niwa ps [-a|--all] [--json] [--project NAME]\n\n  --project NAME      only this project's containers\n  -a, --all           every project (the default; kept for Docker's habit)\n  --state-root DIR    where state lives (default: $NIWA_STATE_ROOT or /run/niwa)`,
  async run(argv) {
    const a = parseArgs(argv, { values: { ...TARGET_FLAGS }, booleans: { json: '', all: 'a' } }, 'ps');
    const t = targetOf(a.flags, 'ps');
    const projects = a.flags.project === undefined ? projectsUnder(t.root) : [t.project];
    const rows = (await Promise.all(projects.map((project) => listContainers({ ...t, project })))).flat();
    if (a.flags.json) { process.stdout.write(JSON.stringify(rows, null, 2) + '\n'); return 0; }
    const all = a.flags.project === undefined;
    // a PORTS column, as Docker's, when some container publishes ports
    const ports = rows.some((r) => r.ports.length);
    const out = [[...(all ? ['PROJECT'] : []), 'NAME', 'ID', 'STATUS', 'PID', 'UPTIME', 'RESTARTS', 'HEALTH', ...(ports ? ['PORTS'] : [])]];
    for (const r of rows) {
      out.push([...(all ? [r.project] : []), r.name, r.id, r.status, r.pid === null ? '-' : String(r.pid), r.uptime === null ? '-' : formatDuration(r.uptime * 1000), String(r.restarts), r.health === 'none' ? '-' : r.health, ...(ports ? [r.ports.join(', ') || '-'] : [])]);
    }
    process.stdout.write(table(out));
    return 0;
  },
};

/** The published ports a container's net.json records (none without one). */
function portsOf(dir: string): string[] {
  return (readJson<RunNet>(join(dir, 'net.json'))?.ports ?? []).map(formatMapping);
}

/** Projects with containers under the state root (directories holding container state). */
function projectsUnder(root: string): string[] {
  let names: string[];
  try { names = readdirSync(root, { withFileTypes: true }).filter((e) => e.isDirectory() && NAME_RE.test(e.name)).map((e) => e.name); } catch { return []; }
  return names.filter((p) => listNames(root, p).length > 0).sort();
}
