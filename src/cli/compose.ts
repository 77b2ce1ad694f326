// `niwa compose SUBCOMMAND`: the compose verb's own table. `config` prints the resolved project
// (interpolated, merged, extends resolved, profiles applied) like `docker compose config`.
// The orchestration subcommands (up, down, ps, logs, exec, run, start, stop, restart, kill, top, pull, images) live
// in compose-verbs.ts and the engine in src/compose/up.ts; the daily extras (ls, pause, unpause, rm,
// port, cp, wait, events) each in src/cli/compose/. Each is one entry of SUBCOMMANDS, which also
// gives every subcommand its --help.
import { formatDetail, UserError } from '../errors.js';
import { parseArgs, type ArgSpec, type ParsedArgs } from './args.js';
import type { Verb } from './main.js';
import type { LoadComposeOptions } from '../compose/index.js';

/** Flags every compose subcommand takes (before or after the subcommand). */
export const PROJECT_FLAGS: ArgSpec = {
  values: { file: 'f', 'env-file': '', profile: '', 'project-name': 'p', 'project-directory': '' },
  repeat: ['file', 'env-file', 'profile'],
};

export interface Subcommand {
  summary: string;
  usage: string;
  /** Flags beyond PROJECT_FLAGS. */
  args?: ArgSpec;
  run(a: ParsedArgs, project: LoadComposeOptions): Promise<number>;
  /** Options end at the first positional (SERVICE): the command after it keeps its own flags (exec, run). */
  commandAfterService?: boolean;
}

/** The project options the shared flags give. */
export function projectOptions(a: ParsedArgs): LoadComposeOptions {
  const list = (k: string) => (a.flags[k] as string[] | undefined) ?? [];
  const o: LoadComposeOptions = { cwd: process.cwd() };
  if (list('file').length) o.files = list('file');
  if (list('env-file').length) o.envFiles = list('env-file');
  if (list('profile').length) o.profiles = list('profile');
  if (a.flags['project-name']) o.projectName = a.flags['project-name'] as string;
  if (a.flags['project-directory']) o.projectDirectory = a.flags['project-directory'] as string;
  return o;
}

/** An orchestration subcommand: its code is in compose-verbs.ts, loaded only when it runs. */
const orchestration = (name: keyof typeof import('./compose-verbs.js'), summary: string, usage: string, args?: ArgSpec, commandAfterService = false): Subcommand => ({
  summary,
  usage: `niwa compose ${name} ${usage}`,
  args,
  commandAfterService,
  async run(a, project) {
    const verbs = await import('./compose-verbs.js');
    return verbs[name](a, project);
  },
});

/** A subcommand in its own file under src/cli/compose/, loaded only when it runs. */
const extra = (name: string, load: () => Promise<object>, summary: string, usage: string, args?: ArgSpec): Subcommand => ({
  summary,
  usage: `niwa compose ${name} ${usage}`,
  args,
  async run(a, project) { return ((await load()) as Record<string, Subcommand['run']>)[name](a, project); },
});

