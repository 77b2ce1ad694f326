// Owns the supervisor process (`niwa __supervise PROJECT`): one per project, holding the lock file
// _supervisor.json, answering the socket protocol (protocol.ts), supervising every container of
// the project (container.ts), adopting containers a killed supervisor left running, and exiting
// once nothing is left to supervise.
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { chmodSync, closeSync, existsSync, openSync, readdirSync, unlinkSync, writeSync } from 'node:fs';
import { EventBus, type RuntimeEvent } from '../../events/types.js';
import { UserError } from '../../errors.js';
import { checkName } from '../../spec/names.js';
import { detectCgroupLayout } from '../cgroup/detect.js';
import { sameProcessAlive, startTime } from '../proc.js';
import { isLive } from '../status.js';
import {
  containerDir, deriveState, listNames, projectDir, pruneProject, readJson, readPlan, readSpec, readState, socketPath,
  supervisorInfoPath, NAME_RE, type ContainerState, type SupervisorInfo,
} from '../state.js';
import { readLogEntries, parseSince, DEFAULT_LOG_MAX_BYTES } from './logs.js';
import { ensureProjectDir, isNoSpace, logPath, noSpaceError, PRIVATE_FILE_MODE, stateWrite } from '../state.js';
import { Supervised, errorBody, type SupervisorContext } from './container.js';
import { removeUnsupervised } from './remove.js';
import type { Request, Response, StreamLine } from './protocol.js';
import { ProjectOps } from './project-ops.js';
import type { CanonicalSpec } from '../../spec/types.js';

/** How long the supervisor lingers with nothing to supervise before it exits. */
const IDLE_MS = Number(process.env.NIWA_SUPERVISOR_IDLE_MS ?? 1500);

// The supervisor's own log is a file under the state root: when that filesystem is full, its lines
// are lost, and the supervisor must live on (an 'error' on stderr would otherwise end the process).
const log = (msg: string) => { try { process.stderr.write(`${new Date().toISOString()} ${msg}\n`); } catch { /* full */ } };

export async function supervise(root: string, project: string): Promise<number> {
  checkName(project, 'project name');
  process.stderr.on('error', () => {});
  stateWrite(root, () => ensureProjectDir(root, project));
  if (!(await acquireLock(root, project))) { log('another supervisor is running for this project; exiting'); return 0; }
  const d = new Daemon(root, project);
  // Records of starts that a killed supervisor left half-made go before any request is heard:
  // the client that sent that start asks again (with its token) and finds the name free.
  await d.rollBackInterrupted();
  // Adopted before listening: a client asking again for a container this supervisor's predecessor
  // made finds it supervised, not a name conflict.
  await d.adoptAll();
  await d.listen();
  d.checkIdle();
  return new Promise<number>((resolve) => { d.onExit = resolve; });
}

