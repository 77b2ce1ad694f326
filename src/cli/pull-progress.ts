// Pull progress for the CLI (PullEvents → text): on a terminal one line per layer with a bar,
// redrawn in place; otherwise one plain line per change of state (never per chunk). No Ink: the
// verbs that pull stay lean.
import type { PullEvent } from '../image/types.js';

export interface PullProgress {
  onEvent(e: PullEvent): void;
  /** Finish the display (leave the last frame on a terminal). */
  close(): void;
}

const short = (d: string) => d.replace(/^sha256:/, '').slice(0, 12);
export const humanBytes = (n: number): string => {
  const u = ['B', 'kB', 'MB', 'GB', 'TB'];
  let i = 0;
  let v = n;
  while (v >= 1000 && i < u.length - 1) { v /= 1000; i++; }
  return `${i === 0 ? v : v.toFixed(v < 10 ? 2 : 1)} ${u[i]}`;
};

function bar(cur: number, total: number, width = 24): string {
  const f = total > 0 ? Math.min(1, cur / total) : 0;
  const n = Math.round(f * width);
  return `[${'='.repeat(Math.max(0, n - 1))}${n ? '>' : ''}${' '.repeat(width - n)}]`;
}

export function pullProgress(out: NodeJS.WriteStream, opts: { tty?: boolean } = {}): PullProgress {
  const tty = opts.tty ?? Boolean(out.isTTY);
  const rows = new Map<string, string>();
  const lastState = new Map<string, string>();
  let drawn = 0;
  let timer: NodeJS.Timeout | undefined;
  const draw = () => {
    timer = undefined;
    if (!tty) return;
    const lines = [...rows.values()];
    out.write((drawn ? `\x1b[${drawn}A` : '') + lines.map((l) => `\x1b[2K${l}\n`).join(''));
    drawn = lines.length;
  };
  const schedule = () => { if (tty && !timer) timer = setTimeout(draw, 80); };
  return {
    onEvent(e) {
      if (e.type === 'resolve') {
        if (!tty) out.write(`pulling ${e.ref}: ${e.digest} (${e.layers} layer${e.layers === 1 ? '' : 's'})\n`);
        else rows.set(`${e.ref}`, `${e.ref}: resolved ${short(e.digest)}`);
      } else if (e.type === 'layer') {
        const key = `${e.ref} ${e.digest}`;
        const amount = e.total ? ` ${humanBytes(e.current ?? 0)}/${humanBytes(e.total)}` : '';
        if (tty) rows.set(key, `  ${short(e.digest)} ${e.state.padEnd(11)} ${e.state === 'downloading' && e.total ? bar(e.current ?? 0, e.total) : ''}${amount}${e.message ? ' ' + e.message : ''}`);
        else if (lastState.get(key) !== e.state) out.write(`  ${e.ref} ${short(e.digest)}: ${e.state}${e.state === 'downloading' ? '' : amount}${e.message ? ' (' + e.message + ')' : ''}\n`);
        lastState.set(key, e.state);
      } else if (e.type === 'done') {
        const msg = `${e.ref}: ${e.downloadedBytes ? `pulled ${humanBytes(e.downloadedBytes)}` : 'up to date'} in ${(e.ms / 1000).toFixed(2)} s (${short(e.digest)})`;
        if (tty) rows.set(e.ref, msg);
        else out.write(msg + '\n');
      } else if (e.type === 'error') {
        if (tty) rows.set(e.ref, `${e.ref}: failed: ${e.message}`);
      }
      schedule();
    },
    close() {
      if (timer) { clearTimeout(timer); draw(); }
    },
  };
}
