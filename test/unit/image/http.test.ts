// nodeFetch, the registry client's fetch over node:http: what the client relies on from fetch —
// status and headers, bodies (whole or streamed), redirects (Authorization dropped across origins),
// a body cut short is an error (never a short success), network errors carry their errno as `cause`.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { nodeFetch } from '../../../src/image/http.js';

let a: Server;
let b: Server;
let A = '';
let B = '';
const seen: { path: string; auth?: string }[] = [];

function serve(): Promise<[Server, string]> {
  const s = createServer((req, res) => {
    seen.push({ path: req.url ?? '', auth: req.headers.authorization });
    if (req.url === '/hello') { res.setHeader('Docker-Content-Digest', 'sha256:x'); res.end('{"hi":1}'); return; }
    if (req.url === '/same') { res.writeHead(307, { Location: '/hello' }); res.end(); return; }
    if (req.url === '/other') { res.writeHead(302, { Location: `${B}/hello` }); res.end(); return; }
    if (req.url === '/cut') { res.writeHead(200, { 'Content-Length': '1000' }); res.write('x'.repeat(100)); setTimeout(() => res.socket?.destroy(), 20); return; }
    if (req.url === '/big') { res.end(Buffer.alloc(1 << 20, 1)); return; }
    res.writeHead(404); res.end('{"errors":[{"code":"NAME_UNKNOWN"}]}');
  });
  return new Promise((r) => s.listen(0, '127.0.0.1', () => r([s, `http://127.0.0.1:${(s.address() as AddressInfo).port}`])));
}

before(async () => { [a, A] = await serve(); [b, B] = await serve(); });
after(() => { a.close(); b.close(); a.closeAllConnections(); b.closeAllConnections(); });

test('status, headers, text/json/arrayBuffer, and a streamed body', async () => {
  const r = await nodeFetch(`${A}/hello`, { headers: { 'User-Agent': 't' } });
  assert.equal(r.status, 200);
  assert.equal(r.ok, true);
  assert.equal(r.headers.get('docker-content-digest'), 'sha256:x');
  assert.equal(r.headers.get('X-None'), null);
  assert.deepEqual(await r.json(), { hi: 1 });
  const nf = await nodeFetch(`${A}/nope`);
  assert.equal(nf.ok, false);
  assert.equal(nf.status, 404);
  assert.match(await nf.text(), /NAME_UNKNOWN/);
  const big = await nodeFetch(`${A}/big`);
  let n = 0;
  for await (const c of big.body as unknown as AsyncIterable<Uint8Array>) n += c.byteLength;
  assert.equal(n, 1 << 20);
});

test('redirects are followed; Authorization goes along on the same origin only', async () => {
  seen.length = 0;
  const same = await nodeFetch(`${A}/same`, { headers: { Authorization: 'Bearer t' } });
  assert.deepEqual(await same.json(), { hi: 1 });
  assert.equal(same.redirected, true);
  const other = await nodeFetch(`${A}/other`, { headers: { Authorization: 'Bearer t' } });
  assert.deepEqual(await other.json(), { hi: 1 });
  assert.deepEqual(seen.map((s) => [s.path, s.auth]), [['/same', 'Bearer t'], ['/hello', 'Bearer t'], ['/other', 'Bearer t'], ['/hello', undefined]]);
});

test('a body cut short fails (as fetch\'s "terminated"), never ends as a short success', async () => {
  const r = await nodeFetch(`${A}/cut`);
  await assert.rejects(async () => { for await (const _ of r.body as unknown as AsyncIterable<Uint8Array>) { /* read */ } }, (e: unknown) => e instanceof TypeError && typeof (e.cause as { code?: string })?.code === 'string');
});

test('network errors carry the errno as cause (what the registry client reads); an abort rejects with its reason', async () => {
  const port = (a.address() as AddressInfo).port;
  const closed = await serve();
  closed[0].close();
  await assert.rejects(nodeFetch(closed[1] + '/x'), (e: unknown) => e instanceof TypeError && (e.cause as { code?: string }).code === 'ECONNREFUSED');
  const ac = new AbortController();
  const p = nodeFetch(`http://127.0.0.1:${port}/cut`, { signal: ac.signal }).then(async (r) => { for await (const _ of r.body as unknown as AsyncIterable<Uint8Array>) ac.abort(new Error('stop')); });
  await assert.rejects(p, /stop/);
});
