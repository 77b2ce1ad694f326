// `niwa run --quiz SPEC [-- CMD ARGS...]`: predict, then run. Shows what the container is made of
// and the command it runs, asks what it will print, runs it (a plain `niwa run` of the same
// arguments, its output captured and shown) and compares the prediction with what it printed.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { constants } from 'node:os';
import { parseArgs } from './args.js';
import { UserError } from '../errors.js';
import { loadSpec } from '../spec/load/index.js';
import type { CanonicalSpec } from '../spec/types.js';

/** The question: what the container is, and the command whose output is to be predicted. */
export function question(spec: CanonicalSpec): string[] {
  const ns = Object.keys(spec.namespaces);
  const facts = [
    `namespaces: ${ns.length ? ns.join(', ') : 'none (the host\'s)'}`,
    spec.hostname ? `hostname: ${spec.hostname}` : '',
    spec.cgroup.memory ? `memory: ${spec.cgroup.memory} bytes` : '',
    spec.cgroup.pids ? `pids: ${spec.cgroup.pids}` : '',
    `root: ${spec.root}${spec.readonlyRoot ? ' (read-only)' : ''}`,
  ].filter(Boolean);
  return [
    `quiz: ${spec.name}`,
    `  ${facts.join('   ')}`,
    `  it runs: ${spec.process.args.map((x) => (/^[\w./:=-]+$/.test(x) ? x : JSON.stringify(x))).join(' ')}`,
    'What will it print? Type a line you expect to see (Enter to skip):',
  ];
}

const norm = (s: string) => s.trim().replace(/\s+/g, ' ').toLowerCase();

/** Right when the guess is one of the printed lines, or (3 characters or more) part of the output. */
export function judge(guess: string, output: string): 'right' | 'wrong' | 'skipped' {
  const g = norm(guess);
  if (!g) return 'skipped';
  const lines = output.split('\n').map(norm);
  if (lines.includes(g)) return 'right';
  return g.length >= 3 && norm(output).includes(g) ? 'right' : 'wrong';
}

async function readGuess(): Promise<string> {
  const rl = createInterface({ input: process.stdin, terminal: Boolean(process.stdin.isTTY), output: process.stdin.isTTY ? process.stderr : undefined });
  const line = await new Promise<string>((res) => {
    rl.once('line', res);
    rl.once('close', () => res(''));
    if (process.stdin.isTTY) { rl.setPrompt('> '); rl.prompt(); }
  });
  rl.close();
  return line;
}

/** `argv` is `niwa run`'s, with --quiz among the options. Exits with the container's status. */
export async function runQuiz(argv: string[]): Promise<number> {
  const cut = argv.indexOf('--');
  const runArgs = [...(cut < 0 ? argv : argv.slice(0, cut)).filter((x) => x !== '--quiz'), ...(cut < 0 ? [] : argv.slice(cut))];
  const a = parseArgs(runArgs, { values: { name: '', project: '', 'state-root': '', pull: '' }, booleans: { verbose: 'v', quiet: 'q' } }, 'run --quiz');
  if (a.positionals.length !== 1) throw new UserError('E_USAGE', 'run --quiz: expected exactly one SPEC file', [], 'usage: niwa run --quiz SPEC [-- CMD...]');
  const spec = await loadSpec(a.positionals[0]);
  if (a.rest.length) spec.process.args = a.rest;
  const err = (s: string) => process.stderr.write(s + '\n');
  for (const l of question(spec)) err(l);
  const guess = await readGuess();

  // The run itself is `niwa run` with the same arguments: its status and messages are the usual ones.
  const child = spawn(process.execPath, [process.argv[1], 'run', ...runArgs], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
  const status = await new Promise<number>((res) => child.on('close', (code, sig) => res(code ?? 128 + (sig ? constants.signals[sig] : 0))));
  err('it printed:');
  for (const l of out.replace(/\n$/, '').split('\n')) err(`  | ${l}`);
  const verdict = judge(guess, out);
  if (verdict === 'right') err(`right: "${guess.trim()}" is what it printed.`);
  else if (verdict === 'wrong') err(`not quite: you expected "${guess.trim()}". \`niwa plan --explain ${a.positionals[0]}\` shows which steps made the difference.`);
  else err('(no guess) next time, predict first: that is where the learning is.');
  if (!process.stdout.isTTY) process.stdout.write(out); // for pipes and scripts; a terminal has seen it above
  return status;
}
