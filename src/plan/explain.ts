// `niwa plan --explain`: each step of a LaunchPlan with why it is there, its man page, and
// what a student can run (on the host, with the container's PID, or inside the container) to
// see its effect. Pure: plan in, text out.
import type { CloneFlag, LaunchPlan, Phase, Step } from './types.js';
import { describeCall, optionOf } from './format.js';

/** Where to run a command: on the host (PID = the container's host pid) or inside the container. */
export interface Look { where: 'host' | 'inside'; cmd: string }

export interface StepExplanation {
  index: number;
  phase: Phase;
  call: string;
  field: string;
  why: string;
  man?: string;
  look: Look[];
}

const NS_PROC: Record<CloneFlag, string> = {
  CLONE_NEWUSER: 'user', CLONE_NEWNS: 'mnt', CLONE_NEWUTS: 'uts', CLONE_NEWIPC: 'ipc',
  CLONE_NEWPID: 'pid', CLONE_NEWNET: 'net', CLONE_NEWCGROUP: 'cgroup', CLONE_NEWTIME: 'time',
};
/** nsenter(1) option entering that namespace. */
const NSENTER: Record<string, string> = { user: '-U', mnt: '-m', uts: '-u', ipc: '-i', pid: '-p', net: '-n', cgroup: '-C', time: '-T' };

