// The registry client's default `fetch`: the small part of fetch() it uses (GET/HEAD with headers, an
// AbortSignal, redirects followed) over node:http and node:https. Node's global fetch (undici) costs
// ~0.3 s per process here: loading undici, compiling its llhttp WebAssembly, and exit waiting for the
// background tier-up of that code — more than the rest of a `niwa pull` of an image already present.
// Same TLS as fetch (Node's CAs plus NODE_EXTRA_CA_CERTS, certificates checked), same error shape
// (a TypeError whose `cause` has the errno `code`), keep-alive through Node's global agents (idle
// sockets are unref'd, so they never hold the process open).
import type { IncomingMessage } from 'node:http';

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const MAX_REDIRECTS = 20;
/** No byte from the server for this long: the request fails (undici's default body and headers timeouts). */
const IDLE_MS = 300_000;

/** What fetch() rejects with for a network failure: a TypeError with the cause (ECONNREFUSED, ...). */
const failed = (cause: unknown) => (cause as Error)?.name === 'AbortError' ? cause : new TypeError('fetch failed', { cause });

function headerRecord(h: RequestInit['headers']): Record<string, string> {
  if (!h) return {};
  if (Array.isArray(h)) return Object.fromEntries(h);
  if (typeof (h as Headers).forEach === 'function' && typeof (h as Headers).get === 'function') { // a Headers (not `instanceof`: that would load undici)
    const o: Record<string, string> = {};
    (h as Headers).forEach((v, k) => { o[k] = v; });
    return o;
  }
  return { ...(h as Record<string, string>) };
}

function once(url: URL, method: string, headers: Record<string, string>, signal: AbortSignal | undefined, body?: Uint8Array): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const mod = url.protocol === 'https:' ? import('node:https') : url.protocol === 'http:' ? import('node:http') : undefined;
    if (!mod) { reject(failed(new Error(`unsupported protocol ${url.protocol}`))); return; }
    mod.then(({ request }) => {
      if (signal?.aborted) { reject(signal.reason); return; }
      const req = request(url, { method, headers, signal });
      req.setTimeout(IDLE_MS, () => req.destroy(Object.assign(new Error(`no answer for ${IDLE_MS / 1000} s`), { code: 'ETIMEDOUT' })));
      req.on('response', resolve);
      req.on('error', (e) => reject(signal?.aborted ? signal.reason : failed(e)));
      req.end(body);
    }, reject);
  });
}

/** The answer, as much of a fetch Response as the registry client and the token cache read. */
function response(res: IncomingMessage, url: URL, redirected: boolean, signal: AbortSignal | undefined): Response {
  let used = false;
  async function* body(): AsyncGenerator<Uint8Array> {
    if (used) throw new TypeError('body used already');
    used = true;
    try {
      for await (const c of res) yield c as Buffer;
    } catch (e) {
      throw signal?.aborted ? signal.reason : failed(e);
    }
    // the connection closed before Content-Length bytes came: a broken transfer, as fetch says ("terminated")
    if (!res.complete) throw failed(Object.assign(new Error('terminated: the connection closed before the whole body arrived'), { code: 'ECONNRESET' }));
  }
  const all = async (): Promise<Buffer> => {
    const parts: Buffer[] = [];
    for await (const c of body()) parts.push(c as Buffer);
    return Buffer.concat(parts);
  };
  const status = res.statusCode ?? 0;
  const stream = Object.assign(body(), { cancel: async () => { res.destroy(); } });
  const r = {
    status,
    ok: status >= 200 && status < 300,
    statusText: res.statusMessage ?? '',
    url: url.href,
    redirected,
    headers: {
      get(name: string): string | null {
        const v = res.headers[name.toLowerCase()];
        return v === undefined ? null : Array.isArray(v) ? v.join(', ') : String(v);
      },
    },
    body: stream,
    get bodyUsed() { return used; },
    text: async () => (await all()).toString('utf8'),
    json: async () => JSON.parse((await all()).toString('utf8')) as unknown,
    arrayBuffer: async () => { const b = await all(); return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength); },
  };
  return r as unknown as Response;
}

/** fetch(url, { method, headers, signal, redirect: 'follow', body }) over node:http(s); a body must be bytes (pushes send blobs and manifests). */
export async function nodeFetch(input: string | URL | Request, init: RequestInit = {}): Promise<Response> {
  let url = new URL(typeof input === 'string' || input instanceof URL ? input : input.url);
  let method = (init.method ?? 'GET').toUpperCase();
  const headers = headerRecord(init.headers);
  const signal = init.signal ?? undefined;
  const body = init.body instanceof Uint8Array ? init.body : typeof init.body === 'string' ? Buffer.from(init.body) : undefined;
  for (let hops = 0; ; hops++) {
    const res = await once(url, method, headers, signal, method === 'GET' || method === 'HEAD' ? undefined : body);
    const location = res.headers.location;
    if (!REDIRECTS.has(res.statusCode ?? 0) || !location || init.redirect === 'manual') return response(res, url, hops > 0, signal);
    res.resume(); // drop the redirect's own body
    if (init.redirect === 'error' || hops >= MAX_REDIRECTS) throw failed(new Error(hops >= MAX_REDIRECTS ? 'too many redirects' : 'redirect refused'));
    const next = new URL(location, url);
    // as fetch does: credentials never follow a redirect to another origin
    if (next.origin !== url.origin) for (const k of Object.keys(headers)) if (k.toLowerCase() === 'authorization') delete headers[k];
    if (res.statusCode === 303 && method !== 'HEAD') method = 'GET';
    url = next;
  }
}
