// Text rendering of a LaunchPlan: each step as the call it makes, grouped by phase, with why.
import type { LaunchPlan, Phase, Step } from './types.js';
import { BRIDGE_PROJECT } from './steps/net.js';

const PHASE_TITLE: Record<Phase, string> = {
  prepare: 'prepare — on the host, before the container process exists (niwa)',
  stage: 'stage — in the native stage, before clone',
  clone: 'clone — the container process is created',
  parent: 'parent — the stage, while the child waits',
  child: 'child — inside the container process, up to execve',
  started: 'started — on the host, once the program runs (niwa)',
  cleanup: 'cleanup — on the host, after the container is gone (niwa)',
};

const q = (s: string) => (/^[\w./:@%+=,-]+$/.test(s) ? s : JSON.stringify(s));
const flags = (f: string[]) => (f.length ? f.join('|') : '0');
const caps = (c: string[]) => (c.length ? c.map((x) => x.replace(/^CAP_/, '')).join(',') : '-');
const lim = (n: number) => (n < 0 ? 'unlimited' : String(n));
const short = (s: string, n = 60) => {
  const one = s.replace(/\n/g, '\\n');
  return one.length > n ? one.slice(0, n - 1) + '…' : one;
};

const portText = (p: { hostIp: string; hostPort: number; containerPort: number; protocol: string }) => `${p.hostIp.includes(':') ? `[${p.hostIp}]` : p.hostIp}:${p.hostPort || '*'}->${p.containerPort}/${p.protocol}`;

/** The call a step makes, as one line: `mount("proc", "/proc", "proc", MS_NOSUID, NULL)`. */
export function describeCall(s: Step): string {
  const inRoot = 'inRoot' in s && s.inRoot ? ` in ${s.inRoot}` : '';
  switch (s.op) {
    case 'mkdir': return `mkdir(${q(s.path)}, 0${s.mode.toString(8)})${s.parents ? ' -p' : ''}${inRoot}`;
    case 'rmdir': return `rmdir(${q(s.path)})`;
    case 'write': return `write(${q(s.path)}, ${q(short(s.data))})${inRoot}`;
    case 'touch': return `touch(${q(s.path)})${inRoot}`;
    case 'symlink': return `symlink(${q(s.target)}, ${q(s.path)})${inRoot}`;
    case 'setns': return `setns(open(${q(s.path)}), ${s.flag})`;
    case 'unshare': return `unshare(${flags(s.flags)})`;
    case 'clone': return `clone(${flags([...s.flags, 'SIGCHLD'])})`;
    case 'release_child': return 'write(sync pipe) — release the child';
    case 'wait_parent': return 'read(sync pipe) — wait for the parent';
    case 'mount': return `mount(${s.source === null ? 'NULL' : q(s.source)}, ${q(s.target)}, ${s.fstype === null ? 'NULL' : q(s.fstype)}, ${flags(s.flags)}, ${s.data === null ? 'NULL' : q(s.data)})${inRoot}${s.keepLocked ? ' +locked flags' : ''}`;
    case 'umount2': return `umount2(${q(s.target)}, ${flags(s.flags)})`;
    case 'mask': return `mask(${q(s.path)}) — /dev/null or read-only tmpfs over it`;
    case 'readonly': return `readonly(${q(s.path)}) — bind onto itself, remount read-only`;
    case 'pivot_root': return `pivot_root(${q(s.newRoot)}, ${q(s.putOld)})`;
    case 'chroot': return `chroot(${q(s.path)})`;
    case 'chdir': return `chdir(${q(s.path)})`;
    case 'sethostname': return `sethostname(${q(s.name)})`;
    case 'setdomainname': return `setdomainname(${q(s.name)})`;
    case 'ifup': return `ioctl(SIOCSIFFLAGS, ${s.name}, IFF_UP)`;
    case 'setrlimit': return `setrlimit(${s.resource}, ${lim(s.soft)}, ${lim(s.hard)})`;
    case 'capbset_drop': return `prctl(PR_CAPBSET_DROP) ×${s.caps.length}: ${caps(s.caps)}`;
    case 'keepcaps': return `prctl(PR_SET_KEEPCAPS, ${s.on ? 1 : 0})`;
    case 'setgroups': return `setgroups([${s.gids.join(', ')}])`;
    case 'setresgid': return `setresgid(${s.gid}, ${s.gid}, ${s.gid})`;
    case 'setresuid': return `setresuid(${s.uid}, ${s.uid}, ${s.uid})`;
    case 'capset': return `capset(eff=${caps(s.effective)}; prm=${s.permitted.join() === s.effective.join() ? '=eff' : caps(s.permitted)}; inh=${caps(s.inheritable)})`;
    case 'ambient_raise': return `prctl(PR_CAP_AMBIENT_RAISE): ${caps(s.caps)}`;
    case 'no_new_privs': return 'prctl(PR_SET_NO_NEW_PRIVS, 1)';
    case 'seccomp': return `seccomp(SECCOMP_SET_MODE_FILTER, ${s.filter.length} BPF instructions: ${s.summary})`;
    case 'setsid': return 'setsid()';
    case 'setctty': return 'ioctl(pty, TIOCSCTTY); dup2(pty, 0/1/2)';
    case 'init': return 'fork() — a tiny init stays PID 1';
    case 'execve': return `execve(${q(s.path)}, [${s.argv.map(q).join(', ')}], ${s.env.length} env vars)`;
    case 'hook': return `${s.phase === 'parent' || s.phase === 'child' ? 'pause: ' : ''}hook ${s.point}[${s.hook}]${s.command ? ': ' + s.command.map(q).join(' ') : ' (function)'}${s.optional ? ' (optional)' : ''}`;
    case 'device_filter': return `bpf(BPF_PROG_LOAD, CGROUP_DEVICE, ${s.program.length} insns); bpf(BPF_PROG_ATTACH, ${q(s.cgroup)}) — allow ${s.rules.join(', ')}`;
    case 'openpty': return `open(${q(s.path)}); ioctl(TIOCGPTPEER) — the pty`;
    case 'probe': return `connect(${q(s.address)}, ${s.port})${s.request ? ` + ${q(short(s.request.split('\r\n')[0]))}` : ''} — exit 0 if healthy`;
    case 'ip': return `${s.netns ? `nsenter --net=${q(s.netns)} ` : ''}ip ${s.args.map(q).join(' ')}${s.absentOk ? ' (already gone is fine)' : ''}${s.ifMissing ? ` (unless ${s.ifMissing} exists)` : ''}`;
    case 'lease': return `lease ${s.address}/${s.subnet.split('/')[1]} on ${s.network} (${s.subnet}, gateway ${s.gateway}) for ${s.container}`;
    case 'release': return `release ${s.container}'s lease on ${s.network}${s.bridge ? `; the last one out: ip link del ${s.bridge}, forget ${s.network}` : ''}`;
    case 'hosts': return `rewrite the /etc/hosts of every container on ${s.project === BRIDGE_PROJECT ? 'niwa\'s bridge' : `${s.project}'s networks`}`;
    case 'publish': return `listen ${s.ports.map(portText).join(', ')} → ${s.address}`;
    case 'unpublish': return `close ${s.ports.map(portText).join(', ')}`;
    case 'rmtree': return `rm -r ${q(s.path)} (no symlink followed; gone is fine)`;
    case 'copyroot': return `copy ${s.layers.length} layer${s.layers.length === 1 ? '' : 's'} → ${q(s.path)} (whiteouts applied${s.uidMap ? `; owners shifted: uid ${s.uidMap.map((m) => `${m.container_id}→${m.host_id}+${m.size}`).join(',')}` : ''})`;
    case 'netns': return s.action === 'add' ? `unshare(CLONE_NEWNET); mount("/proc/self/ns/net", ${q(s.path)}, MS_BIND)` : `umount2(${q(s.path)}, MNT_DETACH); unlink(${q(s.path)})`;
  }
}