/** The lock is _supervisor.json created with O_EXCL; a stale one (its process gone) is replaced. */
async function acquireLock(root: string, project: string): Promise<boolean> {
  const path = supervisorInfoPath(root, project);
  const me: SupervisorInfo = { pid: process.pid, start: startTime(process.pid) ?? 0 };
  for (let i = 0; i < 100; i++) {
    try {
      const fd = openSync(path, 'wx', PRIVATE_FILE_MODE);
      try { writeSync(fd, JSON.stringify(me) + '\n'); } catch (e) {
        // a full disk: an empty lock file would hold off the next supervisor for nothing
        closeSync(fd);
        unlinkSync(path);
        throw isNoSpace(e) ? noSpaceError(path, e) : e;
      }
      closeSync(fd);
      return true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const other = readJson<SupervisorInfo>(path);
    if (other && sameProcessAlive(other.pid, other.start)) {
      // Alive: a running supervisor (we are not needed), or one that is exiting (wait for it).
      const { tryRequest } = await import('./client.js');
      const r = await tryRequest({ root, project }, { op: 'ping' }).catch(() => undefined);
      if (r?.ok) return false;
    } else if (other || i > 3) {
      // Gone (or a file that never got its content: a supervisor killed between open and write).
      try { unlinkSync(path); } catch { /* someone else did */ }
      continue;
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  return false;
}

/**
 * Hook functions of a .container.ts spec cannot travel as JSON (the CLI sends the spec, state keeps
 * spec.json): the supervisor loads them again from the spec file. Command hooks need nothing.
 */
async function withHookFunctions(spec: CanonicalSpec): Promise<CanonicalSpec> {
  if (spec.hooks.every((h) => h.command)) return spec;
  try {
    const { loadSpec } = await import('../../spec/load/index.js');
    const fresh = await loadSpec(spec.file, {});
    return { ...spec, hooks: spec.hooks.map((h, i) => (h.command ? h : { ...h, fn: fresh.hooks[i]?.fn })) };
  } catch (e) {
    log(`${spec.name}: could not load hook functions from ${spec.file}: ${(e as Error).message}`);
    return spec;
  }
}

class Daemon {
  private server?: Server;
  private containers = new Map<string, Supervised>();
  private bus = new EventBus();
  private connections = new Set<Socket>();
  private idleTimer?: NodeJS.Timeout;
  private busy = 0;
  private ops: ProjectOps;
  private exiting = false;
  private ctx: SupervisorContext;
  onExit: (code: number) => void = () => {};

  constructor(readonly root: string, readonly project: string) {
    this.ctx = {
      root, project,
      layout: detectCgroupLayout(),
      emit: (e: RuntimeEvent) => this.bus.emit(e),
      log,
      logMaxBytes: Number(process.env.NIWA_LOG_MAX_BYTES ?? DEFAULT_LOG_MAX_BYTES),
      changed: () => this.checkIdle(),
      autoRemove: (name) => setImmediate(() => void this.autoRemove(name)),
    };
    this.ops = new ProjectOps({
      root, project, bus: this.bus, containers: this.containers, layout: this.ctx.layout, log,
      exiting: () => this.exiting,
      runContainer: (req) => this.runContainer(req),
      createContainer: (req) => this.createContainer(req),
      removeByName: (name, force) => this.removeByName(name, force),
      send: (s, l) => this.send(s, l),
      hold: () => { this.busy++; let done = false; return () => { if (done) return; done = true; this.busy--; this.checkIdle(); }; },
      shutdown: () => void this.shutdown(true),
    });
    for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
      process.on(sig, () => { log(`${sig}: leaving containers running, exiting`); void this.shutdown(true); });
    }
  }

  /** `niwa rm` of a supervised container, and `run -d --rm` once it has ended for good. */
  private async removeSupervised(c: Supervised, force: boolean): Promise<void> {
    await c.remove(force);
    this.containers.delete(c.name);
    this.ctx.emit({ type: 'status', container: c.name, state: 'exited', status: 'removed', at: Date.now() });
  }

  private async autoRemove(name: string): Promise<void> {
    const c = this.containers.get(name);
    if (!c || isLive(c.state.status)) return;
    await this.removeSupervised(c, true).catch((e) => log(`${name}: --rm: ${(e as Error).message}`));
    this.checkIdle();
  }

  listen(): Promise<void> {
    const path = socketPath(this.root, this.project);
    try { unlinkSync(path); } catch { /* none: fine */ } // stale: we hold the lock
    this.server = createServer((s) => this.onConnection(s));
    return new Promise((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(path, () => {
        chmodSync(path, 0o600);
        log(`supervisor ${process.pid} for project '${this.project}' listening on ${path}`);
        resolve();
      });
    });
  }

  /**
   * Records still 'created' were being started when their supervisor was killed (the start did not
   * answer, so its client did not get a container): roll each back — kill what it started, undo its
   * host steps, remove the record.
   */
  async rollBackInterrupted(): Promise<void> {
    const d = projectDir(this.root, this.project);
    const dirs = readdirSync(d, { withFileTypes: true }).filter((e) => e.isDirectory() && NAME_RE.test(e.name)).map((e) => e.name);
    for (const name of dirs) {
      const dir = containerDir(this.root, this.project, name);
      const st = readState(dir);
      // (no state.json: a record half-made, or half-removed by a supervisor killed in its rollback)
      if (st && (st.status !== 'created' || st.foreground || st.createdOnly)) continue;
      log(`${name}: its start was interrupted (its supervisor was killed): rolling it back`);
      try {
        const failed = await removeUnsupervised(dir, this.ctx.layout, true);
        if (failed.length) log(`${name}: rollback left: ${failed.join('; ')}`);
      } catch (e) { log(`${name}: rollback failed: ${(e as Error).message}`); }
    }
  }

  /** Containers on disk that a previous supervisor left live: supervise them again. */
  async adoptAll(): Promise<void> {
    for (const name of listNames(this.root, this.project)) {
      const dir = containerDir(this.root, this.project, name);
      const st = readState(dir);
      const plan = readPlan(dir);
      const spec = readSpec(dir);
      if (!st || !plan || !spec || !isLive(st.status) || st.createdOnly) continue; // (compose create: made, never started)
      if (st.foreground && sameProcessAlive(st.foreground.ownerPid, st.foreground.ownerStart)) continue; // its niwa run owns it
      try { this.containers.set(name, Supervised.adopt(this.ctx, dir, plan, await withHookFunctions(spec), st)); } catch (e) { log(`${name}: adopt failed: ${(e as Error).message}`); }
    }
  }

  checkIdle(): void {
    if (this.idleTimer) { clearTimeout(this.idleTimer); this.idleTimer = undefined; }
    if (this.exiting || !this.idle()) return;
    this.idleTimer = setTimeout(() => { if (this.idle()) void this.shutdown(true); }, IDLE_MS);
  }

  private idle(): boolean {
    return this.connections.size === 0 && this.busy === 0 && ![...this.containers.values()].some((c) => c.isLive());
  }

  private async shutdown(leave: boolean): Promise<void> {
    if (this.exiting) return;
    this.exiting = true;
    if (!leave) await Promise.all([...this.containers.values()].filter((c) => c.isLive()).map((c) => c.stop().catch(() => {})));
    for (const c of this.containers.values()) c.detach();
    try { unlinkSync(socketPath(this.root, this.project)); } catch { /* gone */ }
    this.server?.close();
    for (const s of this.connections) s.destroy();
    log(`supervisor ${process.pid} exiting`);
    if (!pruneProject(this.root, this.project, true)) {
      try { unlinkSync(supervisorInfoPath(this.root, this.project)); } catch { /* gone */ }
    }
    this.onExit(0);
  }

  private onConnection(s: Socket): void {
    this.connections.add(s);
    if (this.idleTimer) { clearTimeout(this.idleTimer); this.idleTimer = undefined; }
    let buf = '';
    let handled = false;
    s.setEncoding('utf8');
    s.on('error', () => {});
    s.on('close', () => { this.connections.delete(s); this.checkIdle(); });
    s.on('data', (chunk: string) => {
      if (handled) return;
      buf += chunk;
      const nl = buf.indexOf('\n');
      if (nl < 0) { if (buf.length > 64 * 1024 * 1024) s.destroy(); return; }
      handled = true;
      let req: Request;
      try { req = JSON.parse(buf.slice(0, nl)); } catch { this.reply(s, { ok: false, error: { code: 'E_PROTOCOL', message: 'bad request line', exitCode: 1 } }); return; }
      this.busy++;
      this.handle(req, s)
        .then((r) => { if (r) this.reply(s, r); })
        .catch((e) => this.reply(s, { ok: false, error: errorBody(e) }))
        .finally(() => { this.busy--; this.checkIdle(); });
    });
  }

  private reply(s: Socket, r: Response): void {
    if (!s.destroyed) s.end(JSON.stringify(r) + '\n');
  }

  private get(name: string): Supervised {
    const c = this.containers.get(name);
    if (c) return c;
    throw new UserError('E_NO_CONTAINER', `no container named '${name}' in project '${this.project}'`, [], `see niwa ps${this.project === 'default' ? '' : ' --project ' + this.project}`);
  }

  /** Answers a request; undefined when the answer was streamed. */
  private async handle(req: Request, s: Socket): Promise<Response | undefined> {
    switch (req.op) {
      case 'ping':
        return { ok: true, pid: process.pid, project: this.project, containers: this.containers.size };
      case 'run': return this.runContainer(req);
      case 'stop': {
        const c = this.containers.get(req.name);
        if (!c && readState(this.onDisk(req.name))?.createdOnly) return { ok: true, status: 'created' }; // never started: nothing to stop
        if (!c) { this.onDisk(req.name); throw new UserError('E_NOT_SUPERVISED', `stop: container '${req.name}' is not supervised`, [], 'it has ended; niwa rm removes it'); }
        await c.stop(req.timeoutMs);
        return { ok: true, status: c.state.status, exitCode: c.state.exitCode, signal: c.state.signal };
      }
      case 'kill': this.get(req.name).kill(req.signal); return { ok: true };
      case 'pause': await this.get(req.name).pause(); return { ok: true };
      case 'unpause': await this.get(req.name).unpause(); return { ok: true };
      case 'rm':
        await this.removeByName(req.name, req.force === true);
        return { ok: true };
      case 'ps':
        return { ok: true, containers: this.ps() };
      case 'logs-follow':
        this.followLogs(req, s);
        return undefined;
      case 'events':
        this.streamEvents(req.container, s, req.statsMs);
        return undefined;
      case 'debug': {
        if (req.gc) (globalThis as { gc?: () => void }).gc?.();
        const handles = (process as unknown as { _getActiveHandles?: () => unknown[] })._getActiveHandles?.().length;
        // a heap snapshot next to the supervisor's log, for a leak hunt (scripts/sup-mem.mjs --snapshots)
        const snapshot = req.snapshot ? (await import('node:v8')).writeHeapSnapshot(join(projectDir(this.root, this.project), `_heap-${Date.now()}.heapsnapshot`)) : undefined;
        return { ok: true, memory: process.memoryUsage(), containers: [...this.containers.keys()], sinks: this.bus.size, connections: this.connections.size, handles, snapshot };
      }
      case 'apply':
        this.ops.apply(req, s);
        return undefined;
      case 'down':
        return this.ops.down(req);
      case 'cancel':
        return { ok: true, cancelled: this.ops.cancel() };
      case 'undo': {
        const { takeTeardown } = await import('../project/teardown-store.js');
        await this.ops.undo(takeTeardown(this.root, this.project, req.units).filter((st) => st.op !== 'remove'));
        return { ok: true };
      }
      case 'shutdown':
        setImmediate(() => void this.shutdown(req.leave === true));
        return { ok: true };
      default:
        throw new UserError('E_PROTOCOL', `unknown request '${(req as { op: string }).op}'`);
    }
  }

  /** `run`: a compiled plan as a new container (also each launch of an `apply`, in-process). */
  /**
   * `compose create`: the container's record (plan, spec, net.json; status `created`, marked
   * createdOnly so that no supervisor rolls it back or adopts it), not started and not supervised;
   * `compose start`/`up` remove it and make it again from their plan, `down` removes it.
   */
  private createContainer(req: Extract<Request, { op: 'run' }>): void {
    if (this.exiting) throw new UserError('E_SUPERVISOR_EXITING', 'the supervisor is shutting down', [], 'try again');
    const c = Supervised.create(this.ctx, req.plan, req.spec, req.net, undefined, undefined, true);
    c.release();
  }

  private async runContainer(req: Extract<Request, { op: 'run' }>): Promise<Response> {
    if (this.exiting) throw new UserError('E_SUPERVISOR_EXITING', 'the supervisor is shutting down', [], 'try again');
    const mine = req.token ? this.containers.get(req.plan.name) : undefined;
    if (mine && mine.state.token === req.token) {
      // The same request again (its first answer was lost with a killed supervisor): this is its container.
      await mine.whenStarted();
      if (mine.state.status !== 'created') return { ok: true, id: mine.state.id, name: mine.name, pid: mine.state.pid ?? 0, ms: 0 };
    } else if (req.token && !mine) {
      // ... or its container ran and ended before this supervisor came up (its record is on disk, not adopted)
      const disk = NAME_RE.test(req.plan.name) ? readState(containerDir(this.root, this.project, req.plan.name)) : undefined;
      if (disk?.token === req.token && disk.status !== 'created') return { ok: true, id: disk.id, name: disk.name, pid: disk.pid ?? 0, ms: 0 };
    }
    const spec = await withHookFunctions(req.spec);
    const dir = NAME_RE.test(req.plan.name) ? containerDir(this.root, this.project, req.plan.name) : '';
    if (dir && !this.containers.has(req.plan.name) && existsSync(dir) && !readState(dir)) await removeUnsupervised(dir, this.ctx.layout, true); // an unfinished record is no name conflict
    // Ports first: a port in use fails the request before anything exists.
    const proxy = req.net?.ports?.length && req.net.address
      ? await (await import('../net/ports.js')).publishPorts(req.net.ports, req.net.address)
      : undefined;
    let c: Supervised;
    try { c = Supervised.create(this.ctx, req.plan, spec, req.net, proxy, req.token); } catch (e) { await proxy?.close(); throw e; }
    this.containers.set(c.name, c);
    try {
      const r = await c.start();
      return { ok: true, id: c.state.id, name: c.name, pid: r.pid, ms: r.ms };
    } catch (e) {
      this.containers.delete(c.name);
      c.discard();
      throw e;
    }
  }

  /** The directory of a container this supervisor does not hold; `unfinished`: also one without state.json. */
  private onDisk(name: string, unfinished = false): string {
    const dir = containerDir(this.root, this.project, name);
    if (!NAME_RE.test(name) || !(readState(dir) || (unfinished && existsSync(dir)))) this.get(name);
    return containerDir(this.root, this.project, name);
  }

  ps(): ContainerState[] {
    const out: ContainerState[] = [];
    for (const name of listNames(this.root, this.project)) {
      const c = this.containers.get(name);
      if (c) { out.push(c.view()); continue; }
      const dir = containerDir(this.root, this.project, name);
      const st = readState(dir);
      if (st) out.push(deriveState(st, this.ctx.layout, dir));
    }
    return out;
  }

  private send(s: Socket, l: StreamLine | Response): void {
    if (!s.destroyed) s.write(JSON.stringify(l) + '\n');
  }

  private followLogs(req: Extract<Request, { op: 'logs-follow' }>, s: Socket): void {
    const c = this.containers.get(req.name);
    const dir = c?.dir ?? this.onDisk(req.name);
    const since = req.since ? parseSince(req.since) : undefined;
    this.send(s, { ok: true, stream: true });
    // The file and the live feed are read in the same tick: the log writer is synchronous, so no
    // line is lost or repeated between them.
    for (const e of readLogEntries(logPath(dir), { tail: req.tail, since })) this.send(s, { log: e });
    const end = () => { if (!s.destroyed) s.end(JSON.stringify({ end: true, status: c?.state.status }) + '\n'); };
    if (!c) { end(); return; }
    const off = c.follow((e) => this.send(s, { log: e }), end);
    s.on('close', off);
  }

  private streamEvents(container: string | undefined, s: Socket, statsMs?: number): void {
    this.send(s, { ok: true, stream: true });
    const off = this.bus.on((e) => { if (!container || ('container' in e && e.container === container)) this.send(s, { event: e }); });
    const stats = statsMs ? this.statsTimer(s, statsMs, container) : undefined;
    s.on('close', () => { off(); clearInterval(stats); });
  }

  /** A `stats` event per running container (of `container` only when given) every `ms`, to this subscriber. */
  private statsTimer(s: Socket, ms: number, container?: string): NodeJS.Timeout {
    const t = setInterval(() => {
      if (s.destroyed) { clearInterval(t); return; }
      void import('../cgroup/stats.js').then(({ readCgroupStats }) => {
        const at = Date.now();
        for (const c of this.containers.values()) {
          if (c.state.status !== 'running' || (container && c.name !== container)) continue;
          try { this.send(s, { event: { type: 'stats', container: c.name, stats: readCgroupStats(c.state.cgroups, this.ctx.layout), at } }); } catch { /* it just ended */ }
        }
      });
    }, Math.max(100, ms));
    t.unref();
    return t;
  }

  /** `rm`: a supervised container, or one on disk that nobody supervises. */
  private async removeByName(name: string, force: boolean): Promise<void> {
    const c = this.containers.get(name);
    if (c) { await this.removeSupervised(c, force); return; }
    const dir = this.onDisk(name, true);
    const failed = await removeUnsupervised(dir, this.ctx.layout, force);
    if (failed.length) log(`${name}: cleanup left: ${failed.join('; ')}`);
    this.ctx.emit({ type: 'status', container: name, state: 'exited', status: 'removed', at: Date.now() });
  }
}
