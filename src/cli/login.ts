// `niwa login [-u USER] [-p PASS | --password-stdin] [HOST]` and `niwa logout [HOST]`: check the
// credentials against the registry (GET /v2/, answering its basic or bearer challenge), then store
// them where docker and podman keep theirs ($REGISTRY_AUTH_FILE when set, else docker's
// config.json). HOST defaults to docker.io.
import { UserError } from '../errors.js';
import type { Verb } from './main.js';
import { parseArgs } from './args.js';

const LOGIN_USAGE = [
  'niwa login [-u USER] [-p PASSWORD | --password-stdin] [HOST[:PORT]]',
  '',
  '  -u, --username USER     the user name (asked for on a terminal when left out)',
  '  -p, --password PASS     the password (visible to other users in `ps`: prefer --password-stdin)',
  '  --password-stdin        read the password from standard input',
  '',
  'HOST defaults to docker.io. Credentials go to $REGISTRY_AUTH_FILE when set, else',
  '$DOCKER_CONFIG/config.json or ~/.docker/config.json (the files docker, podman and skopeo read).',
].join('\n');

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

/** Ask on the terminal; `hidden` turns echo off for a password. */
async function ask(question: string, hidden: boolean): Promise<string> {
  const { createInterface } = await import('node:readline');
  const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
  if (hidden) {
    const r = rl as unknown as { _writeToOutput: (s: string) => void };
    let asked = false;
    r._writeToOutput = (s: string) => { if (!asked) { process.stderr.write(s); asked = true; } };
  }
  try {
    return await new Promise<string>((resolve) => rl.question(question, resolve));
  } finally {
    rl.close();
    if (hidden) process.stderr.write('\n');
  }
}

async function hostOf(arg: string | undefined, verb: string): Promise<string> {
  const { authKeyHost } = await import('../image/auth.js');
  const host = authKeyHost(arg ?? 'docker.io');
  if (!/^(?:[a-zA-Z0-9.-]+|\[[a-fA-F0-9:]+\])(?::\d+)?$/.test(host)) throw new UserError('E_USAGE', `${verb}: '${arg}' is not a registry host`, [], 'e.g. ghcr.io, registry.example.com:5000, 127.0.0.1:5000');
  return host;
}

export const verb: Verb = {
  summary: 'log in to a registry (checked against it, saved where docker and podman look)',
  usage: LOGIN_USAGE,
  async run(argv) {
    const a = parseArgs(argv, { values: { username: 'u', password: 'p' }, booleans: { 'password-stdin': '' } }, 'login');
    if (a.positionals.length > 1) throw new UserError('E_USAGE', 'login: expected at most one registry host', [], `usage: ${LOGIN_USAGE.split('\n')[0]}`);
    const host = await hostOf(a.positionals[0], 'login');
    if (a.flags.password !== undefined && a.flags['password-stdin']) throw new UserError('E_USAGE', 'login: --password and --password-stdin are exclusive');
    const tty = Boolean(process.stdin.isTTY);
    let username = a.flags.username as string | undefined;
    let password = a.flags.password as string | undefined;
    if (password !== undefined) process.stderr.write('WARNING! Using --password on the command line is insecure. Use --password-stdin.\n');
    if (a.flags['password-stdin']) {
      if (!username) throw new UserError('E_USAGE', 'login: --password-stdin needs --username');
      password = await readStdin();
    }
    if (!username) {
      if (!tty) throw new UserError('E_USAGE', 'login: no user name given and no terminal to ask on', [], 'pass -u USER with -p PASS or --password-stdin');
      username = await ask('Username: ', false);
    }
    if (password === undefined) {
      if (!tty) throw new UserError('E_USAGE', 'login: no password given and no terminal to ask on', [], 'pass --password-stdin and write the password to standard input');
      password = await ask('Password: ', true);
    }
    if (!username || !password) throw new UserError('E_USAGE', 'login: the user name and the password must not be empty');
    const [{ RegistryClient }, { saveCredentials }] = await Promise.all([import('../image/registry.js'), import('../image/auth.js')]);
    await new RegistryClient(host, { credentials: { username, password } }).ping();
    const file = saveCredentials(host, { username, password });
    process.stdout.write(`Login Succeeded (${host}; credentials saved in ${file})\n`);
    return 0;
  },
};

export const logoutVerb: Verb = {
  summary: 'remove the stored credentials of a registry',
  usage: 'niwa logout [HOST[:PORT]]   (HOST defaults to docker.io)',
  async run(argv) {
    const a = parseArgs(argv, {}, 'logout');
    if (a.positionals.length > 1) throw new UserError('E_USAGE', 'logout: expected at most one registry host');
    const host = await hostOf(a.positionals[0], 'logout');
    const { removeCredentials } = await import('../image/auth.js');
    const files = removeCredentials(host);
    process.stdout.write(files.length ? `Removed login credentials for ${host} (${files.join(', ')})\n` : `Not logged in to ${host}\n`);
    return 0;
  },
};
