// The CLI: argv → verb table. Each verb lives in its own file and is imported only when used,
// so `niwa run` never loads Ink, React or the schema compiler unless it needs them.
import { formatError, NiwaError } from '../errors.js';

export interface Verb {
  summary: string;
  usage: string;
  run(args: string[]): Promise<number>;
}

type VerbLoader = () => Promise<Verb>;

/** The verb table. Add a verb: one file in src/cli/ exporting `verb`, one line here. */
export const VERBS: Record<string, { summary: string; load: VerbLoader }> = {
  validate: { summary: 'check a spec and report every problem in it', load: async () => (await import('./validate.js')).verb },
  plan: { summary: 'print the launch plan a spec compiles to (--json for data)', load: async () => (await import('./plan.js')).verb },
  run: { summary: 'run a container from a spec in the foreground', load: async () => (await import('./run.js')).verb },
  init: { summary: 'write a commented starter spec', load: async () => (await import('./init.js')).verb },
};

export function mainHelp(): string {
  const w = Math.max(...Object.keys(VERBS).map((k) => k.length));
  return [
    'niwa — a declarative Linux container composer',
    '',
    'usage: niwa <command> [options]',
    '',
    'commands:',
    ...Object.entries(VERBS).map(([k, v]) => `  ${k.padEnd(w)}  ${v.summary}`),
    '',
    'Run `niwa <command> --help` for the options of each command.',
    'Exit codes: 0 ok, 1 runtime failure, 2 usage error or invalid spec.',
  ].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (!cmd || cmd === '--help' || cmd === '-h' || cmd === 'help') {
    if (cmd === 'help' && rest[0] && VERBS[rest[0]]) return main([rest[0], '--help']);
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
  try {
    const verb = await entry.load();
    if (rest.includes('--help') || rest.includes('-h')) {
      process.stdout.write(`usage: ${verb.usage}\n\n${verb.summary}\n`);
      return 0;
    }
    return await verb.run(rest);
  } catch (e) {
    process.stderr.write(formatError(e) + '\n');
    return e instanceof NiwaError ? e.exitCode : 1;
  }
}