export const SUBCOMMANDS: Record<string, Subcommand> = {
  config: {
    summary: 'print the resolved project (interpolated, merged, extends resolved, profiles applied)',
    usage: 'niwa compose config [-f FILE]... [--env-file F] [--profile P] [-p NAME] [--format yaml|json] [--services] [--quiet]',
    args: { values: { format: '' }, booleans: { services: '', quiet: 'q', 'no-warnings': '' } },
    async run(a, project) {
      const { loadCompose, projectToConfig } = await import('../compose/index.js');
      const format = (a.flags.format as string | undefined) ?? 'yaml';
      if (format !== 'yaml' && format !== 'json') throw new UserError('E_USAGE', `compose config: unknown --format '${format}'`, [], 'use --format yaml or --format json');
      const r = await loadCompose({ ...project, skipCanonical: true, ...(a.positionals.length ? { services: a.positionals } : {}) });
      if (!a.flags['no-warnings']) for (const w of r.warnings) process.stderr.write(`warning: ${formatDetail(w)}\n`);
      if (a.flags.quiet) return 0;
      if (a.flags.services) {
        process.stdout.write(r.plan.order.join('\n') + '\n');
        return 0;
      }
      const data = projectToConfig(r.project);
      if (format === 'json') process.stdout.write(JSON.stringify(data, null, 2) + '\n');
      else {
        const { stringify } = await import('../vendor/yaml.js');
        // YAML 1.1 style quoting, so that values like "no" or "on" stay strings for every reader
        process.stdout.write(stringify(data, { lineWidth: 0, version: '1.1' }));
      }
      return 0;
    },
  },
  up: orchestration('up', 'create and start the services (in dependency order); foreground: follow them until Ctrl-C / q',
    '[-d] [--wait] [--wait-timeout SECS] [--no-deps] [--force-recreate] [--remove-orphans] [--abort-on-container-exit] [--exit-code-from SERVICE] [--scale SERVICE=N] [--build] [--watch] [--progress auto|tty|plain|json] [--json] [-t SECS] [SERVICE...]',
    { values: { progress: '', 'wait-timeout': '', timeout: 't', 'exit-code-from': '', scale: '' }, booleans: { detach: 'd', wait: '', 'no-deps': '', json: '', quiet: 'q', 'no-warnings': '', 'force-recreate': '', 'remove-orphans': '', 'abort-on-container-exit': '', build: '', watch: '' }, repeat: ['scale'] }),
  create: orchestration('create', 'make the containers (images, volumes, files, networks, containers with status created); nothing starts: compose start starts them', '[--force-recreate] [SERVICE...]', { booleans: { 'force-recreate': '', quiet: 'q', 'no-warnings': '' } }),
  down: orchestration('down', 'stop and remove the containers and networks (-v: and the named volumes)', '[-v] [-t SECS] [--rmi all|local] [--remove-orphans]', { values: { timeout: 't', rmi: '' }, booleans: { volumes: 'v', 'remove-orphans': '' } }),
  ps: orchestration('ps', 'list the project\'s containers', '[--json] [-a] [SERVICE...]', { booleans: { json: '', all: 'a' } }),
  logs: orchestration('logs', 'show the services\' output, prefixed by container (-f to follow)', '[-f] [--tail N] [--since T] [--until T] [-t] [--no-color] [--raw] [SERVICE...]', { values: { tail: '', since: '', until: '' }, booleans: { follow: 'f', timestamps: 't', 'no-color': '', raw: '' } }),
  exec: orchestration('exec', 'run a command in a running service', '[-i] [-t] [-T] [-u USER] [-e K=V]... [-w DIR] [--privileged] [--index N] SERVICE CMD [ARGS...]',
    { values: { user: 'u', env: 'e', workdir: 'w', index: '' }, booleans: { interactive: 'i', tty: 't', 'no-tty': 'T', privileged: '', detach: 'd' }, repeat: ['env'] }, true),
  run: orchestration('run', 'run a one-off command in a new container of a service, on the project\'s networks (attached: stdin and a terminal are the container\'s; -T: no terminal)', '[--rm] [-d] [-T] [--no-deps] [--service-ports] [--name N] [-e K=V]... [-v SRC:DST[:ro]]... [-w DIR] [-u USER[:GROUP]] [--entrypoint CMD] [--progress plain|json] [--json] [-q] SERVICE [CMD...]',
    { values: { name: '', env: 'e', volume: 'v', workdir: 'w', user: 'u', entrypoint: '', progress: '' }, booleans: { rm: '', detach: 'd', 'no-tty': 'T', 'no-deps': '', 'service-ports': '', 'no-warnings': '', json: '', quiet: 'q' }, repeat: ['env', 'volume'] }, true),
  start: orchestration('start', 'start existing services (with -p NAME and no compose file: from the steps the project stored)', '[SERVICE...]', { booleans: { 'no-warnings': '' } }),
  stop: orchestration('stop', 'stop services (reverse dependency order)', '[-t SECS] [SERVICE...]', { values: { timeout: 't' } }),
  restart: orchestration('restart', 'restart services (with -p NAME and no compose file: from the steps the project stored)', '[-t SECS] [SERVICE...]', { values: { timeout: 't' }, booleans: { 'no-warnings': '' } }),
  kill: orchestration('kill', 'send a signal to services (default SIGKILL)', '[-s SIG] [SERVICE...]', { values: { signal: 's' } }),
  top: orchestration('top', 'show the processes of services', '[SERVICE...]'),
  pull: orchestration('pull', 'pull the images of the services (all at once; checks the registry even when present)', '[-q] [--ignore-pull-failures] [SERVICE...]', { booleans: { quiet: 'q', 'ignore-pull-failures': '' } }),
  plan: orchestration('plan', 'print the project plan: every image, volume, file, network step and launch plan that up would run, and what down undoes',
    '[--json] [--explain] [--full] [--no-deps] [--force-recreate] [--scale SERVICE=N] [SERVICE...]', { values: { scale: '' }, booleans: { json: '', explain: '', full: '', 'no-deps': '', 'force-recreate': '', 'no-warnings': '' }, repeat: ['scale'] }),
  build: {
    summary: 'build the images of the services that have build: (all, or the ones named)',
    usage: 'niwa compose build [--no-cache] [--build-arg K=V]... [-q] [SERVICE...]',
    args: { booleans: { 'no-cache': '', quiet: 'q' }, values: { 'build-arg': '' }, repeat: ['build-arg'] },
    async run(a, project) { return (await import('./compose-build.js')).composeBuild(a, project); },
  },
  watch: {
    summary: 'up, then follow develop.watch: sync changed files into containers, rebuild and recreate (Ctrl-C stops watching)',
    usage: 'niwa compose watch [SERVICE...]',
    args: { booleans: { 'no-warnings': '' } },
    async run(a, project) { return (await import('./compose-watch.js')).composeWatch(a, project); },
  },
  images: orchestration('images', 'the images the services use: name, digest, size (or not pulled)', '[--json] [SERVICE...]', { booleans: { json: '' } }),
  ls: extra('ls', () => import('./compose/ls.js'), 'list compose projects (from the state root; -a: stopped ones too)', '[-a] [--format table|json] [-q] [FILTER]', { values: { format: '' }, booleans: { all: 'a', quiet: 'q' } }),
  pause: extra('pause', () => import('./compose/freeze.js'), 'freeze the services\' containers (cgroup freezer)', '[SERVICE...]'),
  unpause: extra('unpause', () => import('./compose/freeze.js'), 'thaw the services\' paused containers', '[SERVICE...]'),
  rm: extra('rm', () => import('./compose/rm.js'), 'remove the services\' stopped containers (-s: stop them first; -v: and their anonymous volumes)', '[-f] [-s] [-v] [SERVICE...]', { booleans: { force: 'f', stop: 's', volumes: 'v' } }),
  port: extra('port', () => import('./compose/port.js'), 'print the host address a published port of a service listens on', '[--protocol tcp|udp] [--index N] SERVICE PRIVATE_PORT', { values: { protocol: '', index: '' } }),
  cp: extra('cp', () => import('./compose/cp.js'), 'copy files between a service\'s running container and the host (paths resolved inside the container\'s root)', '[--index N] SERVICE:SRC_PATH DEST_PATH | SRC_PATH SERVICE:DEST_PATH', { values: { index: '' } }),
  wait: extra('wait', () => import('./compose/wait.js'), 'wait until the services\' containers end; print their exit codes', 'SERVICE...'),
  events: extra('events', () => import('./compose/events.js'), 'stream the containers\' events (start, die, pause, health_status, …)', '[--json] [SERVICE...]', { booleans: { json: '' } }),
};

