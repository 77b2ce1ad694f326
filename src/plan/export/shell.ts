// `niwa plan --shell`: a LaunchPlan (and its spec) as a runnable bash script made of standard
// tools — unshare(1), nsenter(1), mount(8), pivot_root(8), hostname(1), sysctl(8), prlimit(1),
// capsh(1) — that builds the same container step by step, each block commented with the why of
// the plan step it stands for. Pure: plan in, text out. For students: read it, run it, compare.
//
// How the plan's phases become shell:
//  - prepare: mkdir/echo on the host (cgroup directories and limits), hooks run as commands;
//  - a trap runs the cleanup steps (kill what is left in the cgroups, rmdir them) on exit;
//  - parent: a subshell writes its own pid into each cgroup.procs and then execs unshare, so the
//    container is born inside its cgroups (niwa places the child before it runs user code);
//  - user namespace: a holder process is unshared first and the host writes its uid/gid maps
//    (as niwa's parent does); nsenter(1) then enters it as uid 0, like niwa's setresuid(0);
//  - clone: one unshare(1) with --fork creates the other namespaces (the cgroup namespace after
//    placement, as in niwa); its child runs the function container_setup as PID 1;
//  - child: mounts with mount(8), the root switch with pivot_root(8) (or capsh --chroot), then
//    one capsh(1) line for the privilege steps and a perl one-liner installing the plan's own
//    seccomp BPF program right before the program is executed.
// Known limits: the script resolves paths in the root as the host would (niwa resolves them
// with openat2(RESOLVE_IN_ROOT), so a symlink in a rootfs cannot point outside it); process.tty
// is not emulated (the program uses the calling terminal); with process.init bash stays PID 1.
import type { CanonicalSpec } from '../../spec/types.js';
import type { LaunchPlan, MountFlag, Step } from '../types.js';
import { describeCall } from '../format.js';

