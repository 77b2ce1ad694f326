// The CLI: argv → verb table. Each verb lives in its own file and is imported only when used,
// so `niwa run` never loads Ink, React or the schema compiler unless it needs them.
import { formatError, NiwaError, passThroughExitCode } from '../errors.js';

export interface Verb {
  summary: string;
  usage: string;
  run(args: string[]): Promise<number>;
  /** Passes a container's status through (for these arguments): niwa's own failures exit 125/126/127
   *  as Docker's do (errors.ts passThroughExitCode). `compose` can answer per subcommand (`run`). */
  passesStatus?: boolean | ((args: string[]) => boolean);
  /** Subcommands with their own --help (`niwa image pull --help`): only a leading --help is answered here. */
  subcommands?: boolean;
}

type VerbLoader = () => Promise<Verb>;

/** The verb table. Add a verb: one file in src/cli/ exporting `verb`, one line here. */
export const VERBS: Record<string, { summary: string; load: VerbLoader; hidden?: boolean }> = {
  validate: { summary: 'check a spec and report every problem in it', load: async () => (await import('./validate.js')).verb },
  plan: { summary: 'print the launch plan a spec compiles to (--json for data)', load: async () => (await import('./plan.js')).verb },
  run: { summary: 'run a container from a spec (in the foreground, or -d under the project supervisor)', load: async () => (await import('./run.js')).verb },
  diff: { summary: 'compare two specs primitive by primitive and say what each difference changes', load: async () => (await import('./diff.js')).verb },
  exec: { summary: 'run a command inside a running container', load: async () => (await import('./exec.js')).verb },
  init: { summary: 'write a commented starter spec', load: async () => (await import('./init.js')).verb },
  up: { summary: 'start the containers one file describes (a TS barn or a Compose file) on the compose engine', load: async () => (await import('./barn.js')).upVerb },
  down: { summary: 'stop and remove what niwa up FILE started', load: async () => (await import('./barn.js')).downVerb },
  compose: { summary: 'multi-container projects from Compose files: up, down, ps, logs, exec, run, config, …', load: async () => (await import('./compose.js')).verb },
  ps: { summary: 'list the containers of every project (--project filters)', load: async () => (await import('./ps.js')).verb },
  logs: { summary: 'print or follow the logs of a container', load: async () => (await import('./logs.js')).verb },
  start: { summary: 'start stopped containers again from their spec (-a: attach, pass the exit status through)', load: async () => (await import('./start.js')).verb },
  restart: { summary: 'restart containers: stop, then run again from the same spec', load: async () => (await import('./restart.js')).verb },
  stop: { summary: 'stop containers (stop signal, then SIGKILL after the grace period)', load: async () => (await import('./stop.js')).verb },
  kill: { summary: 'send a signal to containers', load: async () => (await import('./kill.js')).verb },
  pause: { summary: 'freeze containers (cgroup freezer)', load: async () => (await import('./pause.js')).verb },
  unpause: { summary: 'thaw paused containers', load: async () => (await import('./unpause.js')).verb },
  rm: { summary: 'remove containers and every trace of them (-f: kill first)', load: async () => (await import('./rm.js')).verb },
  stats: { summary: 'CPU, memory and pids of running containers', load: async () => (await import('./stats.js')).verb },
  inspect: { summary: 'what niwa knows of containers as JSON: state, spec, plan summary, mounts, network, cgroup, health', load: async () => (await import('./inspect.js')).verb },
  top: { summary: 'the processes of a running container', load: async () => (await import('./top.js')).verb },
  image: { summary: 'images: pull, ls, rm, inspect, load, import, prune', load: async () => (await import('./image.js')).verb },
  pull: { summary: 'download an image from a registry (= image pull)', load: async () => (await import('./image.js')).pullVerb },
  images: { summary: 'list the images in the store (= image ls)', load: async () => (await import('./image.js')).imagesVerb },
  build: { summary: 'build an image from a Dockerfile (cached layers) into the image store', load: async () => (await import('./build.js')).verb },
  push: { summary: 'upload an image from the store to a registry', load: async () => (await import('./push.js')).verb },
  login: { summary: 'log in to a registry (checked, then saved where docker and podman look)', load: async () => (await import('./login.js')).verb },
  logout: { summary: 'remove the stored credentials of a registry', load: async () => (await import('./login.js')).logoutVerb },
  __supervise: { summary: 'the per-project supervisor daemon (started on demand)', hidden: true, load: async () => (await import('./supervise.js')).verb },
  '__ui-demo': { summary: 'the live view on a scripted project (tests, benchmarks)', hidden: true, load: async () => (await import('./ui-demo.js')).verb },
};

