// Owns choosing how progress is shown: the live Ink view, plain timestamped lines, or JSON lines.
// The Ink view is loaded only here, by dynamic import, and only when it is chosen.
import { UserError } from '../errors.js';

export type ProgressMode = 'tty' | 'plain' | 'json';

/**
 * --json wins; then --progress plain|tty; `auto` (the default) means the live view when stdout is a
 * terminal that can redraw (not TERM=dumb, not CI, where Ink writes only its static lines).
 */
export function progressMode(o: { progress?: string; json?: boolean; stdoutIsTTY: boolean; env?: NodeJS.ProcessEnv }): ProgressMode {
  if (o.json) return 'json';
  const p = o.progress ?? 'auto';
  if (p === 'plain' || p === 'tty') return p;
  if (p === 'json') return 'json';
  if (p !== 'auto') throw new UserError('E_USAGE', `--progress must be auto, tty, plain or json, not '${p}'`);
  const env = o.env ?? process.env;
  const ci = ['CI', 'CONTINUOUS_INTEGRATION'].some((k) => k in env && env[k] !== '0' && env[k] !== 'false');
  return o.stdoutIsTTY && env.TERM !== 'dumb' && !ci ? 'tty' : 'plain';
}

/**
 * Load the live view (Ink, React) on demand, with React's production build: the development build
 * costs several times more CPU per frame. NODE_ENV is read once when React loads; it is set only
 * for that moment so children spawned later do not inherit it.
 */
export async function loadLiveView(): Promise<typeof import('./live.js')> {
  const prev = process.env.NODE_ENV;
  if (prev === undefined) process.env.NODE_ENV = 'production';
  try {
    return await import('./live.js');
  } finally {
    if (prev === undefined) delete process.env.NODE_ENV;
  }
}
