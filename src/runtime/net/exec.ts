// Executes the network steps of a plan (ops `ip` and `netns`, see steps.ts) on the host.
// Consecutive `ip` steps for the same namespace run as one `ip -batch -` process (one fork+exec
// per group instead of per command); a failure is mapped back to the exact step by its line.
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import type { StepDraft } from '../../plan/types.js';
import { RuntimeFailure } from '../../errors.js';
import { prepareNative, realSys } from '../sys/real.js';

type NetStep = Extract<StepDraft, { op: 'ip' } | { op: 'netns' }>;

export interface RunResult { code: number; stdout: string; stderr: string }

/** What executing network steps needs from the host; fake in unit tests. */
export interface NetHost {
  run(file: string, args: string[], input?: string): Promise<RunResult>;
  /** Whether `path` is a mount point (a bound namespace file). */
  isMounted(path: string): boolean;
  /** Create an empty file (and its parent directories) to bind the namespace on. */
  touch(path: string): void;
  /** umount2(path, MNT_DETACH). */
  umount(path: string): Promise<void>;
  /** Remove a file; already gone is fine. */
  unlink(path: string): void;
  /** Whether a network interface of that name exists in the host's namespace. */
  linkExists(name: string): boolean;
}

export class NetStepError extends RuntimeFailure {
  constructor(readonly step: StepDraft, readonly detail: string) {
    const exists = /File exists/i.test(detail);
    super(exists ? 'E_NET_EXISTS' : /Address already in use/i.test(detail) ? 'E_ADDRESS_IN_USE' : 'E_NET_STEP', `${describeNetStep(step)}: ${detail}`, {
      field: step.field,
      hint: exists ? 'a leftover of an earlier run, or another operation on the same project at once: niwa compose down, then up again' : `the step came from ${step.field || 'a default'}; niwa compose plan shows every step`,
    });
  }
}

/** The command line of a network step, as a user could type it. */
export function describeNetStep(s: StepDraft): string {
  if (s.op === 'ip') return `${s.netns ? `nsenter --net=${s.netns} ` : ''}ip ${s.args.join(' ')}`;
  if (s.op === 'netns') return s.action === 'add' ? `unshare --net=${s.path} true` : `umount -l ${s.path} && rm ${s.path}`;
  return s.op;
}

export const isNetStep = (s: StepDraft): s is NetStep => s.op === 'ip' || s.op === 'netns';

/** Errors that mean "already gone" for idempotent cleanup. */
const ABSENT = /Cannot find device|No such device|does not exist|No such process|Address not found|Cannot assign requested address|No such file or directory/i;

/**
 * Runs the steps in order. Throws NetStepError naming the first step that failed (and, for
 * non-`absentOk` steps, stops there). `onStep` is told of each step once it is done.
 */
export async function runNetSteps(steps: StepDraft[], host: NetHost = realNetHost, onStep?: (s: StepDraft) => void): Promise<void> {
  let i = 0;
  while (i < steps.length) {
    const s = steps[i];
    if (!isNetStep(s)) throw new Error(`op '${s.op}' is not a network step`);
    if (s.op === 'netns') {
      await runNetns(s, host);
      onStep?.(s);
      i++;
      continue;
    }
    // a group: consecutive ip steps with the same namespace and the same absentOk
    const group: Extract<NetStep, { op: 'ip' }>[] = [];
    while (i < steps.length) {
      const t = steps[i];
      if (t.op !== 'ip' || t.netns !== s.netns || Boolean(t.absentOk) !== Boolean(s.absentOk)) break;
      group.push(t);
      i++;
    }
    await runIpGroup(group, host);
    for (const g of group) onStep?.(g);
  }
}

async function runIpGroup(group: Extract<NetStep, { op: 'ip' }>[], host: NetHost): Promise<void> {
  const tolerant = Boolean(group[0].absentOk);
  const ipArgs = [...(tolerant ? ['-force'] : []), '-batch', '-'];
  const input = group.map((g) => g.args.map(batchQuote).join(' ')).join('\n') + '\n';
  const netns = group[0].netns;
  const r = netns
    ? await host.run('nsenter', [`--net=${netns}`, '--', 'ip', ...ipArgs], input)
    : await host.run('ip', ipArgs, input);
  if (r.code === 0) return;
  const failures = parseBatchErrors(r.stderr);
  if (!failures.length) {
    // ip exits at once, without "Command failed -:N", on an invalid argument: blame the first step that
    // names an argument quoted in the message (iproute2 quotes it), else the first of the group.
    const quoted = [...r.stderr.matchAll(/"([^"]+)"/g)].map((m) => m[1]);
    const step = group.find((g) => g.args.some((a) => quoted.includes(a))) ?? group[0];
    const message = r.stderr.trim().replace(/\n+/g, '; ') || `exit status ${r.code}`;
    if (tolerant && ABSENT.test(message)) return;
    throw new NetStepError(step, message);
  }
  for (const f of failures) {
    const step = group[f.line - 1] ?? group[0];
    if (tolerant && ABSENT.test(f.message)) continue;
    throw new NetStepError(step, f.message);
  }
}

