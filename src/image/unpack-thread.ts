// unpackLayerTo on a worker thread: the same code and rules (src/image/unpack.ts), run beside the main
// thread so that a pull's layers are parsed, hashed and written on another core while the main thread
// downloads. One worker per process, shared by the layers being unpacked at the same time. The main thread feeds the bytes (copied, at most UNACKED ahead); the worker answers with
// the UnpackResult or the error, after it has removed the layer dir on failure. Syscalls Node lacks go
// through the real Sys in the worker (src/runtime/sys/real.ts, still the one file that imports koffi;
// koffi is loaded once per thread). Errors cross as data and are rebuilt as RuntimeFailure/SysError.
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { RuntimeFailure } from '../errors.js';
import { SysError } from '../runtime/sys/types.js';
import type { UnpackResult } from './unpack.js';

/** Bytes the main thread may send before the worker has taken them. */
const UNACKED = 8 << 20;

interface WireError { kind: 'runtime' | 'sys' | 'other'; code?: string; message: string; hint?: string; call?: string; arg?: string; errno?: string }
type ToWorker = { id: number } & ({ start: { dest: string; diffId?: string } } | { chunk: Uint8Array } | { end: true } | { abort: true });
type FromWorker = { id: number } & ({ ack: number } | { done: UnpackResult } | { error: WireError });

function toWire(e: unknown): WireError {
  if (e instanceof SysError) return { kind: 'sys', message: e.message, call: e.call, arg: e.arg, errno: e.errno };
  if (e instanceof RuntimeFailure) return { kind: 'runtime', code: e.code, message: e.message, hint: e.hint };
  const err = e as NodeJS.ErrnoException;
  return { kind: 'other', message: err?.message ?? String(e), code: typeof err?.code === 'string' ? err.code : undefined };
}

function fromWire(w: WireError): Error {
  if (w.kind === 'sys') return new SysError(w.call ?? '?', w.arg ?? '?', w.errno ?? '?');
  if (w.kind === 'runtime') return new RuntimeFailure(w.code ?? 'E_IMAGE_UNPACK', w.message, { hint: w.hint });
  return new RuntimeFailure('E_IMAGE_UNPACK', `unpacking a layer: ${w.message}`);
}

/** A job's side of the conversation with the worker. */
interface Job { onMessage(m: FromWorker): void; onGone(e: Error): void }

/**
 * One worker for the whole process, started by the first layer that needs it and shared by every
 * layer unpacked at the same time (its start-up, ≈0.1 s, is paid once); it holds the process open
 * only while it has work.
 */
let shared: { worker: Worker; jobs: Map<number, Job>; next: number } | undefined;

function thread(): NonNullable<typeof shared> {
  if (shared) return shared;
  const worker = new Worker(new URL(import.meta.url), { workerData: { niwaUnpack: true } });
  const s = { worker, jobs: new Map<number, Job>(), next: 1 };
  worker.on('message', (m: FromWorker) => s.jobs.get(m.id)?.onMessage(m));
  const gone = (e: Error) => {
    if (shared === s) shared = undefined;
    for (const j of s.jobs.values()) j.onGone(e);
    s.jobs.clear();
  };
  worker.on('error', gone);
  worker.on('exit', (code) => gone(new RuntimeFailure('E_IMAGE_UNPACK', `the unpacking thread ended early (exit ${code})`)));
  worker.unref();
  shared = s;
  return s;
}

/** Unpacks `source` into `dest` on the worker thread; same contract as unpackLayerTo (dest removed on any failure). */
export async function unpackLayerInThread(source: AsyncIterable<Uint8Array>, dest: string, opts: { diffId?: string }): Promise<UnpackResult> {
  const t = thread();
  const id = t.next++;
  let unacked = 0;
  let finished = false;
  let wake: (() => void) | undefined;
  const poke = () => { const f = wake; wake = undefined; f?.(); };
  const outcome = new Promise<UnpackResult>((resolve, reject) => {
    t.jobs.set(id, {
      onMessage(m) {
        if ('ack' in m) { unacked -= m.ack; poke(); return; }
        finished = true;
        poke();
        if ('done' in m) resolve(m.done); else reject(fromWire(m.error));
      },
      onGone(e) { finished = true; poke(); reject(e); },
    });
  });
  outcome.catch(() => undefined); // awaited below; never an unhandled rejection meanwhile
  if (t.jobs.size === 1) t.worker.ref(); // work to do: keep the process (and the thread) alive
  const send = (m: ToWorker) => t.worker.postMessage(m);
  try {
    send({ id, start: { dest, diffId: opts.diffId } });
    try {
      for await (const c of source) {
        if (finished) break; // the worker gave up (an unsafe entry, a bad tar): its error is the answer
        unacked += c.byteLength;
        send({ id, chunk: c });
        while (unacked >= UNACKED && !finished) await new Promise<void>((r) => { wake = r; });
      }
      if (!finished) send({ id, end: true });
    } catch (e) {
      // the source failed (a broken download, an abort): the worker stops and removes dest, then this error stands
      if (!finished) send({ id, abort: true });
      await outcome.catch(() => undefined);
      throw e;
    }
    return await outcome;
  } finally {
    t.jobs.delete(id);
    if (t.jobs.size === 0) t.worker.unref();
  }
}

// --- the worker side ---------------------------------------------------------------------------

if (!isMainThread && (workerData as { niwaUnpack?: boolean } | null)?.niwaUnpack && parentPort) {
  const port = parentPort;
  const ready = Promise.all([import('../runtime/sys/real.js'), import('./unpack.js')]).then(async ([real, unpack]) => {
    await real.prepareNative();
    return { realSys: real.realSys, unpackLayerTo: unpack.unpackLayerTo };
  });
  ready.catch(() => undefined); // each job reports it
  interface Feed { queue: (Uint8Array | null)[]; aborted: boolean; wake?: () => void }
  const feeds = new Map<number, Feed>();
  async function* source(id: number, f: Feed): AsyncGenerator<Uint8Array> {
    for (;;) {
      while (!f.queue.length && !f.aborted) await new Promise<void>((r) => { f.wake = r; });
      if (f.aborted) throw new RuntimeFailure('E_INTERRUPTED', 'the layer download stopped');
      const c = f.queue.shift()!;
      if (c === null) return;
      port.postMessage({ id, ack: c.byteLength } satisfies FromWorker);
      yield c;
    }
  }
  port.on('message', (m: ToWorker) => {
    if ('start' in m) {
      const f: Feed = { queue: [], aborted: false };
      feeds.set(m.id, f);
      const { dest, diffId } = m.start;
      void (async () => {
        try {
          const { realSys, unpackLayerTo } = await ready;
          const done = await unpackLayerTo(source(m.id, f), dest, { sys: realSys, diffId });
          port.postMessage({ id: m.id, done } satisfies FromWorker);
        } catch (e) {
          port.postMessage({ id: m.id, error: toWire(e) } satisfies FromWorker);
        } finally {
          feeds.delete(m.id);
        }
      })();
      return;
    }
    const f = feeds.get(m.id);
    if (!f) return;
    if ('abort' in m) f.aborted = true;
    else f.queue.push('end' in m ? null : m.chunk);
    const w = f.wake; f.wake = undefined; w?.();
  });
}
