// Small waits the integration tests share: poll a condition until it holds (or fail the test),
// and GET a page over HTTP with a timeout.
import assert from 'node:assert/strict';
import { get } from 'node:http';

/** Polls `f` every 50 ms until it returns something truthy; fails the test after `ms`. */
export async function until<T>(what: string, f: () => T | undefined | false, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v) return v;
    if (Date.now() > end) assert.fail(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The body of an HTTP GET (5 s timeout). */
export const httpGet = (url: string) => new Promise<string>((resolve, reject) => {
  const req = get(url, { timeout: 5000 }, (res) => { let b = ''; res.setEncoding('utf8'); res.on('data', (c) => { b += c; }); res.on('end', () => resolve(b)); });
  req.on('error', reject);
  req.on('timeout', () => req.destroy(new Error('timeout')));
});
