// Runs a command inside a running container: compiles the exec plan (plan/exec.ts) and hands it
// to the native stage, which joins the container's namespaces and cgroups and execs the command
// with the container's restrictions. Also runs health-check probes the same way.
import { readFileSync } from 'node:fs';
import type { CanonicalSpec } from '../spec/types.js';
import { ALL_CAPS, CAPABILITIES } from '../spec/capabilities.js';
import type { HostFacts } from '../plan/types.js';
import { compileExec, compileProbe, type ExecRequest, type ExecTarget, type ProbeRequest } from '../plan/exec.js';
import { probeHost } from '../validate/host.js';
import { startStage, type StageHandle, type StageStdio } from './launch/stage.js';

export interface ExecOptions {
  /** The container's spec (its namespaces, capabilities, seccomp, user, env). */
  spec: CanonicalSpec;
  /** Host facts (arch for seccomp); probed once and cached when omitted. */
  host?: HostFacts;
  /** The command's stdio: 'pipe' (default: output collected and returned), 'inherit', or per fd. */
  stdio?: StageStdio;
  /** stdin text when stdin is piped (default: empty, i.e. end of file at once). */
  input?: string;
  /** Kill the command (SIGKILL) after this many milliseconds; the result says timedOut. */
  timeoutMs?: number;
  /** Forward these signals received by this process to the command. */
  forwardSignals?: NodeJS.Signals[];
  /** Keep at most this many bytes of each collected stream (default 1 MiB). */
  maxOutput?: number;
  /** Called once the stage exists (e.g. to forward signals or write to stdin). */
  onStage?: (h: StageHandle) => void;
  startStage?: typeof startStage;
}

export interface ExecResult {
  code: number | null;
  signal: number | null;
  /** As a shell reports it: code, or 128 + signal. */
  status: number;
  stdout?: string;
  stderr?: string;
  timedOut?: boolean;
  /** Host pid the command had. */
  pid?: number;
}

/** Capability names in this process's bounding set (/proc/self/status CapBnd). */
export function ownBoundingSet(): string[] {
  const m = /^CapBnd:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'));
  const mask = m ? BigInt('0x' + m[1]) : 0n;
  return ALL_CAPS.filter((c) => (mask >> BigInt(CAPABILITIES[c])) & 1n);
}

let cachedHost: HostFacts | undefined;
function hostFacts(): HostFacts {
  return (cachedHost ??= probeHost());
}

/** Runs `req.args` in the container; rejects with a RuntimeFailure when it cannot be started. */
export async function execInContainer(target: ExecTarget, req: ExecRequest, opts: ExecOptions): Promise<ExecResult> {
  // "every capability" can only mean those this process may still pass on (its bounding set)
  const r = req.privileged === true ? { ...req, privileged: ownBoundingSet() } : req;
  const plan = compileExec(opts.spec, target, r, opts.host ?? hostFacts());
  return runStagePlan(plan, opts);
}

/** Runs a TCP/HTTP probe inside the container's network namespace; healthy = exit 0. */
export async function probeInContainer(target: { pid: number }, probe: ProbeRequest, opts: ExecOptions): Promise<ExecResult> {
  return runStagePlan(compileProbe(opts.spec, target, probe), { ...opts, timeoutMs: opts.timeoutMs ?? probe.timeoutMs + 1000 });
}

async function runStagePlan(plan: ReturnType<typeof compileExec>, opts: ExecOptions): Promise<ExecResult> {
  const stdio = opts.stdio ?? 'pipe';
  const h = (opts.startStage ?? startStage)(plan, { stdio });
  opts.onStage?.(h);
  const max = opts.maxOutput ?? 1 << 20;
  const collect = (s: NodeJS.ReadableStream | null) => {
    if (!s) return undefined;
    const box = { text: '', done: new Promise<void>((r) => { s.once('close', () => r()); s.once('end', () => r()); }) };
    s.setEncoding('utf8');
    s.on('data', (d: string) => { if (box.text.length < max) box.text += d.slice(0, max - box.text.length); });
    return box;
  };
  const out = collect(h.stdout);
  const err = collect(h.stderr);
  if (h.stdin) {
    h.stdin.on('error', () => {});
    h.stdin.end(opts.input ?? '');
  }
  const handlers: [NodeJS.Signals, () => void][] = [];
  for (const sig of opts.forwardSignals ?? []) {
    const f = () => h.kill(sig);
    process.on(sig, f);
    handlers.push([sig, f]);
  }
  let timedOut = false;
  const timer = opts.timeoutMs !== undefined ? setTimeout(() => { timedOut = true; h.kill('SIGKILL'); }, opts.timeoutMs) : undefined;
  try {
    await h.started;
    const pid = await h.pid;
    const ex = await h.exited;
    // the streams end when the command (and whatever it started that still holds them) is gone
    let grace: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all([out?.done, err?.done]), new Promise((r) => { grace = setTimeout(r, 1000); })]);
    clearTimeout(grace); // a pending timer would keep this process alive for the rest of the second
    return {
      ...ex,
      status: ex.signal !== null ? 128 + ex.signal : (ex.code ?? 1),
      ...(out ? { stdout: out.text } : {}),
      ...(err ? { stderr: err.text } : {}),
      ...(timedOut ? { timedOut } : {}),
      pid,
    };
  } catch (e) {
    h.kill('SIGKILL');
    await h.exited;
    throw e;
  } finally {
    if (timer) clearTimeout(timer);
    for (const [sig, f] of handlers) process.off(sig, f);
  }
}
