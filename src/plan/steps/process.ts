// Process steps (child phase, after the root switch): identity, kernel settings, limits,
// terminal, privilege drop in the one order that works, seccomp, and execve.
import type { CanonicalSpec } from '../../spec/types.js';
import { ALL_CAPS } from '../../spec/capabilities.js';
import type { HostFacts, StepDraft } from '../types.js';
import { seccompStep } from './seccomp.js';

export function identitySteps(spec: CanonicalSpec): StepDraft[] {
  const s: StepDraft[] = [];
  if (spec.namespaces.net?.mode === 'new') {
    s.push({ op: 'ifup', name: 'lo', field: 'namespaces.net', man: 'netdevice(7)', why: 'a new network namespace starts with loopback down: bring it up so 127.0.0.1 works' });
  }
  if (spec.hostname !== undefined) s.push({ op: 'sethostname', name: spec.hostname, field: 'hostname', man: 'sethostname(2)', why: 'set the name the container sees in its own UTS namespace' });
  if (spec.domainname !== undefined) s.push({ op: 'setdomainname', name: spec.domainname, field: 'domainname', man: 'setdomainname(2)', why: 'set the NIS domain name of the UTS namespace' });
  return s;
}

/** Kernel settings that need /proc of the new root and privileges: before read-only paths. */
export function kernelSettingSteps(spec: CanonicalSpec): StepDraft[] {
  const s: StepDraft[] = [];
  for (const [k, v] of Object.entries(spec.sysctls)) {
    s.push({ op: 'write', path: `/proc/sys/${k.replace(/\./g, '/')}`, data: String(v), field: `sysctls.${k}`, man: 'sysctl(8)', why: 'a namespaced kernel setting, written before /proc/sys is made read-only' });
  }
  return s;
}

/**
 * Parent phase: oom_score_adj, written by the stage (host root) into /proc/PID of the waiting child.
 * Not by the child itself: it is not dumpable (so nothing in the container can reach it before it is
 * the program), which makes its own /proc files root's, out of reach in a user namespace.
 */
export function oomSteps(spec: CanonicalSpec): StepDraft[] {
  if (spec.oomScoreAdj === undefined) return [];
  return [{ op: 'write', path: '/proc/{pid}/oom_score_adj', data: String(spec.oomScoreAdj), field: 'oom_score_adj', man: 'proc(5)', why: 'how eagerly the OOM killer picks this process (inherited by everything it starts); written by the host before the child goes on, since lowering it needs CAP_SYS_RESOURCE' }];
}

