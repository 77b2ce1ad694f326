// Small waits the integration tests share: poll a condition until it holds (test/helpers.ts's),
// and GET a page over HTTP with a timeout.
import { get } from 'node:http';

/** Polls a condition until it holds (test/helpers.ts). */
export { until } from '../helpers.js';
/** The body of an HTTP GET (5 s timeout). */
export const httpGet = (url: string) => new Promise<string>((resolve, reject) => {
  const req = get(url, { timeout: 5000 }, (res) => { let b = ''; res.setEncoding('utf8'); res.on('data', (c) => { b += c; }); res.on('end', () => resolve(b)); });
  req.on('error', reject);
  req.on('timeout', () => req.destroy(new Error('timeout')));
});
