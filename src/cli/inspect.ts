// `niwa inspect NAME...`: what niwa knows of containers, as JSON (an array, like docker inspect):
// state, the canonical spec, a summary of its launch plan, mounts, network, cgroup and health.
// NAME is a name from any project (when unambiguous), an id, or a unique prefix of an id.
import type { Verb } from './main.js';
import { parseArgs } from './args.js';
import { UserError } from '../errors.js';
import { TARGET_FLAGS, TARGET_USAGE, resolveContainer } from './target.js';
import { listContainers } from './ps.js';
import { join } from 'node:path';
import { containerDir, logPath, readJson, readPlan, readSpec } from '../runtime/state.js';
import { formatMapping } from '../runtime/net/ports.js';
import type { RunNet } from '../runtime/supervisor/protocol.js';
import { readCgroupStats } from '../runtime/cgroup/stats.js';
import { detectCgroupLayout } from '../runtime/cgroup/detect.js';
import type { CanonicalSpec } from '../spec/types.js';
import type { LaunchPlan, Step } from '../plan/types.js';

const USAGE = 'niwa inspect [--format FIELD] NAME...';

export const verb: Verb = {
  summary: 'what niwa knows of containers, as JSON: state, spec, plan summary, mounts, network, cgroup, health',
  usage: `${USAGE}\n\n  NAME              a container name (from any project when unambiguous), its id, or a unique id prefix\n  -f, --format F    print one field by its dotted path (e.g. state.pid, cgroup.paths.0) instead of the JSON\n${TARGET_USAGE}`,
  async run(argv) {
    const a = parseArgs(argv, { values: { ...TARGET_FLAGS, format: 'f' } }, 'inspect');
    if (!a.positionals.length) throw new UserError('E_USAGE', 'inspect: expected a container name or id', [], `usage: ${USAGE}`);
    const out: Record<string, unknown>[] = [];
    for (const ref of a.positionals) {
      const { t, name } = resolveContainer(a.flags, ref, 'inspect');
      const row = (await listContainers(t)).find((r) => r.name === name);
      const dir = containerDir(t.root, t.project, name);
      out.push(inspectContainer(row, readSpec(dir), readPlan(dir), dir));
    }
    if (a.flags.format !== undefined) {
      for (const o of out) process.stdout.write(formatField(o, String(a.flags.format)) + '\n');
      return 0;
    }
    process.stdout.write(JSON.stringify(out, null, 2) + '\n');
    return 0;
  },
};

type Row = Awaited<ReturnType<typeof listContainers>>[number];

/** The inspect object of one container (pure apart from reading its cgroup's figures while it runs). */
export function inspectContainer(row: Row | undefined, spec: CanonicalSpec | undefined, plan: LaunchPlan | undefined, dir: string): Record<string, unknown> {
  const live = row?.state === 'running' || row?.state === 'paused';
  const cgroups = plan?.cgroups ?? [];
  const net = spec?.namespaces.net;
  const netFile = readJson<RunNet>(join(dir, 'net.json'));
  const phases: Record<string, number> = {};
  for (const s of plan?.steps ?? []) phases[s.phase] = (phases[s.phase] ?? 0) + 1;
  return {
    id: row?.id ?? plan?.id,
    name: row?.name ?? plan?.name,
    project: row?.project ?? plan?.project,
    state: row ? {
      status: row.status, raw: row.state, pid: row.pid, exitCode: row.exitCode, signal: row.signal, oomKilled: row.oomKilled,
      createdAt: row.createdAt, startedAt: row.startedAt, finishedAt: row.finishedAt, restarts: row.restarts, supervised: row.supervised,
    } : null,
    spec: spec ?? null,
    plan: plan ? {
      steps: plan.steps.length, phases,
      namespaces: plan.steps.flatMap((s) => (s.op === 'clone' || s.op === 'unshare' ? s.flags : [])),
      root: spec?.root, rootDir: plan.rootDir, tty: plan.tty,
      ...(plan.image ? { image: plan.image } : {}),
      ...(plan.fromFlags ? { fromFlags: plan.fromFlags } : {}),
      warnings: plan.warnings,
    } : null,
    mounts: (spec?.mounts ?? []).map((m) => ({ type: m.type, source: m.source, target: m.target, readonly: m.readonly, ...(m.size !== undefined ? { size: m.size } : {}), field: m.field })),
    rootfs: spec ? { ...spec.rootfs, readonly: spec.readonlyRoot } : null,
    network: spec?.network ? bridgeView(spec.network.name, plan, netFile) : {
      mode: net === undefined ? 'host' : net.mode === 'new' ? 'none' : net.mode === 'join' ? 'joined' : 'container',
      ...(net?.mode === 'join' ? { path: net.path } : net?.mode === 'container' ? { container: net.container } : {}),
      hostname: spec?.hostname ?? null,
      // compose networking: the published ports as the supervisor listens on them (chosen ones included)
      ...(netFile ? { networks: netFile.networks, address: netFile.address ?? null, ports: (netFile.ports ?? []).map(formatMapping) } : {}),
    },
    cgroup: {
      paths: cgroups,
      limits: spec?.cgroup ?? {},
      ...(live && cgroups.length ? { usage: readCgroupStats(cgroups, detectCgroupLayout()) } : {}),
    },
    health: { status: row?.health ?? 'none', check: spec?.lifecycle.healthcheck ?? null },
    stateDir: dir,
    logPath: logPath(dir),
  };
}

/** A dotted path into the inspect object, printed as text (objects as JSON). */
function formatField(o: unknown, path: string): string {
  let v: unknown = o;
  for (const k of path.replace(/^\./, '').split('.').filter(Boolean)) v = v === null || typeof v !== 'object' ? undefined : (v as Record<string, unknown>)[k];
  if (v === undefined) throw new UserError('E_USAGE', `inspect: no field '${path}'`, [], 'e.g. state.pid, state.status, cgroup.paths, network.mode');
  return typeof v === 'object' ? JSON.stringify(v) : String(v);
}

/**
 * A bridge network (run -p / --network bridge|NAME): its address, gateway and ports, as the plan's steps
 * have them; the ports as whoever holds them (the supervisor, or the foreground niwa run) recorded them
 * in net.json once listening, so a port published without a host port shows the one the kernel chose.
 */
function bridgeView(name: string, plan: LaunchPlan | undefined, netFile?: RunNet): Record<string, unknown> {
  const lease = plan?.steps.find((s) => s.op === 'lease') as Extract<Step, { op: 'lease' }> | undefined;
  const pub = plan?.steps.find((s) => s.op === 'publish') as Extract<Step, { op: 'publish' }> | undefined;
  return {
    mode: 'bridge', network: name,
    ...(lease ? { address: lease.address, subnet: lease.subnet, gateway: lease.gateway, bridge: lease.bridge, path: lease.netns } : {}),
    ports: (netFile?.ports ?? pub?.ports ?? []).map(formatMapping),
  };
}