export interface FormatOptions { explain?: boolean; color?: boolean }

export function formatPlan(plan: LaunchPlan, opts: FormatOptions = {}): string {
  const c = opts.color ? { dim: (s: string) => `\x1b[2m${s}\x1b[22m`, bold: (s: string) => `\x1b[1m${s}\x1b[22m`, cyan: (s: string) => `\x1b[36m${s}\x1b[39m` } : { dim: (s: string) => s, bold: (s: string) => s, cyan: (s: string) => s };
  const out: string[] = [c.bold(`launch plan for '${plan.name}' (${plan.spec})`), `${plan.steps.length} step${plan.steps.length === 1 ? "" : "s"}; cgroups: ${plan.cgroups.length ? plan.cgroups.join(', ') : 'none'}`];
  if (plan.image) {
    out.push(`image: ${plan.image.name}@${plan.image.digest}`);
    const from = Object.entries(plan.image.fromImage);
    if (from.length) out.push(`from the image config: ${from.map(([k, v]) => `${k} ← ${v.replace(/^image /, '')}`).join('; ')}`);
  }
  let phase: Phase | undefined;
  const w = String(plan.steps.length - 1).length;
  for (const s of plan.steps) {
    if (s.phase !== phase) {
      phase = s.phase;
      out.push('', c.cyan(PHASE_TITLE[phase]));
    }
    out.push(`  ${String(s.index).padStart(w)}  ${describeCall(s)}`);
    const opt = optionOf(plan.fromFlags, s.field);
    const meta = [s.field ? `[${s.field}${opt ? ` ← ${opt}` : ''}]` : '[default]', s.man].filter(Boolean).join(' ');
    out.push(c.dim(`  ${' '.repeat(w)}    ${meta} — ${s.why}`));
  }
  if (plan.warnings.length) out.push('', 'warnings:', ...plan.warnings.map((x) => `  ! ${x}`));
  return out.join('\n') + '\n';
}

/** The command-line option that set `field` (or a parent of it), if any (LaunchPlan.fromFlags). */
export function optionOf(fromFlags: Record<string, string> | undefined, field: string | undefined): string | undefined {
  if (!fromFlags || !field) return undefined;
  for (let f = field; f; f = f.includes('.') ? f.slice(0, f.lastIndexOf('.')) : '') if (fromFlags[f]) return fromFlags[f];
  return undefined;
}
