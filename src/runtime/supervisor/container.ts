// Owns one supervised container inside the supervisor: starting it through the native stage with
// its stdout/stderr on named FIFOs, writing its log, reaping it, cleaning up after each run,
// applying the restart policy with back-off, stop/kill/pause/unpause/rm, health, and keeping
// state.json in step with every status change (through the state machine in runtime/status.ts).
import { execFileSync } from 'node:child_process';
import { closeSync, constants as fsc, existsSync, openSync } from 'node:fs';
import { Socket } from 'node:net';
import { join } from 'node:path';
import type { CanonicalSpec } from '../../spec/types.js';
import type { CgroupLayout, LaunchPlan } from '../../plan/types.js';
import type { RuntimeEvent, ContainerState as ViewState } from '../../events/types.js';
import { NiwaError, RuntimeFailure, UserError } from '../../errors.js';
import { realSys } from '../sys/real.js';
import { startPlan, cleanupPlan } from '../launch/start.js';
import { cgroupPids, isNoSpace, noSpaceError, readExitStatus, statusPath } from '../state.js';
import type { StageExit } from '../launch/stage.js';
import { createCgroupManager } from '../cgroup/manager.js';
import { sameProcessAlive, startTime } from '../proc.js';
import { isLive, transition, type Status } from '../status.js';
import { parseSignal } from '../signals.js';
import { createContainerDir, logPath, readJson, removeContainerDir, writeAtomic, writeState, type ContainerState } from '../state.js';
import type { RunNet } from './protocol.js';
import type { PortProxy } from '../net/ports.js';
import type { PortHolder } from '../net/container.js';
import type { PublishedPort } from '../../events/types.js';
import { LineSplitter, LogWriter, type LogEntry, type LogStream } from './logs.js';
import { nextDelay, shouldRestart } from './restart.js';

export interface SupervisorContext {
  root: string;
  project: string;
  layout: CgroupLayout;
  emit: (e: RuntimeEvent) => void;
  /** A line for the supervisor's own log. */
  log: (msg: string) => void;
  logMaxBytes: number;
  /** Something changed that may make the supervisor idle. */
  changed: () => void;
  /** Remove a container that ended for good and asked for it (`run -d --rm`: annotation niwa.autoremove). */
  autoRemove?: (name: string) => void;
}

/** Signals whose delivery by `niwa kill` counts as the user stopping the container. */
const TERMINATING = new Set(['SIGKILL', 'SIGTERM', 'SIGINT', 'SIGQUIT']);
/** Signals the stage relays to the container (native/README.md); others go to the container's pid. */
const STAGE_FORWARDS = new Set(['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2', 'SIGCONT', 'SIGWINCH']);

/** What `niwa ps` and the UI see for a status (the view's coarser ContainerState). */
function viewState(s: Status, failedStart: boolean): ViewState {
  switch (s) {
    case 'created': return 'starting';
    case 'running': case 'paused': return 'running';
    case 'stopping': return 'stopping';
    case 'restarting': return 'restarting';
    case 'oom-killed': return 'failed';
    default: return failedStart ? 'failed' : 'exited';
  }
}

export class Supervised {
  /** Sends a signal to the current run (through the stage, or straight to the container for KILL/STOP). */
  private signal?: (sig: NodeJS.Signals) => void;
  private readers: Socket[] = [];
  private writer: LogWriter;
  private delay?: number;
  private restartTimer?: NodeJS.Timeout;
  private killTimer?: NodeJS.Timeout;
  private runStarted = 0;
  private health?: { stop(): void };
  private starting?: Promise<unknown>;
  private waiters: (() => void)[] = [];
  private logListeners = new Set<(e: LogEntry) => void>();
  private endListeners = new Set<() => void>();
  private removed = false;
  /** Compose networking: what the orchestrator attached, and the port proxy while the container lives. */
  private net?: RunNet;
  private proxy?: PortProxy;