export function mainHelp(): string {
  const w = Math.max(...Object.keys(VERBS).filter((k) => !VERBS[k].hidden).map((k) => k.length));
  return [
    'niwa — a declarative Linux container composer',
    '',
    'usage: niwa <command> [options]',
    '',
    'commands:',
    ...Object.entries(VERBS).filter(([, v]) => !v.hidden).map(([k, v]) => `  ${k.padEnd(w)}  ${v.summary}`),
    '',
    'Run `niwa <command> --help` for the options of each command.',
    'Exit codes: 0 ok, 1 runtime failure, 2 usage error or invalid spec. run and exec exit with the',
    'container\'s status (128+N for signal N), and as Docker does for their own failures: 125 niwa',
    'failed (usage, invalid spec, setup), 126 the command cannot be executed, 127 it was not found.',
  ].join('\n');
}

let finished = false;
/** Exits at once with `code` (a daemon's end), as a finished command. */
export function exitNow(code: number): never { finished = true; process.exit(code); }
/** A command whose work never settles would otherwise exit 0 once nothing is left to wait for: a hidden hang. */
export function guardUnfinished(): void {
  // A reader that went away (`niwa plan --json | head`): stop as a tool killed by SIGPIPE would, without a stack.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => { if (e.code === 'EPIPE') exitNow(141); throw e; });
  process.on('exit', (code) => {
    if (finished || code !== 0) return;
    process.stderr.write('niwa: internal error (a bug, please report it): the command stopped before it finished (nothing was left to wait for)\n');
    process.exitCode = 1;
  });
}

export async function main(argv: string[]): Promise<number> {
  try { return await dispatch(argv); } finally { finished = true; }
}

async function dispatch(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (!cmd || cmd === '--help' || cmd === '-h' || cmd === 'help') {
    if (cmd === 'help' && rest[0] && VERBS[rest[0]]) return dispatch([rest[0], '--help']);
    process.stdout.write(mainHelp() + '\n');
    return cmd ? 0 : 2;
  }
  if (cmd === '--version' || cmd === '-V') {
    process.stdout.write('niwa 0.1.0\n');
    return 0;
  }
  const entry = VERBS[cmd];
  if (!entry) {
    process.stderr.write(`niwa: unknown command '${cmd}'\n  hint: run 'niwa --help' for the list of commands\n`);
    return 2;
  }
  let verb: Verb | undefined;
  try {
    verb = await entry.load();
    const own = rest.includes('--') ? rest.slice(0, rest.indexOf('--')) : rest; // `run -- ls -h` is not a help request
    if (verb.subcommands ? rest[0] === '--help' || rest[0] === '-h' : own.includes('--help') || own.includes('-h')) {
      process.stdout.write(`usage: ${verb.usage}\n\n${verb.summary}\n`);
      return 0;
    }
    return await verb.run(rest);
  } catch (e) {
    process.stderr.write(formatError(e) + '\n');
    if (typeof verb?.passesStatus === 'function' ? verb.passesStatus(rest) : verb?.passesStatus) return passThroughExitCode(e);
    return e instanceof NiwaError ? e.exitCode : 1;
  }
}
