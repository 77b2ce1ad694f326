// Compiles `niwa exec` and health-check probes into LaunchPlans for the native stage (pure):
// enter a running container's namespaces through /proc/PID/ns/*, join its cgroups, and run a
// command with the container's own restrictions (capabilities, no_new_privs, seccomp, user).
import type { CanonicalSpec, NamespaceKind } from '../spec/types.js';
import type { HostFacts, LaunchPlan, Phase, Step, StepDraft } from './types.js';
import { CLONE_FLAG, JOIN_ORDER, nsProcName } from './steps/namespaces.js';
import { processSteps } from './steps/process.js';
import { ALL_CAPS } from '../spec/capabilities.js';
import { UserError } from '../errors.js';

/** The running container: its host pid (PID 1 of its pid namespace) and its cgroup directories. */
export interface ExecTarget {
  pid: number;
  cgroups: string[];
}

export interface ExecRequest {
  args: string[];
  /** Overrides on top of the container's environment. */
  env?: Record<string, string>;
  /** Default: the container's process.user/group/groups. */
  user?: { uid: number; gid: number; groups?: number[] };
  /** Default: the container's process.cwd. */
  cwd?: string;
  /** Allocate a pseudo-terminal (the stage relays it). */
  tty?: boolean;
  /**
   * Every capability (true: all niwa knows; or the list given, e.g. the caller's own bounding set)
   * and no seccomp filter. no_new_privs and the namespaces stay as they are.
   */
  privileged?: boolean | string[];
}

/**
 * Why the namespaces are joined where they are:
 *  - pid and time apply only to the children of the caller: the stage joins them before clone,
 *    so the process it clones is born inside (and is not PID 1 there);
 *  - the others are joined by the child after the parent placed it in the container's cgroups:
 *    the stage itself stays in the host's mount namespace, where the cgroup paths resolve, and in
 *    the host's cgroup namespace (placement across cgroup namespaces can be refused);
 *  - user first (it grants the capabilities the other joins need), mount last (after it,
 *    /proc/PID/ns/* would resolve in the container's /proc, where PID means something else).
 */
export function compileExec(spec: CanonicalSpec, target: ExecTarget, req: ExecRequest, host: HostFacts): LaunchPlan {
  if (!req.args.length) throw new UserError('E_USAGE', 'exec: no command given', [], 'usage: niwa exec NAME -- CMD [ARGS...]');
  if (!Number.isInteger(target.pid) || target.pid <= 0) throw new UserError('E_USAGE', `exec: not a process id: ${target.pid}`);
  const kinds = JOIN_ORDER.filter((k) => spec.namespaces[k] !== undefined);
  const forChildren = (k: NamespaceKind) => k === 'pid' || k === 'time';
  const join = (k: NamespaceKind, why: string): StepDraft => ({
    op: 'setns', ns: k, path: `/proc/${target.pid}/ns/${nsProcName(k)}`, flag: CLONE_FLAG[k], field: `namespaces.${k}`, man: 'setns(2)', why,
  });

  const stage = kinds.filter(forChildren).map((k) => join(k, `join the container's ${k} namespace; it applies to the process cloned next, not to the stage itself`));
  const clone: StepDraft = { op: 'clone', flags: [], field: 'exec', man: 'clone(2)', why: 'fork the process that becomes the command (no new namespaces: it enters the container\'s)' };
  const parent: StepDraft[] = [
    ...target.cgroups.map((cg): StepDraft => ({
      op: 'write', path: `${cg}/cgroup.procs`, data: '{pid}', field: 'cgroup', man: 'cgroups(7)',
      why: 'place the command in the container\'s cgroup before it runs: its limits and accounting apply',
    })),
    { op: 'release_child', field: '', man: 'pipe(2)', why: 'the command is in the container\'s cgroups: let it go on' },
  ];

  const child: StepDraft[] = [
    { op: 'wait_parent', field: '', man: 'pipe(2)', why: 'wait until the parent has placed this process in the container\'s cgroups' },
  ];
  for (const k of kinds.filter((k) => !forChildren(k))) {
    child.push(join(k, k === 'user'
      ? 'join the container\'s user namespace first: it grants the capabilities that joining the others needs'
      : k === 'mount'
        ? 'join the container\'s mount namespace last; this also sets / and the working directory to the namespace\'s root'
        : k === 'cgroup'
          ? 'join the container\'s cgroup namespace after the placement, so /proc/self/cgroup reads as the container\'s'
          : `join the container's ${k} namespace`));
  }
  // pivot_root containers: joining the mount namespace lands in their root. chroot containers (and
  // a directory rootfs without a mount namespace) have theirs only as the process's root directory.
  const chrooted = spec.namespaces.mount === undefined ? spec.rootfs.kind === 'dir' : spec.root === 'chroot';
  if (chrooted) {
    child.push(
      { op: 'chdir', path: `/proc/${target.pid}/root`, field: 'root', man: 'proc(5)', why: 'the container was chrooted: enter its root directory through /proc/PID/root (the namespace root is not its root)' },
      { op: 'chroot', path: '.', field: 'root', man: 'chroot(2)', why: 'make the container\'s root directory ours' },
      { op: 'chdir', path: '/', field: 'root', man: 'chdir(2)', why: 'start from the new root' },
    );
  }
  const p = spec.process;
  const all = Array.isArray(req.privileged) ? req.privileged : ALL_CAPS;
  const caps = req.privileged ? { bounding: all, effective: all, permitted: all, inheritable: [], ambient: [] } : spec.capabilities;
  const execSpec: CanonicalSpec = {
    ...spec,
    capabilities: caps,
    seccomp: req.privileged ? null : spec.seccomp,
    process: {
      ...p,
      args: req.args,
      env: { ...p.env, ...req.env },
      cwd: req.cwd ?? p.cwd,
      uid: req.user?.uid ?? p.uid,
      gid: req.user?.gid ?? p.gid,
      groups: req.user ? (req.user.groups ?? []) : p.groups,
      tty: req.tty ?? false,
      init: false,
    },
  };
  // -t: with a mount namespace the command opens the terminal in the container's own devpts once it
  // has joined it (as `niwa run` does), so it has a name inside (tty, ps) — in a user namespace too.
  child.push(...processSteps(execSpec, host, { ptyInChild: true }).map((s) => (s.op === 'execve' ? { ...s, field: 'exec', why: 'replace the stage with the command, inside the container' } : s)));

  return assemble(spec, `${spec.name}-exec`, { stage, clone: [clone], parent, child }, execSpec.process.tty);
}

