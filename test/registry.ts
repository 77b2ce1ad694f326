// A real registry for tests: Debian's `docker-registry serve` (distribution 2.8) on 127.0.0.1 on a
// free port with a temporary storage dir, optionally behind htpasswd basic auth or token auth (a
// small node token server that signs ES256 JWTs with a self-signed cert the registry trusts).
// Images get in with `skopeo copy` from OCI layouts the fixtures write. `stop()` kills every
// process started here and removes the directory.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { type AddressInfo, createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface RegistryOptions {
  /** Basic auth with one user (bcrypt htpasswd via `htpasswd -Bbn`, from apache2-utils). */
  htpasswd?: { user: string; password: string };
  /** Token auth: a node token server grants every requested action to this user, nothing to anyone else. */
  token?: { user: string; password: string };
}

export interface TestRegistry {
  /** 127.0.0.1:PORT */
  host: string;
  dir: string;
  /** Everything the registry printed so far (its access log included). */
  log(): string;
  /** Blob GETs in the access log so far (count before and after to measure one pull); waits for the log to settle. */
  blobGets(): Promise<number>;
  /** Every request in the access log so far; waits for the log to settle. */
  requests(): Promise<string[]>;
  /** Where the registry keeps a blob's bytes (to corrupt it). */
  blobFile(digest: string): string;
  /** Token requests the token server answered (token auth only). */
  tokenRequests(): { scope: string[]; user?: string }[];
  /** skopeo copy oci:LAYOUT:TAG → docker://HOST/REPO_TAG. */
  push(layoutDir: string, tag: string, repoTag: string, o?: { format?: 'v2s2' | 'oci'; compress?: 'zstd'; all?: boolean }): void;
  stop(): Promise<void>;
}

export function hasRegistryTools(): string | false {
  for (const t of ['docker-registry', 'skopeo']) if (spawnSync('sh', ['-c', `command -v ${t}`]).status !== 0) return `${t} is not installed (apt-get install docker-registry skopeo)`;
  return false;
}

export function hasHtpasswd(): string | false {
  return spawnSync('sh', ['-c', 'command -v htpasswd']).status === 0 ? false : 'htpasswd is not installed (apt-get install apache2-utils)';
}

export async function freePort(): Promise<number> {
  const s = createNetServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/**
 * The token server's program (run as its own node process, so a test blocked in spawnSync — a CLI
 * run, a skopeo push — does not block it): distribution's token auth, ES256 JWTs signed with a key
 * whose self-signed cert (x5c) is the registry's rootcertbundle. Grants every requested action to
 * USER:PASSWORD, nothing to anonymous requests; logs each request as a JSON line.
 */
const TOKEN_SERVER = `
import { createPrivateKey, createSign, randomBytes, X509Certificate } from 'node:crypto';
import { appendFileSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
const [key, cert, log, user, password, service, issuer] = process.argv.slice(2);
const privateKey = createPrivateKey(readFileSync(key));
const der = new X509Certificate(readFileSync(cert)).raw;
const b64url = (b) => Buffer.from(b).toString('base64url');
let n = 0;
const server = createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://x');
  const scope = url.searchParams.getAll('scope');
  let who;
  const auth = req.headers.authorization ?? '';
  if (auth.startsWith('Basic ')) {
    const s = Buffer.from(auth.slice(6), 'base64').toString();
    const u = s.slice(0, s.indexOf(':')), p = s.slice(s.indexOf(':') + 1);
    if (u !== user || p !== password) {
      appendFileSync(log, JSON.stringify({ scope, user: 'refused:' + u }) + '\\n');
      res.writeHead(401, { 'Content-Type': 'application/json' }); res.end('{"details":"bad credentials"}'); return;
    }
    who = u;
  }
  appendFileSync(log, JSON.stringify({ scope, user: who }) + '\\n');
  const access = who ? scope.map((s) => { const [type, ...rest] = s.split(':'); const actions = rest.pop().split(','); return { type, name: rest.join(':'), actions }; }) : [];
  const now = Math.floor(Date.now() / 1000);
  const input = b64url(JSON.stringify({ typ: 'JWT', alg: 'ES256', x5c: [der.toString('base64')] })) + '.' +
    b64url(JSON.stringify({ iss: issuer, sub: who ?? '', aud: service, exp: now + 300, nbf: now - 10, iat: now, jti: randomBytes(8).toString('hex'), access }));
  const token = input + '.' + b64url(createSign('SHA256').update(input).sign({ key: privateKey, dsaEncoding: 'ieee-p1363' }));
  res.writeHead(200, { 'Content-Type': 'application/json' });
  // Every other answer uses access_token, the OAuth2 spelling, to exercise both.
  res.end(JSON.stringify(n++ % 2 ? { access_token: token, expires_in: 300 } : { token, expires_in: 300 }));
});
server.listen(0, '127.0.0.1', () => process.stdout.write(server.address().port + '\\n'));
`;

async function startTokenServer(dir: string, user: { user: string; password: string }, service: string, issuer: string) {
  const key = join(dir, 'token.key');
  const cert = join(dir, 'token.crt');
  const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=niwa-test-token'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`openssl failed: ${r.stderr}`);
  const script = join(dir, 'token-server.mjs');
  const log = join(dir, 'token-requests.jsonl');
  writeFileSync(script, TOKEN_SERVER);
  writeFileSync(log, '');
  const child = spawn(process.execPath, [script, key, cert, log, user.user, user.password, service, issuer], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (b) => { out += b; if (out.includes('\n')) resolve(Number(out.trim())); });
    child.once('exit', (c) => reject(new Error(`token server exited (${c})`)));
  });
  const exited = new Promise<void>((res) => child.once('exit', () => res()));
  return {
    cert, realm: `http://127.0.0.1:${port}/token`,
    requests: (): { scope: string[]; user?: string }[] => readFileSync(log, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)),
    stop: async () => { if (child.exitCode === null && child.signalCode === null) { child.kill('SIGKILL'); await exited; } },
  };
}