  private constructor(private ctx: SupervisorContext, readonly dir: string, readonly plan: LaunchPlan, readonly spec: CanonicalSpec, public state: ContainerState) {
    this.writer = new LogWriter(logPath(dir), ctx.logMaxBytes, (full) => ctx.log(full
      ? `${this.name}: no space left on the state filesystem (${logPath(dir)}): dropping its output (still reading it) until there is room`
      : `${this.name}: the state filesystem has room again: writing its log again`));
  }

  get name(): string { return this.state.name; }

  /**
   * A new container: its directory, plan, spec and state (created). Throws when the name is taken.
   * `net`/`proxy`: compose networking (net.json is written; the proxy, already listening, is closed
   * when the container ends for good or is removed).
   */
  static create(ctx: SupervisorContext, plan: LaunchPlan, spec: CanonicalSpec, net?: RunNet, proxy?: PortProxy, token?: string, createdOnly = false): Supervised {
    const state: ContainerState = {
      ...(createdOnly ? { createdOnly: true } : {}),
      version: 1, id: plan.id, name: plan.name, project: ctx.project, status: 'created',
      createdAt: new Date().toISOString(), oomKilled: false, restarts: 0,
      health: spec.lifecycle.healthcheck ? 'starting' : 'none',
      specFile: spec.file, cgroups: plan.cgroups, restart: spec.lifecycle.restart,
      ...(token ? { token } : {}),
    };
    let dir: string;
    try { dir = createContainerDir(ctx.root, ctx.project, plan, spec, state); } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') {
        throw new UserError('E_NAME_IN_USE', `a container named '${plan.name}' already exists in project '${ctx.project}'`, [], `remove it with 'niwa rm -f ${plan.name}${ctx.project === 'default' ? '' : ' --project ' + ctx.project}' or choose another with --name`);
      }
      throw e;
    }
    let c: Supervised;
    try {
      c = new Supervised(ctx, dir, plan, spec, state);
      if (net) net = withChosenPorts(net, proxy);
      if (net) writeAtomic(join(dir, 'net.json'), JSON.stringify(net) + '\n');
    } catch (e) {
      removeContainerDir(dir);
      throw isNoSpace(e) ? noSpaceError(dir, e) : e;
    }
    if (net) {
      c.net = net;
      c.proxy = proxy;
    }
    return c;
  }

  /** Published ports as the view shows them. */
  ports(): PublishedPort[] {
    return (this.proxy?.published ?? []).map((p) => ({ hostIp: p.mapping.hostIp, hostPort: p.hostPort, containerPort: p.mapping.containerPort, protocol: p.mapping.protocol }));
  }

  /** Compose networking read back by a new supervisor: publish the ports again while the container lives. */
  private async republish(): Promise<void> {
    const net = readJson<RunNet>(join(this.dir, 'net.json'));
    if (!net) return;
    this.net = net;
    if (!net.ports?.length || !net.address || !this.isLive()) return;
    try {
      const { publishPorts } = await import('../net/ports.js');
      const proxy = await publishPorts(net.ports, net.address);
      if (!this.isLive()) { await proxy.close(); return; }
      this.proxy = proxy;
    } catch (e) { this.ctx.log(`${this.name}: could not publish its ports again: ${(e as Error).message}`); }
  }

  private leaving?: Promise<void>;
  /** Detaches the container from the networks the orchestrator attached it to (once). */
  private leaveNetworks(): Promise<void> {
    if (!this.net?.networks.length) return Promise.resolve();
    return (this.leaving ??= detachNetworks(this.net, this.name, this.ctx.log));
  }

  private closeProxy(): void {
    const p = this.proxy;
    this.proxy = undefined;
    if (p) void p.close().catch((e) => this.ctx.log(`${this.name}: closing its ports: ${(e as Error).message}`));
  }

  /**
   * A container left running by a supervisor that died (SIGKILL): read its FIFOs again, watch its
   * stage by polling /proc (it is not our child, so its exit status is lost: exited(unknown)), and
   * signal it directly. Containers that ended meanwhile are recorded and cleaned up now.
   */
  static adopt(ctx: SupervisorContext, dir: string, plan: LaunchPlan, spec: CanonicalSpec, state: ContainerState): Supervised {
    const c = new Supervised(ctx, dir, plan, spec, state);
    const { stagePid, stageStart, pid } = state;
    // How the run ended, as the stage recorded it in exit.status (unknown if it has not ended).
    const ended = () => { const x = readExitStatus(dir); return { code: x?.exitCode ?? null, signal: x?.signal ?? null }; };
    if (!sameProcessAlive(stagePid, stageStart)) {
      const left = cgroupPids(state, ctx.layout);
      if (left.length) return Supervised.adoptOrphans(c, ended);
      c.net = readJson<RunNet>(join(dir, 'net.json'));
      void c.onExit(ended());
      return c;
    }
    void c.republish();
    for (const [f, stream] of [['stdout.fifo', 'stdout'], ['stderr.fifo', 'stderr']] as const) {
      try { c.attachReader(openSync(join(dir, f), fsc.O_RDONLY | fsc.O_NONBLOCK), stream); } catch { /* no fifo */ }
    }
    c.signal = (sig) => {
      if (!sameProcessAlive(stagePid, stageStart)) return;
      try { process.kill(STAGE_FORWARDS.has(sig) ? stagePid! : pid ?? stagePid!, sig); } catch { /* gone */ }
    };
    c.runStarted = Date.parse(state.startedAt ?? '') || Date.now();
    const poll = setInterval(() => {
      if (sameProcessAlive(stagePid, stageStart)) return;
      clearInterval(poll);
      void c.onExit(ended());
    }, 250);
    ctx.log(`${state.name}: adopted (stage pid ${stagePid}, container pid ${pid})`);
    c.resumeStop();
    return c;
  }

  /**
   * Shim and supervisor were both killed, but the container's processes still run in its
   * cgroups: supervise what is there — signals go to every process in the cgroups, and the run
   * ends when they are empty (its status is unknown: nobody could reap it).
   */
  private static adoptOrphans(c: Supervised, ended: () => StageExit): Supervised {
    const pids = () => cgroupPids(c.state, c.ctx.layout);
    c.state = { ...c.state, pid: pids()[0], stagePid: undefined, stageStart: undefined };
    c.orphaned = true;
    void c.republish();
    c.signal = (sig) => { for (const p of pids()) { try { process.kill(p, sig); } catch { /* gone */ } } };
    c.runStarted = Date.parse(c.state.startedAt ?? '') || Date.now();
    const poll = setInterval(() => {
      if (pids().length) return;
      clearInterval(poll);
      void c.onExit(ended());
    }, 250);
    c.ctx.log(`${c.state.name}: adopted without its shim (processes ${pids().join(' ')} still run in its cgroups)`);
    c.resumeStop();
    return c;
  }

  /** Adopted while stopping (its supervisor was killed in the grace period): SIGKILL follows after a grace period from now. */
  private resumeStop(): void {
    if (this.state.status !== 'stopping') return;
    this.killTimer = setTimeout(() => void this.forceKill(), this.spec.lifecycle.stopTimeoutMs);
  }

  /** Adopted without a shim: its processes run straight in the cgroups (ps says unsupervised). */
  private orphaned = false;
  /** state.json could not be written (a full disk): the state in memory is right, and is written again on the next change. */
  private persistFailed = false;

  private persist(): void {
    if (this.removed) return;
    try {
      writeState(this.dir, this.state);
      if (this.persistFailed) this.ctx.log(`${this.name}: state.json written again`);
      this.persistFailed = false;
    } catch (e) {
      if (!this.persistFailed) this.ctx.log(`${this.name}: could not write state.json: ${(e as Error).message}`);
      this.persistFailed = true;
    }
  }

  /** The state as ps shows it (the shimless case says unsupervised, with the cgroup's pids). */
  view(): ContainerState {
    if (!this.orphaned || !isLive(this.state.status)) return this.state;
    return { ...this.state, unsupervised: true, pids: cgroupPids(this.state, this.ctx.layout) };
  }

  private setStatus(to: Status, extra: Partial<ContainerState> = {}): void {
    const from = this.state.status;
    this.state = { ...this.state, ...extra, status: transition(from, to) };
    this.persist();
    this.ctx.emit({
      type: 'status', container: this.name, state: viewState(to, this.state.error !== undefined && to === 'exited'),
      status: to, pid: this.state.pid, at: Date.now(),
      ...(to === 'running' && this.proxy ? { ports: this.ports() } : {}),
      ...(to === 'exited' || to === 'stopped' || to === 'oom-killed' ? { exitCode: this.state.exitCode ?? null, signal: this.state.signal ?? null } : {}),
    });
    // Waiters and log followers hear about the end only if it is final: finishRun moves an exited
    // container on to 'restarting' synchronously, so by the microtask the status says which.
    queueMicrotask(() => {
      if (isLive(this.state.status)) return;
      // ended for good: its ports are free again and it leaves the project networks (its name stops resolving)
      this.closeProxy();
      void this.leaveNetworks();
      for (const w of this.waiters.splice(0)) w();
      for (const l of [...this.endListeners]) l();
      this.ctx.changed();
    });
  }

  /** Resolves once a start in progress has settled (at once when none is). */
  async whenStarted(): Promise<void> { await this.starting; }

  /** Resolves once the container is in a final status (not running, paused, starting or restarting). */
  whenEnded(timeoutMs = 60_000): Promise<boolean> {
    if (!isLive(this.state.status)) return Promise.resolve(true);
    return new Promise((resolve) => {
      const t = setTimeout(() => resolve(false), timeoutMs);
      this.waiters.push(() => { clearTimeout(t); resolve(true); });
    });
  }

  // --- start -----------------------------------------------------------------------------------

  /** Starts one run. Initial start: throws on failure (the caller removes the container). */
  start(): Promise<{ pid: number; ms: number }> {
    const p = this.startRun();
    this.starting = p.catch(() => undefined);
    return p;
  }

  private fifos(): { rOut: number; rErr: number; wOut: number; wErr: number } {
    const out = join(this.dir, 'stdout.fifo');
    const err = join(this.dir, 'stderr.fifo');
    const missing = [out, err].filter((p) => !existsSync(p));
    if (missing.length) execFileSync('mkfifo', ['-m', '0600', ...missing], { stdio: 'ignore' });
    // Read ends first (non-blocking, so open does not wait for a writer). The container's ends are
    // opened read-write: the container then never gets EPIPE/SIGPIPE when the supervisor is gone
    // (it blocks once the pipe is full instead), and a new supervisor can open the FIFOs again.
    const rOut = openSync(out, fsc.O_RDONLY | fsc.O_NONBLOCK);
    const rErr = openSync(err, fsc.O_RDONLY | fsc.O_NONBLOCK);
    const wOut = openSync(out, fsc.O_RDWR);
    const wErr = openSync(err, fsc.O_RDWR);
    return { rOut, rErr, wOut, wErr };
  }

  private attachReader(fd: number, stream: LogStream): Socket {
    const sock = new Socket({ fd, readable: true, writable: false });
    const split = new LineSplitter();
    sock.setEncoding('utf8');
    sock.on('data', (chunk: string) => { for (const l of split.feed(chunk)) this.logLine(stream, l); });
    sock.on('end', () => { for (const l of split.flush()) this.logLine(stream, l); });
    sock.on('error', (e) => this.ctx.log(`${this.name}: ${stream} reader: ${e.message}`));
    this.readers.push(sock);
    return sock;
  }

  private logLine(stream: LogStream, line: string): void {
    const e: LogEntry = { time: new Date().toISOString(), stream, line };
    try { this.writer.write(e); } catch (err) { this.ctx.log(`${this.name}: log write failed: ${(err as Error).message}`); }
    this.ctx.emit({ type: 'log', container: this.name, stream, line, at: Date.parse(e.time) });
    for (const l of this.logListeners) l(e);
  }

  private async startRun(): Promise<{ pid: number; ms: number }> {
    const f = this.fifos();
    // The stage also writes the final status here: known even if this supervisor dies first.
    const statusFd = openSync(statusPath(this.dir), 'w', 0o600);
    const closeW = () => { for (const fd of [f.wOut, f.wErr, statusFd]) { try { closeSync(fd); } catch { /* closed */ } } };
    this.attachReader(f.rOut, 'stdout');
    this.attachReader(f.rErr, 'stderr');
    this.ctx.emit({ type: 'plan', container: this.name, steps: this.plan.steps.length, warnings: this.plan.warnings });
    let started;
    try {
      started = await startPlan(this.plan, {
        sys: realSys, spec: this.spec, emit: this.ctx.emit,
        stdio: ['ignore', f.wOut, f.wErr],
        statusFd,
        ports: this.portHolder(),
        onStage: (h) => {
          this.signal = (sig) => h.kill(sig);
          closeW();
          // the shim is known before the container runs: a supervisor killed from here on leaves
          // a record that says which process to kill when the start is rolled back
          const stagePid = h.process.pid;
          if (stagePid) { this.state = { ...this.state, stagePid, stageStart: startTime(stagePid) }; this.persist(); }
        },
      });
    } catch (e) {
      closeW();
      this.signal = undefined;
      await this.drainReaders(200);
      throw e;
    }
    const stagePid = started.handle.process.pid!;
    this.runStarted = Date.now();
    this.setStatus('running', {
      pid: started.pid, stagePid, stageStart: startTime(stagePid), startedAt: new Date().toISOString(),
      exitCode: undefined, signal: undefined, finishedAt: undefined, oomKilled: false, cleaned: false,
      error: undefined, restartAt: undefined, health: this.spec.lifecycle.healthcheck ? 'starting' : 'none',
    });
    void started.handle.exited.then((ex) => this.onExit(ex));
    void this.startHealth(started.pid);
    return { pid: started.pid, ms: started.ms };
  }

  private async drainReaders(timeoutMs: number): Promise<void> {
    const open = this.readers.filter((r) => !r.destroyed);
    await Promise.race([
      Promise.all(open.map((r) => new Promise((res) => r.once('close', res)))),
      new Promise((res) => setTimeout(res, timeoutMs)),
    ]);
    for (const r of this.readers) r.destroy();
    this.readers = [];
  }

  private async startHealth(pid: number): Promise<void> {
    if (!this.spec.lifecycle.healthcheck) return;
    type HealthResult = { healthy: boolean; status: 'starting' | 'healthy' | 'unhealthy'; output: string };
    type HealthModule = { startHealthChecks(c: { name: string; pid: number; spec: CanonicalSpec; plan: LaunchPlan; address?: string }, onResult: (r: HealthResult | boolean, output?: string) => void): { stop(): void } };
    let mod: HealthModule | undefined;
    const path = '../health.js'; // written by the health-check work; loaded only when a spec asks for it
    try { mod = (await import(path)) as HealthModule; } catch (e) {
      this.ctx.log(`${this.name}: health checks unavailable (${(e as Error).message}); health stays 'starting'`);
      return;
    }
    if (this.state.status !== 'running' || this.state.pid !== pid) return;
    this.health = mod.startHealthChecks({ name: this.name, pid, spec: this.spec, plan: this.plan, ...(this.net?.address ? { address: this.net.address } : {}) }, (r, out) => {
      if (!isLive(this.state.status) || this.state.pid !== pid) return;
      // health.ts reports {healthy, status, output} (status stays 'starting' through start_period failures)
      const health = typeof r === 'boolean' ? (r ? 'healthy' : 'unhealthy') : r.status;
      const text = String((typeof r === 'boolean' ? out : r.output) ?? '').trim().slice(-500);
      if (health !== this.state.health || text !== this.state.healthOutput) {
        this.state = { ...this.state, health, healthOutput: text };
        this.persist();
        this.ctx.emit({ type: 'health', container: this.name, status: health, output: text, at: Date.now() });
      }
    });
  }

  // --- exit and restart ------------------------------------------------------------------------

  private async onExit(ex: StageExit): Promise<void> {
    this.health?.stop();
    this.health = undefined;
    await this.drainReaders(1000);
    let oom = false;
    try { oom = createCgroupManager(this.ctx.layout, this.plan.cgroups).oomKilled(); } catch { /* no memory cgroup */ }
    this.ctx.emit({ type: 'exited', container: this.name, code: ex.code, signal: ex.signal, oomKilled: oom });
    const cleaned = await this.cleanup();
    this.signal = undefined;
    if (this.killTimer) { clearTimeout(this.killTimer); this.killTimer = undefined; }
    this.finishRun({ code: ex.code, signal: ex.signal }, oom, cleaned);
  }

  /**
   * A plan's publish step (niwa run -d -p): the ports were published before the container was made
   * (or by republish); they stay open across restarts and close when it has ended for good.
   */
  private portHolder(): PortHolder {
    return {
      publish: async (s) => {
        if (this.proxy) return;
        const { publishPorts } = await import('../net/ports.js');
        this.proxy = await publishPorts(s.ports, s.address);
      },
      unpublish: async () => {},
    };
  }

  private async cleanup(): Promise<boolean> {
    const r = await cleanupPlan(this.plan, { sys: realSys, spec: this.spec, emit: this.ctx.emit, ports: this.portHolder() });
    if (r.failed.length) this.ctx.log(`${this.name}: cleanup left: ${r.failed.join('; ')}`);
    return r.failed.length === 0;
  }

  /** After a run ended (or a restart failed to start): record it, then restart or settle. */
  private finishRun(ex: StageExit, oom: boolean, cleaned: boolean, error?: string): void {
    const stopped = this.state.stopRequested === true;
    const to: Status = stopped ? 'stopped' : oom ? 'oom-killed' : 'exited';
    this.setStatus(to, {
      exitCode: ex.code, signal: ex.signal, oomKilled: oom, finishedAt: new Date().toISOString(),
      pid: undefined, stagePid: undefined, stageStart: undefined, cleaned, error,
      health: this.state.health === 'none' ? 'none' : this.state.health,
    });
    const facts = { exitCode: ex.code, signal: ex.signal, oomKilled: oom, stopRequested: stopped, restarts: this.state.restarts };
    if (this.removed) return;
    if (!shouldRestart(this.spec.lifecycle.restart, facts)) {
      if (this.spec.annotations?.['niwa.autoremove'] === 'true') this.ctx.autoRemove?.(this.name);
      return;
    }
    const ran = this.runStarted ? Date.now() - this.runStarted : 0;
    this.delay = nextDelay(this.delay, ran);
    const delayMs = this.delay;
    this.setStatus('restarting', { restartAt: new Date(Date.now() + delayMs).toISOString() });
    this.ctx.emit({ type: 'restart', container: this.name, count: this.state.restarts + 1, reason: `restart policy ${this.spec.lifecycle.restart.policy}, after ${delayMs} ms`, at: Date.now() });
    this.ctx.log(`${this.name}: restart ${this.state.restarts + 1} in ${delayMs} ms`);
    this.restartTimer = setTimeout(() => { this.restartTimer = undefined; void this.restart(); }, delayMs);
  }

  private async restart(): Promise<void> {
    if (this.state.status !== 'restarting' || this.removed) return;
    this.state = { ...this.state, restarts: this.state.restarts + 1 };
    this.runStarted = 0;
    try {
      await this.start();
    } catch (e) {
      this.ctx.log(`${this.name}: restart failed: ${(e as Error).message}`);
      this.finishRun({ code: null, signal: null }, false, true, (e as Error).message);
    }
  }

  // --- user actions ----------------------------------------------------------------------------

  private mgr() { return createCgroupManager(this.ctx.layout, this.plan.cgroups); }

  private notRunning(what: string): UserError {
    return new UserError('E_NOT_RUNNING', `${what}: container '${this.name}' is ${this.state.status}`, []);
  }

  /** The stop signal, SIGKILL after the grace period; resolves when the container has ended. */
  async stop(timeoutMs?: number): Promise<void> {
    if (this.state.status === 'created') await this.starting;
    this.state = { ...this.state, stopRequested: true };
    this.persist();
    const s = this.state.status;
    if (s === 'restarting') {
      clearTimeout(this.restartTimer);
      this.restartTimer = undefined;
      this.setStatus('stopped');
      return;
    }
    if (s === 'stopping') { await this.whenEnded((timeoutMs ?? this.spec.lifecycle.stopTimeoutMs) + 30_000); return; }
    if (s !== 'running' && s !== 'paused') return;
    this.signal?.(this.spec.lifecycle.stopSignal as NodeJS.Signals);
    if (s === 'paused') await this.mgr().thaw().catch((e) => this.ctx.log(`${this.name}: thaw: ${(e as Error).message}`));
    // the grace period is visible: ps and the live view say 'stopping' until it has ended
    if (isLive(this.state.status)) this.setStatus('stopping');
    const grace = timeoutMs ?? this.spec.lifecycle.stopTimeoutMs;
    this.killTimer = setTimeout(() => void this.forceKill(), grace);
    await this.whenEnded(grace + 30_000);
  }

  /** SIGKILL to the container and every process in its cgroups. */
  private async forceKill(): Promise<void> {
    this.signal?.('SIGKILL');
    try { await this.mgr().kill(); } catch (e) { this.ctx.log(`${this.name}: cgroup kill: ${(e as Error).message}`); }
  }

  kill(signal: string): void {
    const sig = parseSignal(signal);
    if (this.state.status === 'paused') throw new UserError('E_PAUSED', `kill: container '${this.name}' is paused`, [], `unpause it first (niwa unpause ${this.name}), or stop it with niwa stop`);
    if ((this.state.status !== 'running' && this.state.status !== 'stopping') || !this.signal) throw this.notRunning('kill');
    if (TERMINATING.has(sig) || sig === this.spec.lifecycle.stopSignal) {
      this.state = { ...this.state, stopRequested: true };
      this.persist();
    }
    this.signal(sig);
  }

  async pause(): Promise<void> {
    if (this.state.status !== 'running') throw this.notRunning('pause');
    await this.mgr().freeze();
    this.setStatus('paused');
  }

  async unpause(): Promise<void> {
    if (this.state.status !== 'paused') throw new UserError('E_NOT_PAUSED', `unpause: container '${this.name}' is ${this.state.status}, not paused`);
    await this.mgr().thaw();
    this.setStatus('running');
  }

  /** Removes the container; `force` kills it first. Every host resource and the state directory go. */
  async remove(force: boolean): Promise<void> {
    if (isLive(this.state.status) && !force) {
      throw new UserError('E_RUNNING', `rm: container '${this.name}' is ${this.state.status}`, [], `stop it first (niwa stop ${this.name}) or use rm -f`);
    }
    if (this.state.status === 'created') await this.starting;
    this.state = { ...this.state, stopRequested: true };
    if (this.state.status === 'restarting') {
      clearTimeout(this.restartTimer);
      this.restartTimer = undefined;
      this.setStatus('stopped');
    }
    if (this.state.status === 'running' || this.state.status === 'paused' || this.state.status === 'stopping') {
      if (this.state.status === 'paused') await this.mgr().thaw().catch(() => {});
      await this.forceKill();
      if (!(await this.whenEnded(10_000))) throw new RuntimeFailure('E_RM', `rm: container '${this.name}' did not end after SIGKILL within 10 s`);
    }
    if (!this.state.cleaned) await this.cleanup();
    this.closeProxy();
    await this.leaveNetworks();
    this.removed = true;
    this.writer.close();
    for (const r of this.readers) r.destroy();
    removeContainerDir(this.dir);
    for (const l of [...this.endListeners]) l();
    this.ctx.emit({ type: 'status', container: this.name, state: 'exited', status: 'removed', at: Date.now() });
  }

  /** A first start failed: startPlan has undone everything on the host; forget the directory too. */
  /** Lets go of a record this supervisor does not run (compose create): its log writer closed, its directory kept. */
  release(): void {
    this.removed = true;
    this.writer.close();
  }

  discard(): void {
    this.closeProxy();
    this.removed = true;
    this.writer.close();
    for (const r of this.readers) r.destroy();
    removeContainerDir(this.dir);
  }

  /** Streams log entries: the file's (filtered) now, then live ones, until the container ends. */
  follow(send: (e: LogEntry) => void, end: () => void): () => void {
    const onEnd = () => { this.logListeners.delete(send); this.endListeners.delete(onEnd); end(); };
    if (!isLive(this.state.status) || this.removed) { end(); return () => {}; }
    this.logListeners.add(send);
    this.endListeners.add(onEnd);
    return () => { this.logListeners.delete(send); this.endListeners.delete(onEnd); };
  }

  isLive(): boolean { return !this.removed && isLive(this.state.status); }

  /** Leave the container running unsupervised (supervisor shutdown with leave). */
  detach(): void {
    clearTimeout(this.restartTimer);
    clearTimeout(this.killTimer);
    this.health?.stop();
    for (const r of this.readers) r.destroy();
    this.writer.close();
  }
}