export interface ProbeRequest {
  /** Numeric IPv4/IPv6 address (resolved by the caller; inside the container's net ns). */
  address: string;
  port: number;
  timeoutMs: number;
  /** HTTP: the request text to send (the answer's status must be 2xx/3xx); null = a TCP connect. */
  request: string | null;
}

/**
 * A health-check probe in the container's network namespace only: the stage clones a process
 * that joins it and connects (no other namespace, no cgroup: it is not the container's workload,
 * and it works for any rootfs because no program of the container is run).
 */
export function compileProbe(spec: CanonicalSpec, target: { pid: number }, probe: ProbeRequest): LaunchPlan {
  const child: StepDraft[] = [];
  if (spec.namespaces.net !== undefined) {
    child.push({ op: 'setns', ns: 'net', path: `/proc/${target.pid}/ns/net`, flag: 'CLONE_NEWNET', field: 'namespaces.net', man: 'setns(2)', why: 'join the container\'s network namespace: its 127.0.0.1 is the container\'s own loopback' });
  }
  child.push({ op: 'probe', ...probe, field: 'healthcheck', man: 'connect(2)', why: 'the health check: connect (and for HTTP, send the request and read the status line); exit 0 if healthy' });
  return assemble(spec, `${spec.name}-probe`, {
    stage: [],
    clone: [{ op: 'clone', flags: [], field: 'healthcheck', man: 'clone(2)', why: 'fork the probe process' }],
    parent: [],
    child,
  }, false);
}

/** The HTTP/1.0 request a probe sends for `url` (Host header as given; Connection: close). */
export function httpRequest(url: URL): string {
  return `GET ${url.pathname || '/'}${url.search} HTTP/1.0\r\nHost: ${url.host}\r\nUser-Agent: niwa-healthcheck\r\nConnection: close\r\n\r\n`;
}

function assemble(spec: CanonicalSpec, id: string, phases: Partial<Record<Phase, StepDraft[]>>, tty: boolean): LaunchPlan {
  const steps: Step[] = [];
  for (const phase of ['stage', 'clone', 'parent', 'child'] as Phase[]) {
    for (const d of phases[phase] ?? []) steps.push({ ...d, phase, index: steps.length } as Step);
  }
  return { version: 1, name: spec.name, id, project: '', spec: spec.file, rootDir: '/', cgroups: [], tty, steps, warnings: [] };
}