const host = (cmd: string): Look => ({ where: 'host', cmd });
const inside = (cmd: string): Look => ({ where: 'inside', cmd });
const sq = (s: string) => (/^[\w./:@%+=,-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);

/** A path as the container sees it after the root switch (targets in the plan are already relative to the root). */
function mountinfoGrep(target: string): Look[] {
  return [host(`grep ' ${target} ' /proc/$PID/mountinfo`), inside(`findmnt ${sq(target)}`)];
}

function capsLook(field: string): Look[] {
  return [host(`grep ${field} /proc/$PID/status`), host(`capsh --decode=$(awk '/^${field}/{print $2}' /proc/$PID/status)`)];
}

/** The commands that show a step's effect. */
export function lookFor(s: Step): Look[] {
  switch (s.op) {
    case 'mkdir':
      if (s.path.startsWith('/sys/fs/cgroup')) return [host(`ls ${sq(s.path)}  # the controller files the kernel created in it`), host(`cat ${sq(s.path)}/cgroup.procs  # the container's processes, once it runs`)];
      return s.inRoot ? [inside(`ls -ld ${sq(s.path)}`)] : [host(`ls -ld ${sq(s.path)}`)];
    case 'rmdir': return [host(`ls -d ${sq(s.path)}  # "No such file or directory" once the container is gone`)];
    case 'write': {
      if (s.path.includes('{pid}')) {
        const p = s.path.replace('{pid}', '$PID');
        if (s.path.endsWith('/cgroup.procs')) return [host(`cat ${sq(s.path.replace('/cgroup.procs', ''))}/cgroup.procs  # holds $PID`), host('cat /proc/$PID/cgroup')];
        return [host(`cat ${p}`)];
      }
      if (s.path.endsWith('/cgroup.procs') && s.data === '{pid}') return [host(`cat ${sq(s.path)}  # holds $PID`), host('cat /proc/$PID/cgroup')];
      if (s.path.startsWith('/sys/fs/cgroup')) return [host(`cat ${sq(s.path)}`)];
      if (s.path === '/proc/self/timens_offsets') return [host('cat /proc/$PID/timens_offsets'), inside('cat /proc/uptime')];
      if (s.path.endsWith('/oom_score_adj')) return [host('cat /proc/$PID/oom_score_adj')];
      if (s.path.startsWith('/proc/sys/')) {
        const key = s.path.slice('/proc/sys/'.length).replace(/\//g, '.');
        return [inside(`sysctl ${key}`), host(`sysctl ${key}  # the host's value is unchanged (namespaced setting)`)];
      }
      return s.inRoot ? [inside(`cat ${sq(s.path)}`)] : [host(`cat ${sq(s.path)}`)];
    }
    case 'touch': return [inside(`ls -l ${sq(s.path)}`)];
    case 'symlink': return [inside(`ls -l ${sq(s.path)}`)];
    case 'setns': {
      const n = NS_PROC[s.flag];
      return [host(`readlink /proc/$PID/ns/${n} ${sq(s.path)}  # the same namespace`)];
    }
    case 'unshare':
    case 'clone': {
      const names = s.flags.map((f) => NS_PROC[f]);
      const looks: Look[] = [host('ls -l /proc/$PID/ns /proc/self/ns  # compare: the new ones differ from the host\'s'), host('lsns -p $PID')];
      for (const n of names) {
        if (n === 'uts') looks.push(host(`nsenter -t $PID ${NSENTER.uts} hostname`));
        if (n === 'pid') looks.push(inside('echo $$; ps -e  # PID 1 and only the container\'s processes'), host('grep NSpid /proc/$PID/status  # its pid outside, then inside'));
        if (n === 'net') looks.push(host(`nsenter -t $PID ${NSENTER.net} ip link  # only lo`));
        if (n === 'ipc') looks.push(inside('ipcs  # empty'));
        if (n === 'user') looks.push(host('cat /proc/$PID/uid_map /proc/$PID/gid_map'));
        if (n === 'cgroup') looks.push(inside('cat /proc/self/cgroup  # the container\'s cgroup shows as /'));
        if (n === 'time') looks.push(host('cat /proc/$PID/timens_offsets'));
        if (n === 'mnt') looks.push(host('cat /proc/$PID/mountinfo  # differs from /proc/self/mountinfo'));
      }
      if (s.op === 'clone') looks.push(host('ps -o pid,ppid,comm -p $PID  # its parent is the niwa-stage shim'));
      return looks;
    }
    case 'release_child':
    case 'wait_parent':
      return [host('cat /proc/$PID/wchan; echo  # while waiting: pipe_read')];
    case 'mount': {
      if (s.source === null && s.target === '/' && s.flags.includes('MS_PRIVATE')) {
        return [host('grep -c shared: /proc/$PID/mountinfo  # 0: no mount propagates to or from the host'), host('findmnt -o TARGET,PROPAGATION -N $PID | head')];
      }
      if (s.inRoot === undefined && s.flags.includes('MS_REMOUNT')) return [host(`grep ' / ' /proc/$PID/mountinfo  # ro in the options`), inside('touch /x  # Read-only file system')];
      if (s.inRoot === undefined) return [host(`grep ${sq(s.target)} /proc/$PID/mountinfo`)];
      const looks = mountinfoGrep(s.target);
      if (s.flags.includes('MS_RDONLY')) looks.push(inside(`touch ${sq(s.target === '/' ? '/x' : s.target.replace(/\/$/, '') + '/x')}  # Read-only file system`));
      if (s.fstype === 'proc') looks.push(inside('ls /proc  # the pids of this pid namespace'));
      if (s.fstype === 'tmpfs' && s.data?.includes('size=')) looks.push(inside(`df -h ${sq(s.target)}`));
      return looks;
    }
    case 'umount2': return [host('cat /proc/$PID/mountinfo  # no line for the host\'s old root'), inside('cat /proc/self/mountinfo')];
    case 'mask': return [inside(`cat ${sq(s.path)} 2>&1 | head -c 100; ls ${sq(s.path)} 2>&1 | head  # empty`), host(`grep ' ${s.path} ' /proc/$PID/mountinfo`)];
    case 'readonly': return [inside(`touch ${sq(s.path)}/x 2>&1  # Read-only file system (or Permission denied)`), host(`grep ' ${s.path} ' /proc/$PID/mountinfo  # ro`)];
    case 'pivot_root': return [host('ls -l /proc/$PID/root/'), host('head -1 /proc/$PID/mountinfo  # the new root is /'), inside('cat /proc/self/mountinfo  # no host paths')];
    case 'chroot': return [host('ls -l /proc/$PID/root  # a link to the root directory on the host'), host('diff <(cat /proc/$PID/mountinfo) /proc/self/mountinfo | head  # the host mounts are still all there')];
    case 'chdir': return [host('ls -l /proc/$PID/cwd')];
    case 'sethostname': return [inside('hostname; uname -n'), host(`nsenter -t $PID -u hostname; hostname  # the host keeps its name`)];
    case 'setdomainname': return [inside('domainname; cat /proc/sys/kernel/domainname')];
    case 'ifup': return [host(`nsenter -t $PID -n ip link show ${s.name}  # UP`), inside('ping -c1 127.0.0.1')];
    case 'setrlimit': return [host('cat /proc/$PID/limits'), host('prlimit --pid $PID'), inside('ulimit -a')];
    case 'capbset_drop': return capsLook('CapBnd');
    case 'keepcaps': return [host('grep CapPrm /proc/$PID/status  # kept across the uid change')];
    case 'setgroups': return [host('grep Groups /proc/$PID/status')];
    case 'setresgid': return [host("grep '^Gid' /proc/$PID/status  # real, effective, saved, fs")];
    case 'setresuid': return [host("grep '^Uid' /proc/$PID/status  # real, effective, saved, fs"), inside('id')];
    case 'capset': return [...capsLook('CapEff'), host('grep -E "^Cap(Inh|Prm|Eff)" /proc/$PID/status')];
    case 'ambient_raise': return capsLook('CapAmb');
    case 'no_new_privs': return [host('grep NoNewPrivs /proc/$PID/status  # 1')];
    case 'seccomp': return [host('grep Seccomp /proc/$PID/status  # 2 = filter mode'), inside('grep Seccomp_filters /proc/self/status')];
    case 'setsid': return [host('ps -o pid,sid,tty,comm -p $PID')];
    case 'setctty': return [host('ls -l /proc/$PID/fd/0 /proc/$PID/fd/1  # the pty'), inside('tty')];
    case 'init': return [host('cat /proc/$PID/comm  # niwa-init'), host('ps -o pid,comm --ppid $PID  # the program is its child')];
    case 'execve': return [host("tr '\\0' ' ' < /proc/$PID/cmdline; echo"), host("tr '\\0' '\\n' < /proc/$PID/environ"), host('ls -l /proc/$PID/exe')];
    case 'hook': return [host('# the hook\'s output and exit status appear in niwa\'s output (niwa run -v)')];
    case 'device_filter': return [host('bpftool cgroup show ' + sq(s.cgroup) + '  # a cgroup_device program'), inside('head -c1 /dev/null && echo ok; mknod /tmp/sda b 8 0 && head -c1 /tmp/sda  # Operation not permitted')];
    case 'openpty': return [inside('tty; ls /dev/pts  # the terminal is one of the container\'s own')];
    case 'probe': return [host('# the probe\'s one-line result is the health check output (niwa ps / the health events)')];
    case 'ip': return s.netns ? [host(`nsenter --net=${sq(s.netns)} ip -brief addr; nsenter --net=${sq(s.netns)} ip route`), inside('ip -brief addr; ip route')] : [host('ip -brief link; ip -brief addr  # the nw… devices'), host('bridge link  # veths plugged into bridges')];
    case 'rmtree': return [host(`ls -d ${sq(s.path)}  # "No such file or directory" once the container is gone`)];
    case 'copyroot': return [host(`ls ${sq(s.path)}  # the image's files, merged`)];
    case 'netns': return [host(`grep ${sq(s.path)} /proc/self/mountinfo  # an nsfs bind mount keeps the namespace alive`), host(`nsenter --net=${sq(s.path)} ip link`)];
    case 'lease': case 'release': return [host(`cat ${sq(`${s.stateRoot}/net/leases.json`)}  # the lease database: subnets and addresses`)];
    case 'hosts': return [inside('cat /etc/hosts  # every container on the network, by name')];
    case 'publish': case 'unpublish': return [host(`ss -ltnup | grep -E ':(${s.ports.map((p) => p.hostPort).join('|')})\\b'  # niwa listens on the host port`), host(`curl -s 127.0.0.1:${s.ports[0]?.hostPort ?? 0}  # forwarded to the container`)];
  }
}

export function explainStep(s: Step): StepExplanation {
  return { index: s.index, phase: s.phase, call: describeCall(s), field: s.field, why: s.why, man: s.man, look: lookFor(s) };
}

export function explainPlan(plan: LaunchPlan): StepExplanation[] {
  return plan.steps.map(explainStep);
}

const PHASE_INTRO: Record<Phase, string> = {
  prepare: 'prepare — niwa (TypeScript) on the host, before the container process exists. The cgroup directories and limits can be inspected as soon as they are written.',
  stage: 'stage — the native stage (native/stage.c) before clone: joining existing namespaces, unsharing the time namespace.',
  clone: 'clone — the container process is born, already inside its new namespaces. From here on it has a PID on the host: call it $PID (niwa run --step prints it).',
  parent: 'parent — the stage writes what the child cannot write itself (uid/gid maps, cgroup placement) while the child waits on a pipe.',
  child: 'child — inside the container process: mounts, root switch, hostname, limits, privileges, execve. Commands marked "inside" run in the container (e.g. as its program, or with nsenter -t $PID -a).',
  started: 'started — niwa on the host, once the program runs: after_start and poststart hooks.',
  cleanup: 'cleanup — niwa on the host, after the container has exited.',
};

/** The explained plan as text: per step the call, the spec field, why, the man page, and what to look at. */
export function formatExplain(plan: LaunchPlan): string {
  const out: string[] = [
    `launch plan for '${plan.name}' (${plan.spec}), explained`,
    `${plan.steps.length} step${plan.steps.length === 1 ? '' : 's'}. $PID below is the container's process id on the host; "host$" commands run on the host`,
    '(as root), "inside$" commands run in the container. Try them while it runs: niwa run --step pauses at each phase.',
  ];
  let phase: Phase | undefined;
  for (const e of explainPlan(plan)) {
    if (e.phase !== phase) {
      phase = e.phase;
      out.push('', `== ${PHASE_INTRO[phase]}`);
    }
    out.push('', `[${e.index}] ${e.call}`);
    out.push(`    why:  ${e.why}`);
    const opt = optionOf(plan.fromFlags, e.field);
    out.push(`    from: ${opt ? `option ${opt} (spec field ${e.field})` : e.field ? `spec field ${e.field}` : 'a built-in default (src/spec/defaults.ts or the embedded root)'}${e.man ? `   man: ${e.man}` : ''}`);
    for (const l of e.look) out.push(`    ${l.where === 'host' ? 'host$  ' : 'inside$'} ${l.cmd}`);
  }
  if (plan.warnings.length) out.push('', 'warnings:', ...plan.warnings.map((x) => `  ! ${x}`));
  return out.join('\n') + '\n';
}
