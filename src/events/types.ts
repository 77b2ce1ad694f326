// The typed runtime event stream: the engine emits these and never prints; the Ink view,
// the plain reporter and --json all read the same stream.

export type RuntimeEvent =
  | { type: 'plan'; container: string; steps: number; warnings: string[] }
  | { type: 'phase'; container: string; phase: string }
  | { type: 'step'; container: string; index: number; op: string; ok: boolean; error?: string }
  | { type: 'started'; container: string; pid: number; ms: number }
  | { type: 'exited'; container: string; code: number | null; signal: number | null; oomKilled: boolean }
  | { type: 'warning'; container: string; message: string }
  | { type: 'cleanup'; container: string; removed: string[]; failed: string[] };

export type EventSink = (e: RuntimeEvent) => void;

/** A tiny bus: many listeners, synchronous delivery, no buffering. */
export class EventBus {
  private sinks: EventSink[] = [];
  on(s: EventSink): () => void {
    this.sinks.push(s);
    return () => { this.sinks = this.sinks.filter((x) => x !== s); };
  }
  emit: EventSink = (e) => { for (const s of this.sinks) s(e); };
}