/** `ip -batch` reports each failure as its message lines followed by "Command failed -:N". */
export function parseBatchErrors(stderr: string): { line: number; message: string }[] {
  const out: { line: number; message: string }[] = [];
  let pending: string[] = [];
  for (const l of stderr.split('\n')) {
    const m = /^Command failed -:(\d+)$/.exec(l.trim());
    if (m) {
      out.push({ line: Number(m[1]), message: pending.join('; ').trim() || 'failed' });
      pending = [];
    } else if (l.trim()) pending.push(l.trim());
  }
  return out;
}

/** iproute2's batch lexer splits on blanks and honours double quotes. */
function batchQuote(a: string): string {
  if (/^[^\s"\\]+$/.test(a)) return a;
  return `"${a.replace(/(["\\])/g, '\\$1')}"`;
}

async function runNetns(s: Extract<NetStep, { op: 'netns' }>, host: NetHost): Promise<void> {
  if (s.action === 'add') {
    if (host.isMounted(s.path)) return; // idempotent: already there
    host.touch(s.path);
    const r = await host.run('unshare', [`--net=${s.path}`, '--', 'true']);
    if (r.code !== 0) {
      host.unlink(s.path);
      throw new NetStepError(s, r.stderr.trim() || `exit status ${r.code}`);
    }
    return;
  }
  for (let n = 0; n < 8 && host.isMounted(s.path); n++) await host.umount(s.path);
  if (host.isMounted(s.path)) throw new NetStepError(s, 'still mounted after umount');
  host.unlink(s.path);
}

// ---------------------------------------------------------------------------
// the real host

const TOOL_HINT: Record<string, string> = {
  ip: 'niwa networking needs the `ip` command from iproute2 (e.g. apt-get install iproute2)',
  nsenter: 'niwa networking needs `nsenter` from util-linux',
  unshare: 'niwa networking needs `unshare` from util-linux',
};

function runProgram(file: string, args: string[], input?: string): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const p = spawn(file, args, { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, LC_ALL: 'C', PATH: `${process.env.PATH ?? ''}:/usr/sbin:/sbin:/usr/bin:/bin` } });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => p.kill('SIGKILL'), 30_000);
    p.stdout.on('data', (d: Buffer) => { stdout += d; });
    p.stderr.on('data', (d: Buffer) => { stderr += d; });
    p.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(e.code === 'ENOENT' ? new RuntimeFailure('E_NET_TOOL', `${file}: not found`, { hint: TOOL_HINT[file] }) : e);
    });
    // A process spawned at the same moment (a container's stage, in the supervisor) can inherit the
    // write end of our stderr pipe and keep it open for as long as it lives: once the program has
    // exited, its output is waited for only briefly.
    let drain: NodeJS.Timeout | undefined;
    p.on('exit', () => { drain = setTimeout(() => { p.stdout.destroy(); p.stderr.destroy(); p.emit('close', p.exitCode, p.signalCode); }, 250); });
    let closed = false;
    p.on('close', (code, sig) => {
      if (closed) return;
      closed = true;
      clearTimeout(drain);
      clearTimeout(timer);
      resolve({ code: code ?? 128 + (sig ? 9 : 0), stdout, stderr });
    });
    p.stdin.on('error', () => {}); // a program that exits early (e.g. not found) must not crash us with EPIPE
    p.stdin.end(input ?? '');
  });
}

/** Mount points of this mount namespace (mountinfo field 5, octal escapes decoded). */
function mountPoints(): Set<string> {
  const text = readFileSync('/proc/self/mountinfo', 'utf8');
  return new Set(text.split('\n').filter(Boolean).map((l) => l.split(' ')[4].replace(/\\(\d{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)))));
}

export const realNetHost: NetHost = {
  run: runProgram,
  isMounted: (p) => mountPoints().has(p),
  touch: (p) => {
    mkdirSync(dirname(p), { recursive: true, mode: 0o755 });
    closeSync(openSync(p, 'a', 0o444));
  },
  umount: async (p) => {
    await prepareNative();
    realSys.umount2(p, 2 /* MNT_DETACH */);
  },
  unlink: (p) => rmSync(p, { force: true }),
  linkExists: (n) => existsSync(`/sys/class/net/${n}`),
};
