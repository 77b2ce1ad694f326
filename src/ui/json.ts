// Owns --json progress: every RuntimeEvent as one JSON object per line, with an ISO timestamp `ts`.
import type { EventSink } from '../events/types.js';

export function jsonReporter(opts: { out?: NodeJS.WritableStream; now?: () => number } = {}): EventSink {
  const out = opts.out ?? process.stdout;
  const now = opts.now ?? Date.now;
  return (e) => { out.write(JSON.stringify({ ts: new Date(now()).toISOString(), ...e }) + '\n'); };
}
