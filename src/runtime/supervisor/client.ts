// Owns the CLI side of the supervisor socket: sending one request, reading its answer or stream,
// and starting the project's supervisor on demand (a detached `niwa __supervise PROJECT`).
import { LineSplitter } from './logs.js';
import { spawn } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { openSync, closeSync, fchmodSync, statfsSync } from 'node:fs';
import { NiwaError, RuntimeFailure } from '../../errors.js';
import { ensureProjectDir, noSpaceError, pruneProject, PRIVATE_FILE_MODE, socketPath, stateWrite, supervisorLogPath } from '../state.js';

/** The state filesystem has no free blocks or inodes left (what a supervisor that could not start most likely hit). */
function noSpaceLeft(root: string): boolean {
  try { const f = statfsSync(root); return f.bavail === 0 || f.ffree === 0; } catch { return false; }
}
import type { Request, Response, StreamLine } from './protocol.js';

export interface Target { root: string; project: string }

/**
 * Connection refused / no socket: nobody listens (no supervisor, or a stale socket); reset while
 * connecting: the supervisor was killed with the connection in its backlog. Either way the request
 * was not handled.
 */
const NOT_THERE = new Set(['ENOENT', 'ECONNREFUSED', 'ENOTSOCK', 'ECONNRESET', 'EPIPE']);

class Unreachable extends Error {
  constructor(readonly code: string) { super(`supervisor unreachable: ${code}`); }
}

function open(t: Target): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(socketPath(t.root, t.project));
    s.once('connect', () => { s.off('error', reject); resolve(s); });
    s.once('error', (e: NodeJS.ErrnoException) => reject(NOT_THERE.has(e.code ?? '') ? new Unreachable(e.code!) : e));
  });
}

/**
 * Send one request; `onLine` receives stream lines. Rejects with Unreachable when nobody listens
 * or the connection closed before any answer (the request was then not handled).
 */
function exchange(t: Target, req: Request, onLine?: (l: StreamLine) => void, timeoutMs = 120_000): Promise<Response> {
  return open(t).then((s) => new Promise<Response>((resolve, reject) => {
    const lines = new LineSplitter(Infinity);
    let first: Response | undefined;
    const timer = setTimeout(() => { s.destroy(); reject(new RuntimeFailure('E_SUPERVISOR_TIMEOUT', `the supervisor did not answer '${req.op}' within ${timeoutMs / 1000} s`)); }, timeoutMs);
    s.setEncoding('utf8');
    s.on('data', (chunk: string) => {
      for (const line of lines.feed(chunk)) {
        if (!line) continue;
        const msg = JSON.parse(line);
        if (!first) {
          first = msg as Response;
          clearTimeout(timer);
          if (!onLine || !first.ok || !(first as Record<string, unknown>).stream) { s.end(); resolve(first); return; }
        } else {
          onLine!(msg as StreamLine);
          if ((msg as { end?: boolean }).end) { s.end(); resolve(first); return; }
        }
      }
    });
    s.on('error', () => {});
    s.on('close', () => {
      clearTimeout(timer);
      if (!first) reject(new Unreachable('ECONNRESET'));
      else resolve(first);
    });
    s.write(JSON.stringify(req) + '\n');
  }));
}

/**
 * A stream request (`events`, `logs-follow`) that the caller ends: resolves once the supervisor
 * accepted it (starting one if needed), with `close()` to hang up and `ended` settling when the
 * stream is over (the supervisor ended it, or it went away).
 */
export async function openStream(t: Target, req: Request, onLine: (l: StreamLine) => void): Promise<{ close(): void; ended: Promise<void> }> {
  for (let attempt = 0; attempt < 3; attempt++) {
    let s: Socket;
    try { s = await open(t); } catch (e) {
      if (!(e instanceof Unreachable)) throw e;
      await startSupervisor(t);
      continue;
    }
    const sock = s;
    const r = await new Promise<{ first?: Response; ended: Promise<void> }>((resolve) => {
      const lines = new LineSplitter(Infinity);
      let first: Response | undefined;
      let endedResolve!: () => void;
      const ended = new Promise<void>((res) => { endedResolve = res; });
      sock.setEncoding('utf8');
      sock.on('data', (chunk: string) => {
        for (const line of lines.feed(chunk)) {
          if (!line) continue;
          const msg = JSON.parse(line);
          if (!first) { first = msg as Response; resolve({ first, ended }); } else onLine(msg as StreamLine);
        }
      });
      sock.on('error', () => {});
      sock.on('close', () => { endedResolve(); if (!first) resolve({ ended }); });
      sock.write(JSON.stringify(req) + '\n');
    });
    if (!r.first) { await startSupervisor(t); continue; }
    check(r.first);
    return { close: () => sock.destroy(), ended: r.ended };
  }
  throw new RuntimeFailure('E_SUPERVISOR', `could not reach the supervisor of project '${t.project}'`, { hint: `see ${supervisorLogPath(t.root, t.project)}` });
}