export async function startRegistry(opts: RegistryOptions = {}): Promise<TestRegistry> {
  const dir = mkdtempSync(join(tmpdir(), 'niwa-registry-'));
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  let authYaml = '';
  let token: Awaited<ReturnType<typeof startTokenServer>> | undefined;
  if (opts.htpasswd) {
    const r = spawnSync('htpasswd', ['-Bbn', opts.htpasswd.user, opts.htpasswd.password], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`htpasswd failed: ${r.stderr}`);
    writeFileSync(join(dir, 'htpasswd'), r.stdout.trim() + '\n');
    authYaml = `auth:\n  htpasswd:\n    realm: niwa-test\n    path: ${join(dir, 'htpasswd')}\n`;
  } else if (opts.token) {
    token = await startTokenServer(dir, opts.token, 'niwa-test-registry', 'niwa-test-issuer');
    authYaml = `auth:\n  token:\n    realm: ${token.realm}\n    service: niwa-test-registry\n    issuer: niwa-test-issuer\n    rootcertbundle: ${token.cert}\n`;
  }
  const config = join(dir, 'config.yml');
  writeFileSync(config, [
    'version: 0.1',
    'log:',
    '  level: info',
    '  accesslog:',
    '    disabled: false',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${join(dir, 'data')}`,
    '  delete:',
    '    enabled: true',
    '  maintenance:',
    '    uploadpurging:',
    '      enabled: false',
    'http:',
    `  addr: ${host}`,
    `  secret: ${randomBytes(16).toString('hex')}`,
    authYaml,
  ].join('\n') + '\n');
  // The registry writes its log to a file, never to a pipe: tests block in spawnSync (niwa, skopeo)
  // while it serves them, and a full pipe would stop the registry mid-request.
  const logFile = join(dir, 'registry.log');
  const logFd = openSync(logFile, 'a');
  const child: ChildProcess = spawn('docker-registry', ['serve', config], { stdio: ['ignore', logFd, logFd] });
  closeSync(logFd);
  const readLog = () => { try { return readFileSync(logFile, 'utf8'); } catch { return ''; } };
  let out = '';
  const refresh = () => (out = readLog());
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) { child.kill('SIGKILL'); await exited; }
    await token?.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null) { refresh(); await stop(); throw new Error(`docker-registry exited (${child.exitCode}):\n${out}`); }
    try {
      const r = await fetch(`http://${host}/v2/`);
      await r.body?.cancel();
      if (r.status === 200 || r.status === 401) break;
    } catch { /* not yet */ }
    if (Date.now() > deadline) { refresh(); await stop(); throw new Error(`docker-registry did not answer on ${host} within 15 s:\n${out}`); }
    await new Promise((r) => setTimeout(r, 50));
  }
  const creds = opts.htpasswd ?? opts.token;
  // The access log is written after the response: wait until it has been quiet for a moment.
  const settle = async () => {
    let len = -1;
    while (len !== refresh().length) { len = out.length; await new Promise((r) => setTimeout(r, 100)); }
  };
  return {
    host, dir,
    log: () => refresh(),
    blobGets: async () => { await settle(); return (out.match(/"GET \/v2\/[^ ]+\/blobs\/sha256:[a-f0-9]{64} HTTP/g) ?? []).length; },
    requests: async () => { await settle(); return [...out.matchAll(/"((?:GET|HEAD|PUT|POST|PATCH|DELETE) [^ ]+) HTTP/g)].map((m) => m[1]); },
    blobFile: (digest) => join(dir, 'data', 'docker', 'registry', 'v2', 'blobs', 'sha256', digest.slice(7, 9), digest.slice(7), 'data'),
    tokenRequests: () => token?.requests() ?? [],
    push(layoutDir, tag, repoTag, o = {}) {
      const args = ['copy', '-q', '--dest-tls-verify=false', '--preserve-digests'];
      if (o.format === 'v2s2') { args.splice(args.indexOf('--preserve-digests'), 1); args.push('--format', 'v2s2'); }
      if (o.format === 'oci') args.push('--format', 'oci');
      if (o.compress) { args.splice(args.indexOf('--preserve-digests'), 1); args.push('--dest-compress-format', o.compress, '--dest-compress'); }
      if (o.all) args.push('--all');
      if (creds) args.push('--dest-creds', `${creds.user}:${creds.password}`);
      args.push(`oci:${layoutDir}:${tag}`, `docker://${host}/${repoTag}`);
      const r = spawnSync('skopeo', args, { encoding: 'utf8', timeout: 120_000 });
      if (r.status !== 0) throw new Error(`skopeo ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
    },
    stop,
  };
}

export interface ProxyOptions {
  /** The first GET of a blob larger than this is cut after this many bytes (the connection is destroyed). */
  cutFirstBlobAfter?: number;
  /** The first manifest GET answers this status (e.g. 503). */
  failFirstManifest?: number;
  /** Blob GETs answer 307 to another origin (http://localhost:PORT/_storage/…), as registries on S3 do. */
  redirectBlobs?: boolean;
}

export interface TestProxy {
  host: string;
  /** What the proxy did: 'cut <path>', 'fail <path>', 'redirect <path>', 'storage <path>', 'pass <path>'. */
  log: string[];
  stop(): Promise<void>;
}

/**
 * A misbehaving proxy in front of a registry, in this process (use it with in-process pulls, not
 * with spawnSync): cuts a blob half-way, fails a manifest once, or redirects blobs elsewhere.
 */
export async function startProxy(target: string, o: ProxyOptions): Promise<TestProxy> {
  const { createServer, request } = await import('node:http');
  const log: string[] = [];
  let cut = false;
  let failed = false;
  let port = 0;
  const server = createServer((req, res) => {
    let path = req.url ?? '/';
    const isBlob = req.method === 'GET' && /^\/v2\/.+\/blobs\/sha256:/.test(path);
    if (o.failFirstManifest && !failed && req.method === 'GET' && /\/manifests\//.test(path)) {
      failed = true;
      log.push(`fail ${path}`);
      res.writeHead(o.failFirstManifest, { 'Content-Type': 'application/json' });
      res.end('{"errors":[{"code":"UNAVAILABLE","message":"try later"}]}');
      return;
    }
    if (o.redirectBlobs && isBlob) {
      log.push(`redirect ${path}`);
      res.writeHead(307, { Location: `http://localhost:${port}/_storage${path}` });
      res.end();
      return;
    }
    if (path.startsWith('/_storage/')) { path = path.slice('/_storage'.length); log.push(`storage ${path}`); }
    const up = request({ host: '127.0.0.1', port: Number(target.split(':')[1]), method: req.method, path, headers: { ...req.headers, host: target } }, (ur) => {
      const size = Number(ur.headers['content-length']);
      res.writeHead(ur.statusCode ?? 502, ur.headers);
      if (o.cutFirstBlobAfter !== undefined && isBlob && !cut && size > o.cutFirstBlobAfter) {
        cut = true;
        log.push(`cut ${path}`);
        let sent = 0;
        ur.on('data', (c: Buffer) => {
          if (sent >= o.cutFirstBlobAfter!) return;
          const part = c.subarray(0, o.cutFirstBlobAfter! - sent);
          sent += part.length;
          res.write(part);
          if (sent >= o.cutFirstBlobAfter!) { ur.destroy(); res.socket?.destroy(); }
        });
        return;
      }
      if (!path.startsWith('/v2/') || !isBlob) log.push(`pass ${path}`);
      ur.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
  return {
    host: `127.0.0.1:${port}`,
    log,
    stop: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}