/** Index of the first word that is not an option or an option's value (-1 when none). */
function firstPositional(words: string[], spec: ArgSpec): number {
  const values = spec.values ?? {};
  const shortValues = new Set(Object.values(values).filter(Boolean));
  for (let j = 0; j < words.length; j++) {
    const w = words[j];
    if (w === '--') return j + 1 < words.length ? j + 1 : -1;
    if (!w.startsWith('-') || w === '-') return j;
    if (w.startsWith('--')) { if (!w.includes('=') && w.slice(2) in values) j++; continue; }
    if (w.length === 2 && shortValues.has(w[1])) j++;
  }
  return -1;
}

function help(prefix = ''): string {
  const w = Math.max(...Object.keys(SUBCOMMANDS).map((k) => k.length));
  return [
    `${prefix}niwa compose [-f FILE]... [--env-file F] [--profile P] [-p NAME] [--project-directory DIR] COMMAND [options]`,
    '',
    'commands:',
    ...Object.entries(SUBCOMMANDS).map(([k, v]) => `  ${k.padEnd(w)}  ${v.summary}`),
  ].join('\n');
}

/** `niwa compose SUB --help`: usage, summary and every flag, from the SUBCOMMANDS table. */
export function subcommandHelp(name: string, sub: Subcommand): string {
  const flags = (spec: ArgSpec | undefined) => [
    ...Object.entries(spec?.booleans ?? {}).map(([k, s]) => `${s ? `-${s}, ` : '    '}--${k}`),
    ...Object.entries(spec?.values ?? {}).map(([k, s]) => `${s ? `-${s}, ` : '    '}--${k} VALUE${spec?.repeat?.includes(k) ? ' (repeatable)' : ''}`),
  ].map((l) => `  ${l}`);
  const own = flags(sub.args);
  return [`usage: ${sub.usage}`, '', `${sub.summary}.`, '', ...(own.length ? ['options:', ...own, ''] : []),
    'project options (before or after the command):', ...flags(PROJECT_FLAGS), '', `(niwa compose ${name} -h: this help)`, ''].join('\n');
}