/** Throws the supervisor's error as a NiwaError with the same code, hint and exit code. */
export function check<T extends Response>(r: T): Extract<T, { ok: true }> {
  if (r.ok) return r as Extract<T, { ok: true }>;
  const e = r.error;
  throw new NiwaError(e.code, e.message, { hint: e.hint, exitCode: e.exitCode });
}

/** A request to a supervisor that may not exist: undefined when there is none (nothing is started). */
export async function tryRequest(t: Target, req: Request, onLine?: (l: StreamLine) => void, timeoutMs?: number): Promise<Response | undefined> {
  try { return await exchange(t, req, onLine, timeoutMs); } catch (e) {
    if (e instanceof Unreachable) return undefined;
    throw e;
  }
}

/** A request that needs a supervisor: starts one when none answers (bounded retries). */
export async function request(t: Target, req: Request, onLine?: (l: StreamLine) => void, timeoutMs?: number): Promise<Response> {
  // A run with a token may be sent again safely (the supervisor recognises its record), so it tries longer.
  const attempts = req.op === 'run' && req.token ? 5 : 3;
  for (let attempt = 0; attempt < attempts; attempt++) {
    const r = await tryRequest(t, req, onLine, timeoutMs);
    if (r) return r;
    await startSupervisor(t);
  }
  throw new RuntimeFailure('E_SUPERVISOR', `could not reach the supervisor of project '${t.project}'`, { hint: `see ${supervisorLogPath(t.root, t.project)}` });
}

/**
 * Spawn `niwa __supervise PROJECT` detached (own session, stdio to _supervisor.log, cwd /) and wait
 * until its socket answers. If another supervisor wins the race, the new one exits and we use that one.
 */
/**
 * Node flags of the long-lived supervisor: a small young generation. Each request allocates a few
 * MB that die young; with V8's default semi-spaces (up to 16 MB each) the heap's reservation, and
 * with it RSS, kept growing over hundreds of `run -d`/`rm -f` cycles though the live heap stayed
 * ~6 MB (scripts/sup-mem.mjs measures both).
 */
export const SUPERVISOR_NODE_FLAGS = ['--max-semi-space-size=1'];

export async function startSupervisor(t: Target, timeoutMs = 10_000): Promise<void> {
  const log = stateWrite(t.root, () => {
    ensureProjectDir(t.root, t.project);
    const fd = openSync(supervisorLogPath(t.root, t.project), 'a', PRIVATE_FILE_MODE);
    fchmodSync(fd, PRIVATE_FILE_MODE);
    return fd;
  });
  const script = process.argv[1];
  const child = spawn(process.execPath, [...process.execArgv, ...SUPERVISOR_NODE_FLAGS, script, '__supervise', t.project], {
    detached: true,
    stdio: ['ignore', log, log],
    cwd: '/',
    env: { ...process.env, NIWA_STATE_ROOT: t.root },
  });
  closeSync(log);
  let exited = false;
  child.on('error', () => { exited = true; });
  child.on('exit', () => { exited = true; });
  child.unref();
  const deadline = Date.now() + timeoutMs;
  for (let delay = 5; Date.now() < deadline; delay = Math.min(delay * 2, 50)) {
    const r = await tryRequest(t, { op: 'ping' }).catch(() => undefined);
    if (r?.ok) return;
    // It ended without answering (another one won the race: that one answers the next ping), or failed.
    if (exited && !(await tryRequest(t, { op: 'ping' }).catch(() => undefined))?.ok) break;
    await new Promise((res) => setTimeout(res, delay));
  }
  pruneProject(t.root, t.project); // the directory and log made for it, when nothing else is there
  if (noSpaceLeft(t.root)) throw noSpaceError(t.root);
  throw new RuntimeFailure('E_SUPERVISOR', `the supervisor of project '${t.project}' did not start${exited ? '' : ` within ${timeoutMs / 1000} s`}`, { hint: `see ${supervisorLogPath(t.root, t.project)}` });
}
