// `niwa compose SUBCOMMAND`: the compose verb's own table. `config` prints the resolved project
// (interpolated, merged, extends resolved, profiles applied) like `docker compose config`.
// The orchestration subcommands are stubs until the engine lands: add one line each to SUBCOMMANDS.
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

const notYet = (name: string, summary: string): Subcommand => ({
  summary,
  usage: `niwa compose ${name} [SERVICE...]`,
  async run() {
    // STUB: the orchestration engine fills this in.
    process.stderr.write(`niwa: compose ${name} is not implemented yet\n  hint: 'niwa compose config' shows the resolved project\n`);
    return 1;
  },
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
        const { stringify } = await import('yaml');
        // YAML 1.1 style quoting, so that values like "no" or "on" stay strings for every reader
        process.stdout.write(stringify(data, { lineWidth: 0, version: '1.1' }));
      }
      return 0;
    },
  },
  up: notYet('up', 'create and start the services (in dependency order)'),
  down: notYet('down', 'stop and remove the services, networks and containers'),
  ps: notYet('ps', 'list the project\'s containers'),
  logs: notYet('logs', 'show the services\' output'),
  exec: notYet('exec', 'run a command in a running service'),
  run: notYet('run', 'run a one-off command in a new container of a service'),
  start: notYet('start', 'start existing services'),
  stop: notYet('stop', 'stop services (reverse dependency order)'),
  restart: notYet('restart', 'restart services'),
  kill: notYet('kill', 'send a signal to services'),
  top: notYet('top', 'show the processes of services'),
};

function help(prefix = ''): string {
  const w = Math.max(...Object.keys(SUBCOMMANDS).map((k) => k.length));
  return [
    `${prefix}niwa compose [-f FILE]... [--env-file F] [--profile P] [-p NAME] [--project-directory DIR] COMMAND [options]`,
    '',
    'commands:',
    ...Object.entries(SUBCOMMANDS).map(([k, v]) => `  ${k.padEnd(w)}  ${v.summary}`),
  ].join('\n');
}

export const verb: Verb = {
  summary: 'run multi-container projects from Compose files (compose.yaml) or niwa\'s services: form',
  usage: help(),
  async run(argv) {
    // project flags may come before the subcommand: split at the first word that names one
    const i = argv.findIndex((x, j) => SUBCOMMANDS[x] !== undefined && !(j > 0 && /^(-f|--file|--env-file|--profile|-p|--project-name|--project-directory)$/.test(argv[j - 1])));
    if (i < 0) {
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
    const a = parseArgs([...argv.slice(0, i), ...argv.slice(i + 1)], spec, `compose ${argv[i]}`);
    return sub.run(a, projectOptions(a));
  },
};
