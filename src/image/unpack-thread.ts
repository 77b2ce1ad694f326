// unpackLayerTo on a worker thread: the same code and rules (src/image/unpack.ts), run beside the main
// thread so that a pull's layers are parsed, hashed and written on another core while the main thread
// downloads. The main thread feeds the bytes (copied, at most UNACKED ahead); the worker answers with
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
type ToWorker = { chunk: Uint8Array } | { end: true } | { abort: true };
type FromWorker = { ack: number } | { done: UnpackResult } | { error: WireError };

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

/** Unpacks `source` into `dest` on a worker thread; same contract as unpackLayerTo (dest removed on any failure). */
export async function unpackLayerInThread(source: AsyncIterable<Uint8Array>, dest: string, opts: { diffId?: string }): Promise<UnpackResult> {
  const w = new Worker(new URL(import.meta.url), { workerData: { niwaUnpack: true, dest, diffId: opts.diffId } });
  let unacked = 0;
  let finished = false;
  let wake: (() => void) | undefined;
  const poke = () => { const f = wake; wake = undefined; f?.(); };
  const outcome = new Promise<UnpackResult>((resolve, reject) => {
    w.on('message', (m: FromWorker) => {
      if ('ack' in m) { unacked -= m.ack; poke(); return; }
      finished = true;
      poke();
      if ('done' in m) resolve(m.done); else reject(fromWire(m.error));
    });
    w.on('error', (e) => { finished = true; poke(); reject(e); });
    w.on('exit', (code) => { finished = true; poke(); reject(new RuntimeFailure('E_IMAGE_UNPACK', `the unpacking thread ended early (exit ${code})`)); });
  });
  outcome.catch(() => undefined); // awaited below; never an unhandled rejection meanwhile
  const send = (m: ToWorker) => w.postMessage(m);
  try {
    try {
      for await (const c of source) {
        if (finished) break; // the worker gave up (an unsafe entry, a bad tar): its error is the answer
        unacked += c.byteLength;
        send({ chunk: c });
        while (unacked >= UNACKED && !finished) await new Promise<void>((r) => { wake = r; });
      }
      if (!finished) send({ end: true });
    } catch (e) {
      // the source failed (a broken download, an abort): the worker stops and removes dest, then this error stands
      if (!finished) send({ abort: true });
      await outcome.catch(() => undefined);
      throw e;
    }
    return await outcome;
  } finally {
    await w.terminate(); // it has finished (or failed and cleaned up) by now
  }
}

// --- the worker side ---------------------------------------------------------------------------

if (!isMainThread && (workerData as { niwaUnpack?: boolean } | null)?.niwaUnpack && parentPort) {
  const port = parentPort;
  const { dest, diffId } = workerData as { dest: string; diffId?: string };
  const queue: (Uint8Array | null)[] = [];
  let aborted = false;
  let wake: (() => void) | undefined;
  port.on('message', (m: ToWorker) => {
    if ('abort' in m) aborted = true;
    else queue.push('end' in m ? null : m.chunk);
    const f = wake; wake = undefined; f?.();
  });
  async function* source(): AsyncGenerator<Uint8Array> {
    for (;;) {
      while (!queue.length && !aborted) await new Promise<void>((r) => { wake = r; });
      if (aborted) throw new RuntimeFailure('E_INTERRUPTED', 'the layer download stopped');
      const c = queue.shift()!;
      if (c === null) return;
      port.postMessage({ ack: c.byteLength } satisfies FromWorker);
      yield c;
    }
  }
  void (async () => {
    try {
      const [{ prepareNative, realSys }, { unpackLayerTo }] = await Promise.all([import('../runtime/sys/real.js'), import('./unpack.js')]);
      await prepareNative();
      const done = await unpackLayerTo(source(), dest, { sys: realSys, diffId });
      port.postMessage({ done } satisfies FromWorker);
    } catch (e) {
      port.postMessage({ error: toWire(e) } satisfies FromWorker);
    }
  })();
}