/** `ptyInChild`: with a tty, the child opens it in its own devpts (false: the stage allocates it). */
export function processSteps(spec: CanonicalSpec, host: HostFacts, opts: { ptyInChild?: boolean } = {}): StepDraft[] {
  const s: StepDraft[] = [];
  const p = spec.process;
  for (const r of spec.rlimits) {
    s.push({ op: 'setrlimit', resource: r.type, soft: r.soft, hard: r.hard, field: `rlimits.${r.type.replace(/^RLIMIT_/, '').toLowerCase()}`, man: 'setrlimit(2)', why: 'limits are inherited across execve; raising a hard limit needs CAP_SYS_RESOURCE, so this comes before the capability drop' });
  }
  if (p.init) {
    s.push({ op: 'init', field: 'process.init', man: 'wait(2)', why: 'PID 1 must reap orphans and forward signals: a tiny init forks here and the program runs as its child' });
  }
  const caps = spec.capabilities;
  const bset = new Set(caps.bounding);
  const dropped = ALL_CAPS.filter((c) => !bset.has(c));
  const seccomp = spec.seccomp ? seccompStep(spec.seccomp, host.arch) : null;
  // Without no_new_privs, installing a filter needs CAP_SYS_ADMIN: do it while we still have it.
  if (seccomp && !spec.noNewPrivs) s.push({ ...seccomp, why: seccomp.why + ' (installed before the capability drop because no_new_privs is off and the filter then needs CAP_SYS_ADMIN)' });
  if (dropped.length) {
    s.push({ op: 'capbset_drop', caps: dropped, field: 'capabilities', man: 'capabilities(7)', why: 'shrink the bounding set first: it caps what any later execve, even of a setuid binary, can gain' });
  }
  const switchUser = p.uid !== 0;
  if (switchUser) s.push({ op: 'keepcaps', on: true, field: 'process.user', man: 'prctl(2)', why: 'keep permitted capabilities across the uid change so the chosen ones can be restored right after' });
  s.push({ op: 'setgroups', gids: p.groups, field: 'process.groups', man: 'setgroups(2)', why: 'set supplementary groups before the gid and uid change, while CAP_SETGID is still held' });
  s.push({ op: 'setresgid', gid: p.gid, field: 'process.group', man: 'setresgid(2)', why: 'real, effective and saved gid; before the uid, because after it we could no longer change the gid' + fromImage(spec, 'process.group') });
  s.push({ op: 'setresuid', uid: p.uid, field: 'process.user', man: 'setresuid(2)', why: 'real, effective and saved uid of the program' + fromImage(spec, 'process.user') });
  if (p.tty) {
    // With its own /dev (a mount namespace, niwa's minimal /dev), the container opens the pty in
    // its own devpts instance: the terminal is then one of its /dev/pts (ttyname works inside).
    // Opened after the uid change, so the terminal belongs to the program's user (as at a login).
    if ((opts.ptyInChild ?? true) && spec.namespaces.mount !== undefined && !spec.mounts.some((m) => m.target === '/dev' || m.target === '/dev/pts')) {
      s.push({ op: 'openpty', path: '/dev/pts/ptmx', field: 'process.tty', man: 'pts(4)', why: 'open the pseudo-terminal in the container\'s own devpts instance and hand its master to the stage, which relays it to this terminal' });
    }
    s.push({ op: 'setsid', field: 'process.tty', man: 'setsid(2)', why: 'a new session, so the pseudo-terminal can become the controlling terminal' });
    s.push({ op: 'setctty', field: 'process.tty', man: 'ioctl_tty(2)', why: 'make the pty the controlling terminal and stdin/stdout/stderr (job control, Ctrl-C)' });
  }
  s.push({
    op: 'capset', effective: caps.effective, permitted: caps.permitted, inheritable: caps.inheritable, field: 'capabilities', man: 'capset(2)',
    why: 'the capability sets the program starts with; after the uid change, because that clears the effective set',
  });
  if (caps.ambient.length) {
    s.push({ op: 'ambient_raise', caps: caps.ambient, field: 'capabilities.sets.ambient', man: 'capabilities(7)', why: 'ambient capabilities survive execve of a non-setuid program run by a non-root user' });
  }
  s.push({ op: 'chdir', path: p.cwd, field: 'process.cwd', man: 'chdir(2)', why: 'the working directory, entered as the final user so permissions are checked as for the program' + fromImage(spec, 'process.cwd') });
  if (spec.noNewPrivs) {
    s.push({ op: 'no_new_privs', field: 'no_new_privs', man: 'prctl(2)', why: 'setuid bits and file capabilities can no longer raise privileges after execve' });
  }
  if (seccomp && spec.noNewPrivs) s.push({ ...seccomp, why: seccomp.why + ' (last before execve, so the setup above is not filtered)' });
  const env = Object.entries(p.env).map(([k, v]) => `${k}=${v}`);
  s.push({ op: 'execve', path: p.args[0], argv: p.args, env, field: 'process.args', man: 'execve(2)', why: 'replace the stage with the program; from here on only the program runs' + fromImage(spec, 'process.args') + envFromImage(spec) });
  return s;
}

/** " (from the image: WorkingDir)" when the image config filled this field. */
function fromImage(spec: CanonicalSpec, field: string): string {
  const f = spec.rootfs.kind === 'image' ? spec.rootfs.image?.fromImage[field] : undefined;
  return f ? ` — from the ${f}` : '';
}
function envFromImage(spec: CanonicalSpec): string {
  const f = spec.rootfs.kind === 'image' ? spec.rootfs.image?.fromImage : undefined;
  const keys = f ? Object.keys(f).filter((k) => k.startsWith('process.env.')).map((k) => k.slice(12)) : [];
  return keys.length ? `; env ${keys.join(', ')} from the image Env` : '';
}