/**
 * net.json with the host ports the proxy actually listens on: a port published without a host port
 * (compose `"80"`, host port 0) is recorded as the one the kernel chose, so `compose port`, `ps` and
 * `inspect` show it, and a new supervisor that adopts the container publishes that same port again.
 */
export function withChosenPorts(net: RunNet, proxy: PortProxy | undefined): RunNet {
  if (!proxy || !net.ports?.some((m) => m.hostPort === 0)) return net;
  const chosen = proxy.published.map((p) => ({ ...p.mapping, hostPort: p.hostPort }));
  return { ...net, ports: chosen };
}

/**
 * Takes a removed (or ended) container off the project networks it was attached to (its veth, lease,
 * netns, hosts file): by the teardown steps of its `container:NAME` unit that the applied plan
 * stored (runtime/project/teardown-store.ts); a container no stored plan knows (made before plans
 * were stored) leaves them by its net.json.
 */
export async function detachNetworks(net: RunNet, name: string, log: (msg: string) => void): Promise<void> {
  const { takeTeardown } = await import('../project/teardown-store.js');
  const steps = takeTeardown(net.stateRoot, net.project, [`container:${name}`]).filter((s) => s.op !== 'remove');
  if (steps.length) {
    const { undoSteps } = await import('../project/exec.js');
    const noContainers = async () => { throw new Error('a container step in a container\'s teardown'); };
    try { await undoSteps(net.stateRoot, net.project, steps, { launch: noContainers, remove: noContainers }); } catch (e) { log(`${name}: leaving its networks: ${(e as Error).message}`); }
    return;
  }
  const { detachContainer } = await import('../net/attach.js');
  for (const n of net.networks) {
    try { await detachContainer({ stateRoot: net.stateRoot }, net.project, n, name); } catch (e) { log(`${name}: leaving network ${n}: ${(e as Error).message}`); }
  }
}

export function errorBody(e: unknown): { code: string; message: string; hint?: string; exitCode: number } {
  if (e instanceof NiwaError) return { code: e.code, message: e.message, hint: e.hint, exitCode: e.exitCode };
  return { code: 'E_INTERNAL', message: (e as Error)?.message ?? String(e), exitCode: 1 };
}
