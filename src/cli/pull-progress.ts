// Rendering PullEvents: on a terminal one line per layer with a bar, redrawn in place (plain
// escape codes, no Ink: a pull must start fast); otherwise timestamped lines, state changes only
// (download progress at most once a second per layer); `--quiet` prints the pulled name alone.
// Several images may pull at once (compose): finished lines (an image resolved, an image pulled
// with its layers' last state) are printed above the live block, which is redrawn below them.
import type { PullEvent } from '../image/types.js';

export interface PullReporter {
  onEvent(e: PullEvent): void;
  /** Draw the last frame (call once the pull settled). */
  finish(): void;
}

type LayerState = Extract<PullEvent, { type: 'layer' }>['state'];
interface Row { ref: string; digest: string; state: LayerState; current: number; total: number; message?: string }

const short = (digest: string) => digest.replace(/^sha256:/, '').slice(0, 12);

export function humanBytes(n: number): string {
  const u = ['B', 'kB', 'MB', 'GB', 'TB'];
  let i = 0;
  let v = n;
  while (v >= 1000 && i < u.length - 1) { v /= 1000; i++; }
  return i === 0 ? `${v}B` : `${v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : v.toFixed(0)}${u[i]}`;
}

const LABEL: Record<LayerState, string> = {
  exists: 'already present', waiting: 'waiting', downloading: 'downloading', verifying: 'verifying', unpacking: 'unpacking', done: 'done', retry: 'retrying',
};

export function pullReporter(opts: { out: NodeJS.WritableStream & { columns?: number }; tty: boolean; quiet?: boolean; now?: () => Date }): PullReporter {
  const { out, tty } = opts;
  const now = opts.now ?? (() => new Date());
  const rows = new Map<string, Row>();
  let drawn = 0;
  let timer: NodeJS.Timeout | undefined;
  const lastPlain = new Map<string, { state: LayerState; at: number }>();

  const line = (r: Row): string => {
    const width = Math.min(out.columns || 80, 120);
    const label = LABEL[r.state].padEnd(16);
    let tail = '';
    if (r.state === 'downloading' || r.state === 'verifying') {
      const sizes = `${humanBytes(r.current)}/${humanBytes(r.total)}`;
      // The bar takes what is left of the line (none on a narrow terminal).
      const barW = Math.min(50, width - 1 - 12 - 2 - 16 - 3 - 15);
      const f = r.total ? Math.min(1, r.current / r.total) : 0;
      const n = Math.round(f * barW);
      tail = barW >= 10 ? `[${'='.repeat(Math.max(0, n - 1))}${n ? '>' : ''}${' '.repeat(barW - n)}] ${sizes}` : sizes;
    } else if (r.state === 'retry' && r.message) tail = r.message;
    else if (r.state === 'done' || r.state === 'exists') tail = humanBytes(r.total);
    return `${short(r.digest)}  ${label}${tail}`.slice(0, width - 1);
  };

  /** The live block: every layer of the images still pulling, moved up over the previous block. */
  const draw = () => {
    if (timer) { clearTimeout(timer); timer = undefined; }
    let s = drawn ? `\x1b[${drawn}A` : '';
    for (const r of rows.values()) s += `\x1b[2K${line(r)}\n`;
    if (drawn > rows.size) s += '\x1b[J'; // the block shrank: clear what is left below it
    drawn = rows.size;
    if (s) out.write(s);
  };
  /** A finished line above the live block (the block is cleared, the line printed, the block redrawn). */
  const permanent = (text: string) => {
    out.write(`${drawn ? `\x1b[${drawn}A\x1b[J` : ''}${text}`);
    drawn = 0;
    draw();
  };
  /** An image is finished: its layers leave the live block as permanent lines. */
  const settle = (ref: string, last: string) => {
    const mine = [...rows.entries()].filter(([, r]) => r.ref === ref);
    for (const [k] of mine) rows.delete(k);
    permanent(mine.map(([, r]) => `${line(r)}\n`).join('') + last);
  };
  const schedule = () => { if (!timer) timer = setTimeout(draw, 80); };
  const stamp = () => now().toISOString();

  const plain = (e: PullEvent) => {
    if (e.type === 'resolve') out.write(`${stamp()} ${e.ref}: resolved to ${e.digest} (${e.layers} layer${e.layers === 1 ? '' : 's'})\n`);
    else if (e.type === 'layer') {
      const key = `${e.ref} ${e.digest}`;
      const prev = lastPlain.get(key);
      const t = Date.now();
      if (e.state === 'downloading' && prev?.state === 'downloading' && t - prev.at < 1000) return;
      lastPlain.set(key, { state: e.state, at: t });
      const sizes = e.state === 'downloading' || e.state === 'verifying' ? ` ${humanBytes(e.current ?? 0)}/${humanBytes(e.total ?? 0)}` : e.total !== undefined && (e.state === 'exists' || e.state === 'waiting') ? ` ${humanBytes(e.total)}` : '';
      out.write(`${stamp()} ${e.ref}: layer ${short(e.digest)} ${LABEL[e.state]}${sizes}${e.message ? `: ${e.message}` : ''}\n`);
    } else if (e.type === 'done') out.write(`${stamp()} ${e.ref}: pulled ${e.digest} (downloaded ${humanBytes(e.downloadedBytes)} in ${(e.ms / 1000).toFixed(1)}s)\n`);
    else if (e.type === 'error') out.write(`${stamp()} ${e.ref}: failed: ${e.message}\n`);
  };

  return {
    onEvent(e) {
      if (opts.quiet) return;
      if (!tty) { plain(e); return; }
      if (e.type === 'resolve') permanent(`${e.ref}: pulling ${e.digest}\n`);
      else if (e.type === 'layer') {
        const key = `${e.ref} ${e.digest}`;
        const r = rows.get(key) ?? { ref: e.ref, digest: e.digest, state: e.state, current: 0, total: e.total ?? 0 };
        r.state = e.state;
        if (e.current !== undefined) r.current = e.current;
        if (e.total !== undefined) r.total = e.total;
        r.message = e.message;
        rows.set(key, r);
        schedule();
      } else if (e.type === 'done') settle(e.ref, `${e.ref}: pulled ${e.digest} (downloaded ${humanBytes(e.downloadedBytes)} in ${(e.ms / 1000).toFixed(1)}s)\n`);
      else if (e.type === 'error') settle(e.ref, '');
    },
    finish() {
      if (timer) draw();
    },
  };
}

/** The reporter verbs use when pulling on the side of their own work: on stderr, bars when it is a terminal. */
export function stderrPullReporter(): PullReporter {
  return pullReporter({ out: process.stderr, tty: Boolean(process.stderr.isTTY) });
}
