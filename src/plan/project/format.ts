// Text rendering of a ProjectPlan (`niwa compose plan`): the project's steps by stage, each as the
// command or call it makes with its compose key and why; each service's launch plan in full with
// --explain (through plan/format.ts and plan/explain.ts), or summarised otherwise.
import type { Step } from '../types.js';
import { describeCall, formatPlan } from '../format.js';
import { formatExplain, lookFor } from '../explain.js';
import type { ProjectPlan, ProjectStage, ProjectStep } from './types.js';

const STAGE_TITLE: Record<ProjectStage, string> = {
  images: 'images — pulled (the layers the store lacks) or built before anything starts',
  volumes: 'volumes and files — created once, before the networks',
  networks: 'networks — one bridge per project network, its subnet recorded',
  service: 'services — per service, once its depends_on conditions are met (services of one level in parallel)',
  teardown: 'teardown — what `down` undoes (and, for the units it touched, the rollback of a failed start)',
};

/** Bytes for people (a pull's size). */
const humanBytes = (n: number) => (n < 1024 ? `${n} B` : n < 1 << 20 ? `${(n / 1024).toFixed(1)} KB` : n < 1 << 30 ? `${(n / (1 << 20)).toFixed(1)} MB` : `${(n / (1 << 30)).toFixed(2)} GB`);
const q = (s: string) => (/^[\w./:@%+=,-]+$/.test(s) ? s : JSON.stringify(s));
const short = (s: string, n = 50) => { const one = s.replace(/\n/g, '\\n'); return one.length > n ? one.slice(0, n - 1) + '…' : one; };

/** The action a project step takes, as one line. */
export function describeProjectStep(s: ProjectStep): string {
  switch (s.op) {
    case 'ip': case 'netns': return describeCall(s as unknown as Step);
    case 'image': {
      const repo = s.name.replace(/@.*$/, '').replace(/:[^/:]*$/, '');
      const at = s.digest ? `${repo}@${s.digest}` : s.name;
      if (s.present && s.pull !== 'always') return `image ${at}: present in the store (for ${s.services.join(', ')})`;
      return `pull ${at} — ${s.layers} layer${s.layers === 1 ? '' : 's'}, ${s.present ? 'up to date unless the registry changed' : humanBytes(s.size)} (for ${s.services.join(', ')})`;
    }
    case 'build': return `build ${s.image} from ${q(s.context)}${s.dockerfile ? ` (${s.dockerfile})` : ''}`;
    case 'mkdir': return `mkdir -p -m 0${s.mode.toString(8)} ${q(s.path)}`;
    case 'mount': return `mount${s.fstype ? ` -t ${s.fstype}` : ' --bind'}${s.options ? ` -o ${q(s.options)}` : ''} ${q(s.source)} ${q(s.target)}`;
    case 'file': return `write ${q(s.path)} (0${s.mode.toString(8)}${s.inPlace ? ', in place' : ''}): ${q(short(s.content))}`;
    case 'lease': return s.container ? `lease ${s.address} on ${s.network} for ${s.container} (${s.ifname}, veth ${s.veth})` : `lease ${s.subnet} (gateway ${s.gateway}) for network ${s.network} (bridge ${s.bridge})`;
    case 'hosts': return `rewrite the /etc/hosts of every container of ${s.project} (in place, from the leases)`;
    case 'publish': return `publish ${s.ports.map((p) => `${p.hostIp}:${p.hostPort || '(any)'}→${s.address}:${p.containerPort}/${p.protocol}`).join(', ')}`;
    case 'launch':
      if (!s.plan) return `launch ${s.container}: launch plan compiled after step ${s.deferred?.after} ${s.deferred?.kind === 'build' ? 'builds' : 'pulls'} ${s.deferred?.ref} → the project's supervisor`;
      return `launch ${s.container}: ${s.plan.steps.length}-step launch plan${s.plan.image ? ` on ${s.plan.image.name}` : ''} → the project's supervisor`;
    case 'remove': return `${s.stop ? 'stop and ' : ''}remove container ${s.container}`;
    case 'release': return s.container ? `release ${s.container}'s lease on ${s.network}` : `release network ${s.network}'s subnet`;
    case 'rm': return `rm ${s.recursive ? '-r ' : ''}${q(s.path)}`;
    case 'umount': return `umount ${q(s.target)}`;
  }
}

function lines(title: string, list: ProjectStep[], w: number, explain: boolean): string[] {
  const out: string[] = [];
  let stage: ProjectStage | undefined;
  let service: string | undefined;
  for (const s of list) {
    if (s.stage !== stage) { stage = s.stage; service = undefined; out.push('', STAGE_TITLE[stage]); }
    if (s.service && s.service !== service) { service = s.service; out.push(`  service ${service}:`); }
    out.push(`  ${String(s.index).padStart(w)}  ${describeProjectStep(s)}`);
    out.push(`  ${' '.repeat(w)}    [${s.field}]${s.man ? ' ' + s.man : ''} — ${s.why}`);
    if (explain && (s.op === 'ip' || s.op === 'netns')) for (const l of lookFor(s as unknown as Step)) out.push(`  ${' '.repeat(w)}    ${l.where === 'host' ? 'host$  ' : 'inside$'} ${l.cmd}`);
  }
  return title ? [title, ...out] : out;
}

export interface FormatProjectOptions { explain?: boolean; /** Print each launch plan in full. */ full?: boolean }

export function formatProjectPlan(plan: ProjectPlan, opts: FormatProjectOptions = {}): string {
  const w = String(Math.max(plan.steps.length, plan.teardown.length)).length;
  const out: string[] = [`project plan for '${plan.project}': ${plan.steps.length} steps, ${plan.teardown.length} to tear down`];
  out.push('services:');
  for (const s of plan.services) {
    const addr = Object.entries(s.addresses).map(([n, a]) => `${n} ${a}`).join(', ');
    out.push(`  ${s.service.padEnd(12)} ${s.container.padEnd(16)} ${s.action}${s.reason ? `: ${s.reason}` : ''}${addr ? `  (${addr})` : ''}`);
  }
  if (plan.levels.length) out.push(`start levels: ${plan.levels.map((l) => l.join(' + ')).join('  →  ')}`);
  out.push(...lines('', plan.steps, w, Boolean(opts.explain)));
  out.push(...lines('', plan.teardown, w, false));
  if (opts.full || opts.explain) {
    for (const s of plan.steps) {
      if (s.op !== 'launch' || !s.plan) continue;
      out.push('', `— ${s.container} (service ${s.service}) —`, (opts.explain ? formatExplain(s.plan) : formatPlan(s.plan)).trimEnd());
    }
  }
  if (plan.warnings.length) out.push('', 'warnings:', ...plan.warnings.map((x) => `  ! ${x}`));
  return out.join('\n') + '\n';
}