/** Where the subcommand is: the first word that names one and is not the value of a project flag. */
function subcommandIndex(argv: string[]): number {
  return argv.findIndex((x, j) => SUBCOMMANDS[x] !== undefined && !(j > 0 && /^(-f|--file|--env-file|--profile|-p|--project-name|--project-directory)$/.test(argv[j - 1])));
}

export const verb: Verb = {
  summary: 'run multi-container projects from Compose files (compose.yaml) or niwa\'s services: form',
  usage: help(),
  subcommands: true,
  // `compose run` passes the container's status through, so niwa's own failures are 125/126/127 there
  passesStatus: (argv) => argv[subcommandIndex(argv)] === 'run',
  async run(argv) {
    // project flags may come before the subcommand: split at the first word that names one
    const i = subcommandIndex(argv);
    if (i < 0) {
      if (argv.includes('--help') || argv.includes('-h')) { process.stdout.write(help('usage: ') + '\n'); return 0; }
      const unknown = argv.find((x) => !x.startsWith('-'));
      if (unknown) throw new UserError('E_USAGE', `compose: unknown command '${unknown}'`, [], `commands: ${Object.keys(SUBCOMMANDS).join(', ')}`);
      process.stdout.write(help('usage: ') + '\n');
      return 2;
    }
    const sub = SUBCOMMANDS[argv[i]];
    const spec: ArgSpec = {
      values: { ...PROJECT_FLAGS.values, ...sub.args?.values },
      booleans: { ...sub.args?.booleans },
      repeat: [...(PROJECT_FLAGS.repeat ?? []), ...(sub.args?.repeat ?? [])],
    };
    // Before the subcommand only the project flags exist (-f is --file); after it the subcommand's
    // own short flags win (`logs -f` follows), and the project flags' long forms still work.
    const head = parseArgs(argv.slice(0, i), PROJECT_FLAGS, 'compose');
    if (head.positionals.length) throw new UserError('E_USAGE', `compose: unexpected '${head.positionals[0]}' before '${argv[i]}'`);
    let words = argv.slice(i + 1);
    let command: string[] | undefined;
    if (sub.commandAfterService) {
      const cut = firstPositional(words, spec);
      if (cut >= 0) {
        command = words.slice(cut);
        if (command[1] === '--') command.splice(1, 1);
        words = words.slice(0, cut);
      }
    }
    if (words.includes('--help') || words.includes('-h')) { process.stdout.write(subcommandHelp(argv[i], sub)); return 0; }
    const a = parseArgs(words, spec, `compose ${argv[i]}`);
    for (const [k, v] of Object.entries(head.flags)) {
      const mine = a.flags[k];
      a.flags[k] = Array.isArray(v) && Array.isArray(mine) ? [...v, ...mine] : mine ?? v;
    }
    if (command) { a.positionals.push(...command); }
    else if (sub.commandAfterService && a.rest.length) { a.positionals.push(...a.rest); a.rest = []; }
    try {
      return await sub.run(a, projectOptions(a));
    } catch (e) {
      if (e instanceof UserError && a.flags['no-warnings']) e.warnings = [];
      throw e;
    }
  },
};