const q = (s: string) => (/^[\w./:@%+=,-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);

const UNSHARE_OPT: Record<string, string> = {
  CLONE_NEWNS: '--mount', CLONE_NEWUTS: '--uts', CLONE_NEWIPC: '--ipc', CLONE_NEWPID: '--pid', CLONE_NEWNET: '--net',
  CLONE_NEWCGROUP: '--cgroup', CLONE_NEWTIME: '--time', CLONE_NEWUSER: '--user',
};
const NSENTER_OPT: Record<string, string> = {
  user: '--user', mount: '--mount', uts: '--uts', ipc: '--ipc', pid: '--pid', net: '--net', cgroup: '--cgroup', time: '--time',
};
const MOUNT_OPT: Partial<Record<MountFlag, string>> = {
  MS_RDONLY: 'ro', MS_NOSUID: 'nosuid', MS_NODEV: 'nodev', MS_NOEXEC: 'noexec', MS_SYNCHRONOUS: 'sync', MS_DIRSYNC: 'dirsync',
  MS_NOATIME: 'noatime', MS_NODIRATIME: 'nodiratime', MS_RELATIME: 'relatime', MS_STRICTATIME: 'strictatime', MS_MANDLOCK: 'mand',
  MS_NOSYMFOLLOW: 'nosymfollow', MS_LAZYTIME: 'lazytime', MS_SILENT: 'silent',
};
const PROP: [MountFlag, string][] = [['MS_PRIVATE', 'private'], ['MS_SLAVE', 'slave'], ['MS_SHARED', 'shared'], ['MS_UNBINDABLE', 'unbindable']];
const PRLIMIT_OPT: Record<string, string> = {
  RLIMIT_AS: 'as', RLIMIT_CORE: 'core', RLIMIT_CPU: 'cpu', RLIMIT_DATA: 'data', RLIMIT_FSIZE: 'fsize', RLIMIT_LOCKS: 'locks',
  RLIMIT_MEMLOCK: 'memlock', RLIMIT_MSGQUEUE: 'msgqueue', RLIMIT_NICE: 'nice', RLIMIT_NOFILE: 'nofile', RLIMIT_NPROC: 'nproc',
  RLIMIT_RSS: 'rss', RLIMIT_RTPRIO: 'rtprio', RLIMIT_RTTIME: 'rttime', RLIMIT_SIGPENDING: 'sigpending', RLIMIT_STACK: 'stack',
};
/** seccomp(2) syscall numbers (SECCOMP_SET_MODE_FILTER = 1). */
const SYS_SECCOMP: Record<string, number> = { x86_64: 317, aarch64: 277 };

/** Helper functions the script defines; the container_setup function uses them inside the container. */
const HELPERS = `# Helpers (also passed into the container with declare -f).
# remount_bind TARGET OPTS: change the flags of a bind mount. In a user namespace the flags the
# host set (nosuid, nodev, ...) are locked and must be repeated, as niwa's keepLocked does.
remount_bind() {
  local keep
  keep=$(findmnt -no VFS-OPTIONS --mountpoint "$1" | tr , '\\n' | grep -xE 'nosuid|nodev|noexec|noatime|nodiratime|relatime' | paste -sd, || true)
  mount -o "remount,bind,$2\${keep:+,$keep}" "$1"
}
# mask_path P: hide P — a read-only empty tmpfs over a directory, /dev/null over anything else.
mask_path() {
  if [ -d "$1" ]; then mount -t tmpfs -o ro,nosuid,nodev tmpfs "$1"
  elif [ -e "$1" ]; then mount --bind /dev/null "$1"; fi
}
# readonly_path P: bind P onto itself and make that bind read-only.
readonly_path() {
  if [ -e "$1" ]; then mount --rbind "$1" "$1" && remount_bind "$1" ro; fi
}
`;

function comment(s: Step, indent = ''): string[] {
  return [`${indent}# [${s.index}] ${describeCall(s)}`, `${indent}#      ${s.why}${s.man ? ` — ${s.man}` : ''}${s.field ? ` [${s.field}]` : ''}`];
}

export interface ShellOptions { arch?: 'x86_64' | 'aarch64' }

/** The plan as a bash script. */
export function toShell(plan: LaunchPlan, spec: CanonicalSpec, opts: ShellOptions = {}): string {
  const arch = opts.arch ?? 'x86_64';
  const root = plan.rootDir;
  const out: string[] = [];
  const put = (...l: string[]) => out.push(...l);
  const byPhase = (ph: Step['phase']) => plan.steps.filter((s) => s.phase === ph);

  put('#!/bin/bash',
    `# niwa plan --shell: container '${plan.name}' from ${plan.spec}`,
    '# The same launch plan as `niwa run`, with standard tools (util-linux, capsh from libcap2-bin,',
    '# procps, iproute2, perl). Each block says which plan step it stands for and why.',
    '# Run it as root:  bash this-script.sh',
    'set -euo pipefail',
    '[ "$(id -u)" -eq 0 ] || { echo "$0: run this as root" >&2; exit 1; }',
    'for tool in unshare nsenter mount umount pivot_root findmnt capsh prlimit; do',
    '  command -v "$tool" >/dev/null || { echo "$0: $tool is missing (apt-get install util-linux libcap2-bin)" >&2; exit 1; }',
    'done',
    '',
    HELPERS);

  // ---- cleanup, registered first so that a failure anywhere still cleans up.
  const cg = plan.cgroups;
  put('# ==== cleanup — runs on exit, also after a failure (niwa does the same)', 'cleanup() {', '  set +e');
  put('  [ -n "${USERNS_HOLDER:-}" ] && kill -9 "$USERNS_HOLDER" 2>/dev/null');
  if (cg.length) {
    put('  # Kill what is left in the container\'s cgroups, then remove them.');
    for (const leaf of cg) put(`  [ -f ${q(leaf + '/cgroup.procs')} ] && for p in $(cat ${q(leaf + '/cgroup.procs')}); do kill -9 "$p" 2>/dev/null; done`);
  }
  for (const s of byPhase('cleanup')) {
    put(...comment(s, '  '));
    if (s.op === 'rmdir') put(`  rmdir ${q(s.path)} 2>/dev/null${s.bestEffort ? ' || true' : ` || { sleep 0.1; rmdir ${q(s.path)} 2>/dev/null; }`}`);
    else if (s.op === 'rmtree') put(`  rm -rf ${q(s.path)}`);
    else if (s.op === 'hook') put(hookLine(s, '  ') + ' || true');
    else if (s.op === 'ip') put(ipLine(s, '  ') + ' 2>/dev/null || true');
  }
  put('  return 0', '}', 'trap cleanup EXIT', '');

  // ---- prepare
  put('# ==== prepare — on the host, before the container process exists');
  for (const s of byPhase('prepare')) {
    put(...comment(s));
    if (s.op === 'mkdir') put(`mkdir -p -m ${s.mode.toString(8)} ${q(s.path)}`);
    else if (s.op === 'write') put(`echo ${q(s.data)} > ${q(s.path)}`);
    else if (s.op === 'copyroot') put(`mkdir -p ${q(s.path)}`, ...s.layers.map((l) => `cp -a ${q(l + '/.')} ${q(s.path)}  # (whiteouts of this layer are not applied by cp; niwa applies them)`));
    else if (s.op === 'hook') put(hookLine(s, ''));
    else if (s.op === 'ip') put(ipLine(s, ''));
    else put(`# (not exported: ${s.op})`);
  }
  put('');

  // ---- stage: joins and the time namespace become options of nsenter/unshare below.
  const nsenter: string[] = [];
  const unshare: string[] = [];
  put('# ==== stage — namespaces joined or unshared before the container process is created');
  for (const s of byPhase('stage')) {
    put(...comment(s));
    if (s.op === 'setns') { nsenter.push(`${NSENTER_OPT[s.ns] ?? '--' + s.ns}=${q(s.path)}`); put('#      → an nsenter option below'); }
    else if (s.op === 'unshare') { unshare.push(...s.flags.map((f) => UNSHARE_OPT[f])); put('#      → an unshare option below'); }
    else if (s.op === 'write' && s.path === '/proc/self/timens_offsets') {
      const mono = /monotonic (-?\d+)/.exec(s.data)?.[1] ?? '0';
      const boot = /boottime (-?\d+)/.exec(s.data)?.[1] ?? '0';
      unshare.push(`--monotonic=${mono}`, `--boottime=${boot}`);
      put('#      → unshare --monotonic/--boottime below');
    } else if (s.op === 'device_filter') {
      put('# (not exported: a shell cannot load an eBPF program, so this script runs WITHOUT the device allowlist;', '#  niwa run, runc and crun (from plan --oci) apply it)');
    } else put(`# (not exported: ${s.op})`);
  }
  if (!byPhase('stage').length) put('# (nothing to do)');
  put('');

  // ---- clone + parent
  const clone = plan.steps.find((s) => s.op === 'clone');
  const userNew = clone?.op === 'clone' && clone.flags.includes('CLONE_NEWUSER');
  const parent = byPhase('parent');
  if (userNew) {
    put('# ==== user namespace — created first by a holder process so that the host can write its maps,',
      '# as niwa\'s stage does while the child waits; the container then enters it as uid 0.',
      'unshare --user sleep infinity &',
      'USERNS_HOLDER=$!',
      'while [ "$(readlink /proc/$USERNS_HOLDER/ns/user)" = "$(readlink /proc/self/ns/user)" ]; do sleep 0.01; done');
    for (const s of parent) {
      if (s.op !== 'write' || !/\/(uid|gid)_map$/.test(s.path)) continue;
      put(...comment(s), `printf ${q(s.data)} > /proc/$USERNS_HOLDER/${s.path.split('/').pop()}`);
    }
    nsenter.unshift('--user=/proc/$USERNS_HOLDER/ns/user');
    put('');
  }
  const cloneFlags = clone?.op === 'clone' ? clone.flags.filter((f) => f !== 'CLONE_NEWUSER') : [];
  const cgroupNs = plan.steps.some((s) => s.phase === 'child' && s.op === 'unshare' && s.flags.includes('CLONE_NEWCGROUP'));
  const unshareOpts = [...cloneFlags.map((f) => UNSHARE_OPT[f]), ...(cgroupNs ? ['--cgroup'] : []), ...unshare, '--fork', '--kill-child'];

  const child = byPhase('child');
  put(...childFunction(child, spec, root, arch), '');

  put('# ==== clone — the container process is created');
  if (clone) put(...comment(clone));
  put('status=0', '(');
  for (const s of parent) {
    if (s.op === 'write' && s.data === '{pid}') {
      put(...comment(s, '  '), '  #      (here: this subshell joins the cgroup before unshare, so the container is born in it)', `  echo $BASHPID > ${q(s.path)}`);
    } else if (s.op === 'write' && s.path === '/proc/{pid}/oom_score_adj') {
      put(...comment(s, '  '), `  echo ${q(s.data)} > /proc/$BASHPID/oom_score_adj  # (inherited by the container)`);
    } else if (s.op === 'release_child') {
      put(...comment(s, '  '), '  #      (here: nothing to release — the namespaces are created only after the maps and cgroups exist)');
    }
  }
  if (cgroupNs) put('  # The cgroup namespace is unshared after placement (unshare --cgroup), so its root is the container\'s cgroup.');
  const cmd = `"$(declare -f remount_bind mask_path readonly_path container_setup); container_setup"`;
  put(`  exec ${nsenter.length ? `nsenter ${nsenter.join(' ')} -- ` : ''}unshare ${unshareOpts.join(' ')} -- /bin/bash -c ${cmd}`, ') || status=$?');
  put('exit "$status"');
  return out.join('\n') + '\n';
}

function ipLine(s: Step & { op: 'ip' }, indent: string): string {
  return `${indent}${s.netns ? `nsenter --net=${q(s.netns)} ` : ''}ip ${s.args.map(q).join(' ')}`;
}

function hookLine(s: Step & { op: 'hook' }, indent: string): string {
  return s.command ? `${indent}${s.command.map(q).join(' ')}${s.optional ? ' || true' : ''}` : `${indent}: # a function hook of the TypeScript spec: not exportable`;
}

/** The child phase as the bash function container_setup (runs as PID 1 of the new namespaces). */
function childFunction(child: Step[], spec: CanonicalSpec, root: string, arch: string): string[] {
  const out: string[] = ['# ==== child — inside the new namespaces (this function runs as their first process)', 'container_setup() {', '  set -euo pipefail', `  local ROOT=${q(root)}`];
  const put = (...l: string[]) => out.push(...l.map((x) => '  ' + x));
  const chroot = child.some((s) => s.op === 'chroot');
  let switched = false; // after chroot (shell: not yet done, paths still need $ROOT)
  const p = (path: string, inRoot?: string) => (inRoot ? `"$ROOT"${q(path)}` : chroot && switched && path.startsWith('/') ? `"$ROOT"${q(path)}` : q(path));
  const priv: Step[] = [];
  for (const s of child) {
    if (['capbset_drop', 'keepcaps', 'setgroups', 'capset', 'ambient_raise', 'no_new_privs', 'seccomp', 'execve'].includes(s.op)
      || ((s.op === 'setresuid' || s.op === 'setresgid') && s.field !== 'uid_map')
      || (s.op === 'chdir' && s.field === 'process.cwd')) { priv.push(s); continue; }
    out.push(...comment(s, '  '));
    switch (s.op) {
      case 'wait_parent': put('# (the maps and cgroups were written before this process was created)'); break;
      case 'setresgid': case 'setresuid': put('# (done by nsenter, which enters the user namespace as uid 0 and gid 0)'); break;
      case 'unshare': put('# (done by unshare --cgroup, after this process was placed in its cgroups)'); break;
      case 'ifup': put(`ip link set ${q(s.name)} up`); break;
      case 'sethostname': put(`hostname ${q(s.name)}`); break;
      case 'setdomainname': put(`domainname ${q(s.name)}`); break;
      case 'mkdir': put(`mkdir -p -m ${s.mode.toString(8)} ${p(s.path, s.inRoot)}`); break;
      case 'touch': put(`mkdir -p "$(dirname ${p(s.path, s.inRoot)})"`, `touch ${p(s.path, s.inRoot)}`, `chmod ${s.mode.toString(8)} ${p(s.path, s.inRoot)}`); break;
      case 'symlink': put(`mkdir -p "$(dirname ${p(s.path, s.inRoot)})"`, `ln -sfn ${q(s.target)} ${p(s.path, s.inRoot)}`); break;
      case 'write':
        if (s.path.startsWith('/proc/sys/') && !s.inRoot) {
          put(chroot ? `echo ${q(s.data)} > ${p(s.path)}` : `sysctl -q -w ${q(s.path.slice(10).replace(/\//g, '.') + '=' + s.data)}`);
        } else if (s.path === '/proc/self/oom_score_adj') put(`echo ${q(s.data)} > /proc/self/oom_score_adj`);
        else put(`${s.create && s.inRoot ? `mkdir -p "$(dirname ${p(s.path, s.inRoot)})"; ` : ''}printf %s ${q(s.data)} > ${p(s.path, s.inRoot)}`);
        break;
      case 'mount': put(...mountLines(s, p)); break;
      case 'umount2': put(`umount -l ${q(s.target)}`); break;
      case 'mask': put(`mask_path ${p(s.path)}`); break;
      case 'readonly': put(`readonly_path ${p(s.path)}`); break;
      case 'chdir': put(`cd ${p(s.path)}`); break;
      case 'pivot_root': put(`pivot_root ${q(s.newRoot)} ${q(s.putOld)}`); break;
      case 'chroot':
        put('# (done by capsh --chroot right before the program runs: a shell cannot chroot itself; until then', '#  the container paths below are written as "$ROOT"/path, which is the same file)');
        switched = true;
        break;
      case 'setrlimit': {
        const v = (n: number) => (n < 0 ? 'unlimited' : String(n));
        put(`prlimit --pid $$ --${PRLIMIT_OPT[s.resource] ?? s.resource.replace(/^RLIMIT_/, '').toLowerCase()}=${v(s.soft)}:${v(s.hard)}`);
        break;
      }
      case 'setsid': case 'setctty': put('# (not emulated: the program uses the terminal this script runs in)'); break;
      case 'init': put('# (emulated: bash stays PID 1 and waits for the program instead of exec-ing it)'); break;
      case 'hook': put('# (not exported: niwa runs this hook on the host while the child waits; run it by hand from another terminal)'); break;
      default: put(`# (not exported: ${s.op})`);
    }
  }
  out.push(...privilegeBlock(priv, spec, chroot ? root : undefined, arch));
  out.push('}');
  return out;
}

function mountLines(s: Step & { op: 'mount' }, p: (path: string, inRoot?: string) => string): string[] {
  const target = p(s.target, s.inRoot);
  const lines: string[] = [];
  if (s.mkTarget === 'dir') lines.push(`mkdir -p ${target}`);
  if (s.mkTarget === 'file') lines.push(`mkdir -p "$(dirname ${target})"`, `[ -e ${target} ] || touch ${target}`);
  const opts = s.flags.map((f) => MOUNT_OPT[f]).filter((x): x is string => !!x);
  const prop = PROP.find(([f]) => s.flags.includes(f));
  const rec = s.flags.includes('MS_REC');
  if (s.flags.includes('MS_REMOUNT')) {
    lines.push(s.keepLocked ? `remount_bind ${target} ${opts.join(',') || 'rw'}` : `mount -o remount${s.flags.includes('MS_BIND') ? ',bind' : ''}${opts.length ? ',' + opts.join(',') : ''} ${target}`);
  } else if (s.source === null && prop) {
    lines.push(`mount --make-${rec ? 'r' : ''}${prop[1]} ${target}`);
  } else if (s.flags.includes('MS_BIND')) {
    lines.push(`mount ${rec ? '--rbind' : '--bind'}${opts.length ? ` -o ${opts.join(',')}` : ''} ${q(s.source ?? 'none')} ${target}`);
  } else {
    const o = [...opts, ...(s.data ? [s.data] : [])];
    lines.push(`mount -t ${q(s.fstype ?? 'none')}${o.length ? ` -o ${q(o.join(','))}` : ''} ${q(s.source ?? 'none')} ${target}`);
  }
  return lines;
}

const capList = (c: string[]) => c.map((x) => x.toLowerCase()).join(',');

/** capsh(1) for bounding set, ids, capability sets, ambient, no_new_privs; perl for seccomp; exec. */
function privilegeBlock(priv: Step[], spec: CanonicalSpec, chrootDir: string | undefined, arch: string): string[] {
  const out: string[] = [];
  const put = (...l: string[]) => out.push(...l.map((x) => '  ' + x));
  for (const s of priv) out.push(...comment(s, '  '));
  const find = <K extends Step['op']>(op: K) => priv.find((s) => s.op === op) as (Step & { op: K }) | undefined;
  const exe = find('execve');
  const capsh: string[] = [];
  const seccompStep = find('seccomp');
  const seccompFirst = seccompStep !== undefined && priv.indexOf(seccompStep) < priv.findIndex((s) => s.op === 'capset');
  if (chrootDir) capsh.push(`--chroot=${q(chrootDir)}`);
  const drop = find('capbset_drop');
  if (drop) capsh.push(`--drop=${capList(drop.caps)}`);
  const groups = find('setgroups');
  const gid = find('setresgid');
  const uid = find('setresuid');
  if (find('keepcaps')) capsh.push('--keep=1');
  if (groups) capsh.push(`--groups=${groups.gids.join(',')}`);
  if (gid) capsh.push(`--gid=${gid.gid}`);
  if (uid && uid.uid !== 0) capsh.push(`--uid=${uid.uid}`);
  const cs = find('capset');
  if (cs) {
    const parts: string[] = [];
    const ep = cs.effective.filter((c) => cs.permitted.includes(c));
    const ponly = cs.permitted.filter((c) => !cs.effective.includes(c));
    if (ep.length) parts.push(`${capList(ep)}=ep`);
    if (ponly.length) parts.push(`${capList(ponly)}${parts.length ? '+' : '='}p`);
    if (cs.inheritable.length) parts.push(`${capList(cs.inheritable)}${parts.length ? '+' : '='}i`);
    capsh.push(`--caps=${q(parts.length ? parts.join(' ') : '=')}`);
  }
  const amb = find('ambient_raise');
  if (amb) capsh.push(`--addamb=${capList(amb.caps)}`);
  if (find('no_new_privs')) capsh.push('--no-new-privs');
  const cwd = priv.find((s) => s.op === 'chdir');
  const argv = exe ? exe.argv : spec.process.args;
  const env = exe ? exe.env : [];
  // The last hop: sh enters the working directory as the final user, then (perl installs the
  // seccomp filter and) execs the program.
  const prog: string[] = [];
  if (seccompStep && !seccompFirst) prog.push(...perlSeccomp(seccompStep, arch));
  prog.push(...argv.map(q));
  const finalSh = `--shell=/bin/sh -- -c 'cd "$1" && shift && exec "$@"' sh ${q(cwd && cwd.op === 'chdir' ? cwd.path : '/')} ${prog.join(' ')}`;
  const line: string[] = [];
  if (seccompStep && seccompFirst) line.push(...perlSeccomp(seccompStep, arch));
  line.push('capsh', ...capsh, finalSh);
  put('# One capsh(1) line does, in this order: the bounding set (--drop), the ids (--keep/--groups/--gid/--uid),',
    '# the capability sets (--caps), ambient (--addamb) and no_new_privs; sh then enters the working',
    `# directory as the final user${seccompStep ? ' and perl installs the seccomp program of the plan (BPF, as hex) before exec' : ''}.`);
  const envPart = `env -i ${env.map(q).join(' ')}`;
  if (spec.process.init) put(`${envPart} ${line.join(' ')} &`, 'wait $!');
  else put(`exec ${envPart} ${line.join(' ')}`);
  return out;
}

/** perl one-liner: seccomp(SECCOMP_SET_MODE_FILTER, 0, &sock_fprog) with the plan's BPF, then exec. */
function perlSeccomp(s: Step & { op: 'seccomp' }, arch: string): string[] {
  const hex = s.filter.map(([code, jt, jf, k]) => {
    const b = Buffer.alloc(8);
    b.writeUInt16LE(code, 0); b.writeUInt8(jt, 2); b.writeUInt8(jf, 3); b.writeUInt32LE(k >>> 0, 4);
    return b.toString('hex');
  }).join('');
  const script = `my $f = pack("H*", shift); my $p = pack("S x6 P", length($f) / 8, $f); syscall(${SYS_SECCOMP[arch]}, 1, 0, $p) == 0 or die "seccomp: $!\\n"; exec { $ARGV[0] } @ARGV or die "exec $ARGV[0]: $!\\n"`;
  return ['perl', '-e', q(script), hex];
}
