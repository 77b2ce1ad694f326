// `niwa exec [-i] [-t] [-u USER] [-e K=V] [-w DIR] [--privileged] [--project P] NAME -- CMD...`:
// run a command inside a running container; niwa exits with the command's status.
import { checkName } from '../spec/names.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Verb } from './main.js';
import { parseArgs } from './args.js';
import { RuntimeFailure, UserError } from '../errors.js';
import { probeHost } from '../validate/host.js';
import { TARGET_FLAGS, resolveContainer } from './target.js';
import { loadChecked } from './spec.js';
import { parseGroup, parsePasswd } from '../spec/load/identity.js';
import type { CanonicalSpec } from '../spec/types.js';
import type { LaunchPlan } from '../plan/types.js';
import type { ExecRequest } from '../plan/exec.js';
import { execInContainer } from '../runtime/exec.js';

export const verb: Verb = {
  summary: 'run a command inside a running container (its namespaces, cgroups, capabilities and seccomp filter)',
  usage: [
    'niwa exec [-i] [-t] [-u USER[:GROUP]] [-e K=V]... [-w DIR] [--privileged] [--project P] NAME -- CMD [ARGS...]',
    '',
    '  -i, --interactive   keep stdin open (otherwise the command reads end of file)',
    '  -t, --tty           allocate a pseudo-terminal',
    '  -u, --user          user name or uid (and :group), looked up in the container\'s /etc/passwd',
    '  -e, --env K=V       set an environment variable (repeatable; K alone takes it from niwa\'s environment)',
    '  -w, --workdir DIR   working directory inside the container',
    '  --privileged        every capability and no seccomp filter for this command',
    '  --project P         look for NAME in this project only',
    '  --state-root DIR    where state lives (default: $NIWA_STATE_ROOT or /run/niwa)',
    '',
    'NAME is a container name (from any project when unambiguous), its id, or a unique prefix of the id.',
    'Exit status: the command\'s; 125 when niwa fails, 126 when the command cannot be executed, 127 when it is not found.',
  ].join('\n'),
  passesStatus: true,
  async run(argv) {
    const a = parseArgs(argv, {
      values: { user: 'u', env: 'e', workdir: 'w', ...TARGET_FLAGS },
      booleans: { interactive: 'i', tty: 't', privileged: '' },
      repeat: ['env'],
    }, 'exec');
    const [name, ...more] = a.positionals;
    const args = a.rest.length ? [...more, ...a.rest] : more;
    if (!name || !args.length) throw new UserError('E_USAGE', 'exec: expected a container NAME and a command', [], 'usage: niwa exec NAME -- CMD [ARGS...]');
    const found = resolveContainer(a.flags, name, 'exec');
    const target = findContainer(found.t.root, found.t.project, found.name);
    const spec = target.spec ?? (await loadChecked(target.specFile, probeHost()));
    const req: ExecRequest = {
      args,
      // with a terminal, the terminal's TERM (as docker exec -t does), unless -e TERM=… says otherwise
      env: { ...(a.flags.tty && process.env.TERM ? { TERM: process.env.TERM } : {}), ...parseEnv((a.flags.env as string[] | undefined) ?? []) },
      ...(a.flags.workdir ? { cwd: String(a.flags.workdir) } : {}),
      ...(a.flags.user ? { user: resolveUser(String(a.flags.user), target.pid) } : {}),
      tty: Boolean(a.flags.tty),
      privileged: Boolean(a.flags.privileged),
    };
    const stdin = a.flags.interactive || a.flags.tty ? 'inherit' : 'ignore';
    // Ctrl-C / Ctrl-\ from our terminal reach the command directly (same process group, or its pty):
    // catch them so niwa lives until the command ends, without delivering them twice.
    const keyboard: NodeJS.Signals[] = ['SIGINT', 'SIGQUIT'];
    const fromTerminal = Boolean(process.stdin.isTTY) || req.tty;
    const swallow = () => {};
    if (fromTerminal) for (const s of keyboard) process.on(s, swallow);
    try {
      const r = await execInContainer({ pid: target.pid, cgroups: target.cgroups }, req, {
        spec,
        stdio: [stdin, 'inherit', 'inherit'],
        forwardSignals: ['SIGTERM', 'SIGHUP', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH', ...(fromTerminal ? [] : keyboard)],
      });
      return r.status;
    } finally {
      for (const s of keyboard) process.off(s, swallow);
    }
  },
};

export interface FoundContainer { pid: number; cgroups: string[]; specFile: string; spec?: CanonicalSpec }

/** The running container NAME of PROJECT, from the supervisor's state files. */
export function findContainer(stateRoot: string, project: string, name: string): FoundContainer {
  checkName(project, 'project name (--project)', 'exec');
  checkName(name, 'container name', 'exec');
  const dir = join(stateRoot, project, name);
  const read = <T>(f: string): T | undefined => { try { return JSON.parse(readFileSync(join(dir, f), 'utf8')) as T; } catch { return undefined; } };
  const st = read<{ pid?: number; cgroups?: string[]; specFile?: string; status?: string }>('state.json');
  if (!st) throw new RuntimeFailure('E_NO_CONTAINER', `no container '${name}' in project '${project}'`, { hint: `niwa ps --project ${project} lists them (state under ${stateRoot})` });
  const alive = st.pid !== undefined && (() => { try { process.kill(st.pid!, 0); return true; } catch { return false; } })();
  if (!st.pid || !alive || (st.status !== undefined && st.status !== 'running')) {
    throw new RuntimeFailure('E_NOT_RUNNING', `container '${name}' is not running${st.status ? ` (${st.status})` : ''}`, { hint: `start it first: niwa start ${name}` });
  }
  const plan = read<LaunchPlan>('plan.json');
  return { pid: st.pid, cgroups: st.cgroups ?? plan?.cgroups ?? [], specFile: st.specFile ?? plan?.spec ?? '', spec: read<CanonicalSpec>('spec.json') };
}

/** K=V pairs; a bare K takes its value from niwa's own environment (like docker exec -e K). */
export function parseEnv(list: string[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const kv of list) {
    const eq = kv.indexOf('=');
    if (eq === 0) throw new UserError('E_USAGE', `exec: bad --env '${kv}'`, [], 'write K=V');
    if (eq < 0) { if (process.env[kv] !== undefined) env[kv] = process.env[kv]!; } else env[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  return env;
}

/** USER[:GROUP] (names or ids) → ids, names looked up in the container's own /etc/passwd and /etc/group. */
export function resolveUser(spec: string, pid: number, etc = `/proc/${pid}/root/etc`): { uid: number; gid: number; groups: number[] } {
  const [u, g] = spec.split(':');
  const read = (f: string) => { try { return readFileSync(join(etc, f), 'utf8'); } catch { return ''; } };
  const passwd = parsePasswd(read('passwd'));
  const groups = parseGroup(read('group'));
  const num = (s: string) => /^[0-9]+$/.test(s);
  const pw = num(u) ? passwd.find((e) => e.uid === Number(u)) : passwd.find((e) => e.name === u);
  if (!num(u) && !pw) throw new UserError('E_USAGE', `exec: no user '${u}' in the container's /etc/passwd`);
  const uid = num(u) ? Number(u) : pw!.uid;
  let gid = pw?.gid ?? uid;
  if (g !== undefined && g !== '') {
    const gr = num(g) ? undefined : groups.find((e) => e.name === g);
    if (!num(g) && !gr) throw new UserError('E_USAGE', `exec: no group '${g}' in the container's /etc/group`);
    gid = num(g) ? Number(g) : gr!.gid;
  }
  const extra = pw ? groups.filter((e) => e.members.includes(pw.name)).map((e) => e.gid) : [];
  return { uid, gid, groups: [...new Set([gid, ...extra])] };
}
