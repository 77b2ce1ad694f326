// The orchestration subcommands of `niwa compose`: up, down, ps, logs, exec, run, start, stop,
// restart, kill, top. Each loads the project, builds a ComposeEngine (src/compose/up.ts) and asks it;
// the single-container verbs' code is reused where it fits (exec, top). Loaded only when one runs.
import { randomBytes } from 'node:crypto';
import { UserError, formatDetail, formatError } from '../errors.js';
import type { ParsedArgs } from './args.js';
import type { LoadComposeOptions, ComposeLoad } from '../compose/index.js';
import { ComposeEngine, loadProject, withDependencies, type StartOverride, type UpMessage } from '../compose/up.js';
import { isLive } from '../runtime/status.js';
import { describeStatus } from '../runtime/status.js';
import { check, request } from '../runtime/supervisor/client.js';
import { formatMapping } from '../runtime/net/ports.js';
import { formatDuration, table } from './target.js';
import { EventBus } from '../events/types.js';
import type { PullEvent } from '../image/types.js';
import type { LiveView } from '../ui/live.js';

type Run = (a: ParsedArgs, project: LoadComposeOptions) => Promise<number>;

async function open(a: ParsedArgs, project: LoadComposeOptions, o: { canonical?: boolean; onMessage?: (m: UpMessage) => void; onPull?: (e: PullEvent) => void; statsMs?: number } = {}): Promise<{ load: ComposeLoad; engine: ComposeEngine }> {
  // Verbs that start containers load canonical specs: their images are pulled first (all at once),
  // with progress in the live view (onPull) or on stderr.
  const progress = o.onPull || o.canonical === false || a.flags.quiet ? undefined : (await import('./pull-progress.js')).stderrPullReporter();
  const load = await (await import('./compose/project.js')).loadOrState(project, { canonical: o.canonical, onPull: o.onPull ?? progress?.onEvent }).finally(() => progress?.finish());
  if (!a.flags['no-warnings'] && o.canonical !== false) for (const w of load.warnings) process.stderr.write(`warning: ${formatDetail(w)}\n`);
  return { load, engine: new ComposeEngine(load, { onMessage: o.onMessage, ...(o.statsMs ? { statsMs: o.statsMs } : {}) }) };
}

const seconds = (a: ParsedArgs, flag: string): number | undefined => {
  const v = a.flags[flag];
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!(n >= 0)) throw new UserError('E_USAGE', `--${flag} expects seconds, got '${String(v)}'`);
  return Math.round(n * 1000);
};

function checkServices(load: ComposeLoad, names: string[]): string[] {
  for (const s of names) if (!load.services.has(s)) throw new UserError('E_NO_SERVICE', `no such service: ${s}`, [], `services: ${[...load.services.keys()].join(', ')}`);
  return names;
}

const stderrMessage = (m: UpMessage) => process.stderr.write(`${m.container ? m.container + ': ' : ''}${m.text}\n`);

// ---------------------------------------------------------------------------------------------
// up

/** `up` flags that Docker Compose has and niwa maps onto its engine. */
/** `--scale SERVICE=N`, repeated: the replicas per service. */
function scaleOf(a: ParsedArgs): Record<string, number> {
  const scale: Record<string, number> = {};
  for (const v of (a.flags.scale as string[] | undefined) ?? []) {
    const m = /^([^=]+)=(\d+)$/.exec(v);
    if (!m) throw new UserError('E_USAGE', `--scale expects SERVICE=N (N ≥ 0), got '${v}'`);
    scale[m[1]] = Number(m[2]);
  }
  return scale;
}

function upOptions(a: ParsedArgs) {
  const scale = scaleOf(a);
  const exitCodeFrom = a.flags['exit-code-from'] as string | undefined;
  const abort = Boolean(a.flags['abort-on-container-exit']) || exitCodeFrom !== undefined;
  if (abort && (a.flags.detach || a.flags.wait)) throw new UserError('E_USAGE', 'up: --abort-on-container-exit / --exit-code-from follow the containers: they cannot go with -d or --wait');
  return { services: a.positionals, noDeps: Boolean(a.flags['no-deps']), forceRecreate: Boolean(a.flags['force-recreate']), removeOrphans: Boolean(a.flags['remove-orphans']), abort, exitCodeFrom, scale };
}

export const up: Run = async (a, project) => {
  if (a.flags.build) project = { ...project, build: 'always' }; // --build: rebuild build: services (src/build/compose.ts)
  if (a.flags.watch) return (await import('./compose-watch.js')).composeWatch(a, project); // up, then follow develop.watch
  if (!a.flags.quiet && !a.flags.json) { const { plainBuildReporter } = await import('./build.js'); project = { ...project, onBuild: (s, e) => plainBuildReporter((l) => process.stderr.write(`${s}: ${l}`))(e) }; }
  const o = upOptions(a);
  const follow = !a.flags.detach && !a.flags.wait;
  return runLoop(a, project, {
    follow,
    title: 'niwa compose up',
    services: o.services,
    abort: o.abort,
    exitCodeFrom: o.exitCodeFrom,
    start: async (engine) => {
      if (o.exitCodeFrom !== undefined) checkServices(engine.load, [o.exitCodeFrom]);
      checkServices(engine.load, Object.keys(o.scale));
      if (o.removeOrphans) await engine.removeOrphans();
      return engine.up({ services: o.services, noDeps: o.noDeps, forceRecreate: o.forceRecreate, scale: o.scale, wait: Boolean(a.flags.wait), timeoutMs: follow ? undefined : seconds(a, 'wait-timeout') });
    },
  });
};

/** `create`: the project's plan carried out up to the containers (images, volumes, files, networks); nothing starts. */
export const create: Run = async (a, project) => {
  const { engine } = await open(a, project, { onMessage: a.flags.quiet ? undefined : stderrMessage });
  try { await engine.create({ services: a.positionals, forceRecreate: Boolean(a.flags['force-recreate']) }); } finally { engine.close(); }
  return 0;
};

interface LoopOptions {
  /** Follow the containers until they end or Ctrl-C (foreground); otherwise return once started. */
  follow: boolean;
  title: string;
  services: string[];
  /** Stop every container once one exits (--abort-on-container-exit / --exit-code-from). */
  abort?: boolean;
  /** Exit with this service's exit code. */
  exitCodeFrom?: string;
  start(engine: ComposeEngine): Promise<string[]>;
  /** Not following: what comes once started (instead of the started containers' summary), with the exit status (compose run). */
  then?(engine: ComposeEngine): Promise<number>;
  /** No orchestrator messages on stderr (an attached compose run: the terminal is the one-off's). */
  quiet?: boolean;
}

/**
 * The one run loop of `up` (foreground, -d, --wait) and `run`: a reporter (the Ink view, plain lines,
 * --json or stderr messages) that exists before the project loads, the start, then — following — the
 * wait until every container ended, Ctrl-C / q, or (abort) the first exit; a failed start stops what
 * started. Not following, --progress plain and --json still render the events (never the Ink view).
 */
/** How often `compose up --progress plain` prints each running container's resource usage. */
const STATS_PLAIN_MS = Number(process.env.NIWA_STATS_PLAIN_MS ?? 10_000);

async function runLoop(a: ParsedArgs, project: LoadComposeOptions, o: LoopOptions): Promise<number> {
  const t0 = performance.now();
  const { progressMode } = await import('../ui/progress.js');
  const asked = a.flags.json || a.flags.progress === 'plain' || a.flags.progress === 'json';
  const mode = o.follow || asked ? progressMode({ progress: a.flags.progress as string | undefined, json: Boolean(a.flags.json), stdoutIsTTY: o.follow && Boolean(process.stdout.isTTY) }) : 'messages';
  const timeoutMs = seconds(a, 'timeout');
  let engineRef: ComposeEngine | undefined;
  let stopping: Promise<void> | undefined;
  /** Set when the user ended the run (Ctrl-C, SIGTERM, the live view's q): exit 128 + the signal, as Docker Compose does. */
  let interrupted: number | undefined;
  const stopAll = (force: boolean): Promise<void> => {
    const engine = engineRef;
    if (!engine) return Promise.resolve();
    // the supervisor first stops starting what is left of the up, then the containers are stopped
    if (force) return engine.cancel().then(() => engine.stop({ force: true }));
    return (stopping ??= engine.cancel().then(() => engine.stop({ timeoutMs })));
  };

  // The reporter exists before the engine so that every message (and, on a terminal, every pull) reaches it.
  const relay = new EventBus();
  let say: (m: UpMessage) => void = (a.flags.quiet || o.quiet) && !o.follow ? () => {} : stderrMessage;
  let view: LiveView | undefined;
  let viewClosed = false;
  if (mode === 'tty') {
    const { loadLiveView } = await import('../ui/progress.js');
    const { startLiveView } = await loadLiveView();
    const controls = {
      restart: async (name: string) => {
        const s = engineRef?.serviceOf(name);
        if (!engineRef || !s) throw new Error(`${name} is not a service container`);
        await engineRef.stop({ services: [s], timeoutMs });
        await engineRef.up({ services: [s], noDeps: true, scale: { [s]: engineRef.names(s).length } });
      },
      stop: async (name: string) => { if (engineRef) check(await request(engineRef.target, { op: 'stop', name, timeoutMs })); },
      stopAll: (force: boolean, interrupt?: boolean) => { if (interrupt) interrupted ??= 130; return stopAll(force); },
    };
    const v = startLiveView({ subscribe: (cb) => relay.on(cb) }, controls, { title: o.title, attachLogs: true });
    view = v;
    void v.waitUntilExit().then(() => { viewClosed = true; });
    say = (m) => v.dispatch({ type: 'ui:message', level: m.level, text: m.text, ...(m.container ? { container: m.container } : {}) });
  } else if (mode === 'json') {
    const { jsonReporter } = await import('../ui/json.js');
    relay.on(jsonReporter());
    say = (m) => process.stdout.write(JSON.stringify({ ts: new Date().toISOString(), type: 'message', ...m }) + '\n');
  }
  let opened: Awaited<ReturnType<typeof open>>;
  // Build progress of build: services goes where the other messages go (the live view's lines on a terminal).
  if (view && project.onBuild) {
    const { plainBuildReporter } = await import('./build.js');
    project = { ...project, onBuild: (s, e) => plainBuildReporter((l) => say({ level: 'info', text: l.replace(/\n$/, ''), container: s }))(e) };
  }
  try {
    // the view's stats arrive from the supervisor as events, like everything else
    // the view's stats arrive from the supervisor as events, like everything else; followed --json
    // and --progress plain get them too (plain prints a usage line per container every STATS_PLAIN_MS)
    const statsMs = view ? 1000 : o.follow && (mode === 'json' || mode === 'plain') ? 2000 : 0;
    opened = await open(a, project, { onMessage: (m) => say(m), ...(view ? { onPull: (e: PullEvent) => relay.emit({ type: 'pull', event: e }) } : {}), ...(statsMs ? { statsMs } : {}) });
    checkServices(opened.load, o.services);
  } catch (e) {
    if (view) { view.close(); await view.waitUntilExit(); }
    throw e;
  }
  const { load, engine } = opened;
  if (viewClosed) { engine.close(); return 130; } // q or Ctrl-C while the images were pulled: start nothing
  engineRef = engine;
  const services = o.services.length ? withDependencies(load, o.services) : load.plan.order;
  // every replica of each service (known once the start has made them; before, the first one's name)
  const containerNames = () => services.flatMap((s) => engine.names(s));
  const names = containerNames();
  if (mode === 'plain') {
    const { timestampedReporter } = await import('../ui/plain.js');
    const rep = timestampedReporter({ names });
    relay.on(rep);
    if (o.follow) {
      // resource usage as plain lines: each running container's, every STATS_PLAIN_MS (the view shows it live)
      const { formatCpu, formatMemory } = await import('../ui/format.js');
      let last = 0;
      relay.on((e) => {
        if (e.type !== 'stats' || e.at - last < STATS_PLAIN_MS) return;
        last = e.at;
        for (const n of rep.state.order) {
          const c = rep.state.containers[n];
          if (c?.state === 'running' && c.memCurrent !== undefined) rep({ type: 'ui:message', level: 'info', container: n, text: `cpu ${formatCpu(c.cpuPercent)}  mem ${formatMemory(c.memCurrent, c.memLimit)}${c.pids !== undefined ? `  pids ${c.pids}` : ''}` });
        }
      });
    }
    say = (m) => rep({ type: 'ui:message', level: m.level, text: m.text, ...(m.container ? { container: m.container } : {}) });
  }
  const offBus = engine.bus.on(relay.emit);
  // the plan's build steps report as events: on stderr when no reporter renders them (up -d)
  if (mode === 'messages' && project.onBuild) relay.on((e) => { if (e.type === 'build') project.onBuild!(e.service, e.event); });
  const pulls = mode === 'messages' && !a.flags.quiet ? (await import('./pull-progress.js')).stderrPullReporter() : undefined;
  if (pulls) relay.on((e) => { if (e.type === 'pull') pulls.onEvent(e.event); });
  view?.dispatch({ type: 'ui:title', title: `${o.title} — ${load.project.name}` });

  let status = 0;
  let started = false;
  let finish!: () => void;
  const done = new Promise<void>((r) => { finish = r; });
  const end = () => { view?.close(); finish(); };
  void view?.waitUntilExit().then(finish);
  const allEnded = () => containerNames().every((n) => { const st = engine.state(n); return st !== undefined && !isLive(st.status); });
  let exitCode: number | undefined;
  const offChange = engine.onChange(() => {
    if (!started || !o.follow) return;
    if (o.abort) {
      const ended = containerNames().map((n) => engine.state(n)).find((st) => st && !isLive(st.status));
      if (ended) {
        if (!stopping) say({ level: 'warn', text: `${ended.name} exited: stopping every container (--abort-on-container-exit)` });
        void stopAll(false).then(end, end);
        return;
      }
    }
    if (allEnded()) end();
  });
  let interrupts = 0;
  const onSignal = (code: number) => () => {
    interrupted ??= code;
    interrupts++;
    say({ level: 'warn', text: interrupts > 1 ? 'killing every container' : 'stopping every container (Ctrl-C again to kill)' });
    void stopAll(interrupts > 1).then(end, end);
  };
  const onSigint = onSignal(130);
  const onSigterm = onSignal(143);
  if (o.follow && !view) { process.on('SIGINT', onSigint); process.on('SIGTERM', onSigterm); }
  let failure: unknown;
  try {
    const list = await o.start(engine).finally(() => pulls?.finish());
    started = true;
    await engine.refresh();
    if (o.then) {
      exitCode = await o.then(engine);
      end();
    } else if (!o.follow) {
      for (const n of list.flatMap((s) => engine.names(s))) {
        const st = engine.state(n);
        process.stderr.write(`${n}: ${st ? describeStatus(st) + (st.health !== 'none' ? ` (${st.health})` : '') : 'started'}\n`);
      }
      if (!a.flags.quiet) process.stderr.write(`project ${load.project.name}: ${list.length} service${list.length === 1 ? '' : 's'} up in ${((performance.now() - t0) / 1000).toFixed(2)} s\n`);
      end();
    } else if (allEnded()) end();
  } catch (e) {
    failure = e;
    status = 1;
    if (o.follow) {
      say({ level: 'error', text: formatError(e).replace(/^niwa: /, '') });
      await stopAll(false).catch(() => {});
    }
    end();
  }
  await done;
  if (stopping) await stopping.catch(() => {});
  if (view) await view.waitUntilExit();
  offChange();
  offBus();
  process.off('SIGINT', onSigint);
  process.off('SIGTERM', onSigterm);
  if (o.exitCodeFrom !== undefined && !failure) {
    await engine.refresh();
    const st = engine.observe(o.exitCodeFrom, engine.names(o.exitCodeFrom));
    exitCode = st?.exitCode ?? (st?.signal ? 128 + st.signal : undefined);
  }
  engine.close();
  if (failure && !o.follow) throw failure;
  return exitCode ?? (status || interrupted || 0);
}

// ---------------------------------------------------------------------------------------------
// down, stop, start, restart, kill

export const down: Run = async (a, project) => {
  const { load, engine } = await open(a, project, { canonical: false, onMessage: stderrMessage });
  const rmi = await import('./compose/rmi.js');
  const images = rmi.imagesToRemove(load, a);
  await engine.down({ volumes: Boolean(a.flags.volumes), timeoutMs: seconds(a, 'timeout') });
  return rmi.removeImages(images, engine.target.root);
};

export const stop: Run = async (a, project) => {
  const { load, engine } = await open(a, project, { canonical: false, onMessage: stderrMessage });
  const services = checkServices(load, a.positionals);
  await engine.stop({ services: services.length ? services : undefined, timeoutMs: seconds(a, 'timeout') });
  engine.close();
  return 0;
};

/** The services (of those named, or all) that have a container already, in start order. */
async function existing(a: ParsedArgs, project: LoadComposeOptions, verb: string) {
  const { load, engine } = await open(a, project, { onMessage: stderrMessage });
  const wanted = checkServices(load, a.positionals);
  await engine.refresh();
  const have = load.plan.order.filter((s) => (!wanted.length || wanted.includes(s)) && engine.state(engine.names(s)[0]));
  // start and restart keep each service's replicas as they are
  const scale = await (await import('./compose/project.js')).currentScale(engine, have);
  if (!have.length) {
    engine.close();
    throw new UserError('E_NO_CONTAINER', `${verb}: no containers in project '${load.project.name}'`, [], 'create them with niwa compose up');
  }
  return { load, engine, have, scale };
}

export const start: Run = async (a, project) => {
  if (await (await import('./compose/start.js')).fromState(a, project, 'start')) return 0;
  const { engine, have, scale } = await existing(a, project, 'start');
  try { await engine.up({ services: have, noDeps: true, scale }); } finally { engine.close(); }
  return 0;
};

export const restart: Run = async (a, project) => {
  if (await (await import('./compose/start.js')).fromState(a, project, 'restart')) return 0;
  const { engine, have, scale } = await existing(a, project, 'restart');
  try {
    await engine.stop({ services: have, timeoutMs: seconds(a, 'timeout') });
    await engine.up({ services: have, noDeps: true, scale });
  } finally { engine.close(); }
  return 0;
};

export const kill: Run = async (a, project) => {
  const { load, engine } = await open(a, project, { canonical: false });
  const services = checkServices(load, a.positionals);
  const { parseSignal } = await import('../runtime/signals.js');
  await engine.kill(parseSignal(String(a.flags.signal ?? 'SIGKILL')), services.length ? services : undefined);
  return 0;
};

// ---------------------------------------------------------------------------------------------
// ps, logs, top, exec

export const ps: Run = async (a, project) => {
  const { load, engine } = await open(a, project, { canonical: false });
  const services = checkServices(load, a.positionals);
  await engine.refresh();
  const now = Date.now();
  const rows = engine.containers()
    .filter((c) => (a.flags.all || isLive(c.status) || engine.serviceOf(c.name)) && (!services.length || services.includes(engine.serviceOf(c.name) ?? '')))
    .map((c) => ({
      name: c.name, service: engine.serviceOf(c.name) ?? null, status: describeStatus(c), state: c.status, health: c.health,
      pid: c.status === 'running' || c.status === 'paused' ? c.pid ?? null : null,
      uptime: (c.status === 'running' || c.status === 'paused') && c.startedAt ? Math.max(0, (now - Date.parse(c.startedAt)) / 1000) : null,
      restarts: c.restarts, exitCode: c.exitCode ?? null,
      ports: isLive(c.status) ? engine.portsOfContainer(c.name).map(formatMapping) : [],
    }));
  if (a.flags.json) { process.stdout.write(JSON.stringify(rows, null, 2) + '\n'); return 0; }
  const out = [['NAME', 'SERVICE', 'STATUS', 'HEALTH', 'PID', 'UPTIME', 'PORTS']];
  for (const r of rows) out.push([r.name, r.service ?? '-', r.status, r.health === 'none' ? '-' : r.health, r.pid === null ? '-' : String(r.pid), r.uptime === null ? '-' : formatDuration(r.uptime * 1000), r.ports.join(', ') || '-']);
  process.stdout.write(table(out));
  return 0;
};

export const logs: Run = async (a, project) => {
  const { load, engine } = await open(a, project, { canonical: false });
  const services = checkServices(load, a.positionals);
  await engine.refresh();
  const names = (services.length ? services : load.plan.order).flatMap((s) => engine.names(s)).filter((n) => engine.state(n));
  const tail = a.flags.tail === undefined || a.flags.tail === 'all' ? undefined : Number(a.flags.tail);
  if (tail !== undefined && !(Number.isInteger(tail) && tail >= 0)) throw new UserError('E_USAGE', `logs: --tail expects a number of lines, got '${String(a.flags.tail)}'`);
  const colour = !a.flags['no-color'] && Boolean(process.stdout.isTTY) && !process.env.NO_COLOR;
  const { printLogs } = await import('../compose/logs.js');
  await printLogs({ target: engine.target, names, follow: Boolean(a.flags.follow), tail, timestamps: Boolean(a.flags.timestamps), colour, ...(a.flags.raw ? { raw: true } : {}), ...(await import('./compose/options.js')).logWindow(a) });
  return 0;
};

export const top: Run = async (a, project) => {
  const { load, engine } = await open(a, project, { canonical: false });
  const services = checkServices(load, a.positionals);
  await engine.refresh();
  const { verb } = await import('./top.js');
  let status = 0;
  for (const n of (services.length ? services : load.plan.order).flatMap((s) => engine.names(s))) {
    if (engine.state(n)?.status !== 'running') continue;
    process.stdout.write(`${n}\n`);
    status = Math.max(status, await verb.run(['--project', engine.project, '--state-root', engine.target.root, n]));
    process.stdout.write('\n');
  }
  return status;
};

/** `compose exec [flags] SERVICE CMD...`: niwa exec on the service's container. */
export const exec: Run = async (a, project) => {
  const [service, ...cmd] = a.positionals;
  if (!service || !cmd.length) throw new UserError('E_USAGE', 'compose exec: expected a SERVICE and a command', [], 'usage: niwa compose exec [-u USER] [-e K=V] [-w DIR] SERVICE CMD [ARGS...]');
  const { load, engine } = await open(a, project, { canonical: false });
  checkServices(load, [service]);
  await engine.refresh();
  const container = (await import('./compose/project.js')).replicaOf(engine, service, a.flags.index, 'exec');
  const argv = ['--project', engine.project];
  if (a.flags.user) argv.push('--user', String(a.flags.user));
  for (const e of (a.flags.env as string[] | undefined) ?? []) argv.push('--env', e);
  if (a.flags.workdir) argv.push('--workdir', String(a.flags.workdir));
  // as in Docker Compose: stdin is kept (-i is the default), and a terminal is allocated when this
  // one's stdin and stdout are terminals (-t asks for one, -T refuses it)
  argv.push('--interactive');
  if (!a.flags['no-tty'] && (a.flags.tty || (process.stdin.isTTY && process.stdout.isTTY))) argv.push('--tty');
  if (a.flags.privileged) argv.push('--privileged');
  const { verb } = await import('./exec.js');
  return verb.run([...argv, container, '--', ...cmd]);
};

// ---------------------------------------------------------------------------------------------
// run

/**
 * `compose run [--rm] [-d] [--no-deps] [-e K=V] [-v …] [-w DIR] [-u USER] [--name N] SERVICE [CMD...]`:
 * a one-off container on the project's networks, by the run loop of `up`: its dependencies start
 * first (reported as up reports them), then the one-off's own plan; attached it runs in this process.
 */
export const run: Run = async (a, project) => {
  const [service, ...cmd] = a.positionals;
  if (!service) throw new UserError('E_USAGE', 'compose run: expected a SERVICE', [], 'usage: niwa compose run [--rm] [-d] SERVICE [CMD...]');
  const name = String(a.flags.name ?? `${service}-run-${randomBytes(3).toString('hex')}`);
  const { parseEnv } = await import('./exec.js');
  const env = parseEnv((a.flags.env as string[] | undefined) ?? []);
  const detach = Boolean(a.flags.detach);
  // Attached: the one-off runs in this process with this terminal (stdin, and a pty when stdin
  // and stdout are terminals, unless -T), like `niwa run`; registered so ps/exec/stop see it.
  const tty = !detach && !a.flags['no-tty'] && Boolean(process.stdin.isTTY && process.stdout.isTTY);
  let fg: Parameters<NonNullable<StartOverride['foreground']>>[0] | undefined;
  return runLoop(a, project, {
    follow: false,
    title: 'niwa compose run',
    services: [service],
    quiet: !detach,
    start: async (engine) => {
      // -v/-w/-u are checked before anything starts
      const one = { service, name, ...(cmd.length ? { args: cmd } : {}), ...(await entrypointOf(a)), env, ports: Boolean(a.flags['service-ports']), ...(await (await import('./compose/options.js')).runOptions(engine.load, service, a)) };
      const deps = withDependencies(engine.load, [service]).filter((s) => s !== service);
      const started = deps.length && !a.flags['no-deps'] ? await engine.up({ services: deps, scale: await (await import('./compose/project.js')).currentScale(engine, deps) }) : (await engine.open(), []);
      if (detach) await engine.runOneOff(one);
      else await engine.runOneOff({ ...one, tty }, (r) => { fg = r; });
      return started;
    },
    then: async (engine) => {
      if (detach) { process.stdout.write(name + '\n'); return 0; }
      return runAttached(fg!, engine.target.root);
    },
  });
};

/** compose run --entrypoint CMD: split into words as Compose does (quotes kept together); "" clears the entrypoint. */
async function entrypointOf(a: ParsedArgs): Promise<{ entrypoint?: string[] }> {
  if (a.flags.entrypoint === undefined) return {};
  const v = String(a.flags.entrypoint);
  const { shellSplit } = await import('../compose/to-spec.js');
  const words = shellSplit(v);
  if (!words) throw new UserError('E_USAGE', `compose run --entrypoint: unbalanced quotes in ${JSON.stringify(v)}`, [], 'close every quote');
  return { entrypoint: words };
}

/** Runs a prepared one-off container in this process; its networks and state go when it ends. */
async function runAttached(fg: Parameters<NonNullable<StartOverride['foreground']>>[0], stateRoot: string): Promise<number> {
  const { runPlan, DEFAULT_FORWARD } = await import('../runtime/launch/run.js');
  const { realSys } = await import('../runtime/sys/real.js');
  const { registerForeground } = await import('../runtime/foreground.js');
  const { publishPorts } = await import('../runtime/net/ports.js');
  const proxy = fg.net?.ports?.length && fg.net.address ? await publishPorts(fg.net.ports, fg.net.address) : undefined;
  let reg: ReturnType<typeof registerForeground> | undefined;
  try {
    reg = registerForeground(stateRoot, fg.plan, fg.spec);
    const r = await runPlan(fg.plan, {
      sys: realSys, spec: fg.spec, stdio: 'inherit', forwardSignals: DEFAULT_FORWARD,
      onStarted: (h) => { void h.pid.then((pid) => reg!.started(pid, h.process.pid)); },
    });
    return r.status;
  } finally {
    await proxy?.close();
    await fg.done();
    reg?.done();
  }
}

// ---------------------------------------------------------------------------------------------
// pull, images

/** The images of the named services (or all), each once, with the services that use it. */
function serviceImages(load: ComposeLoad, names: string[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const s of names.length ? names : load.plan.order) {
    const r = load.services.get(s)?.spec.rootfs;
    if (typeof r !== 'object' || !r.image) continue;
    out.set(r.image, [...(out.get(r.image) ?? []), s]);
  }
  return out;
}

/**
 * `pull`: the image steps of the project's plan (every service's image, policy always: the registry
 * is asked even when the store has it; not built images, not pull_policy never), executed by the
 * project engine, all at once; nothing else of the plan runs.
 */
export const pull: Run = async (a, project) => {
  const load = await loadProject({ ...project, build: undefined });
  checkServices(load, a.positionals);
  const engine = new ComposeEngine(load);
  let p: import('../plan/project/types.js').ProjectPlan;
  try { p = await engine.planFor({ services: a.positionals, allImages: true, pullAlways: true }); } finally { engine.close(); }
  const progress = a.flags.quiet ? undefined : (await import('./pull-progress.js')).stderrPullReporter();
  const { runSteps } = await import('./compose-build.js');
  const failed = await runSteps(p, p.steps.filter((s) => s.op === 'image'), (e) => { if (e.type === 'pull') progress?.onEvent(e.event); }, { parallel: true });
  progress?.finish();
  // an image that could not even be resolved made its services unrunnable: that is a failed pull too
  // (a build: service's image is built, not pulled: compose build; pull_policy never is never pulled, as in Compose)
  const unresolved = p.services.filter((e) => e.action === 'unrunnable' && load.services.get(e.service)?.problem && load.project.services[e.service]?.build === undefined && load.project.services[e.service]?.pull_policy !== 'never');
  if (a.flags['ignore-pull-failures']) return 0;
  for (const e of unresolved) process.stderr.write(`niwa: ${e.service}: ${e.reason}\n`);
  for (const f of failed) process.stderr.write(`${formatError(f.error).replace(/^niwa: /, `niwa: ${f.step.op === 'image' ? f.step.services.join(', ') : ''}: `)}\n`);
  return failed.length || unresolved.length ? 1 : 0;
};

export const images: Run = async (a, project) => {
  const load = await loadProject({ ...project, canonical: false });
  const list = serviceImages(load, checkServices(load, a.positionals));
  const [{ store }, { findLocal }, { parseRef }, { humanBytes }] = await Promise.all([
    import('./image.js'), import('../image/pull.js'), import('../image/reference.js'), import('./pull-progress.js'),
  ]);
  const s = await store();
  const rows = [...list.entries()].map(([ref, svcs]) => {
    const img = findLocal(s, parseRef(ref));
    return { services: svcs, image: ref, digest: img?.digest ?? null, size: img?.size ?? null };
  });
  if (a.flags.json) { process.stdout.write(JSON.stringify(rows, null, 2) + '\n'); return 0; }
  process.stdout.write(table([['SERVICE', 'IMAGE', 'DIGEST', 'SIZE'], ...rows.map((r) => [r.services.join(','), r.image, r.digest ? r.digest.slice(7, 19) : 'not pulled', r.size !== null ? humanBytes(r.size) : '-'])]));
  return 0;
};

// ---------------------------------------------------------------------------------------------
// plan

/** `compose plan [--json|--explain|--full] [--no-deps] [--force-recreate] [SERVICE...]`: what `up` would do, exactly, without doing it. */
export const plan: Run = async (a, project) => {
  const { load, engine } = await open(a, project);
  const services = checkServices(load, a.positionals);
  try {
    const scale = scaleOf(a);
    checkServices(load, Object.keys(scale));
    const p = await engine.planFor({ services, noDeps: Boolean(a.flags['no-deps']), forceRecreate: Boolean(a.flags['force-recreate']), scale });
    if (a.flags.json) { process.stdout.write(JSON.stringify(p, null, 2) + '\n'); return 0; }
    const { formatProjectPlan } = await import('../plan/project/format.js');
    process.stdout.write(formatProjectPlan(p, { explain: Boolean(a.flags.explain), full: Boolean(a.flags.full) }));
    return 0;
  } finally { engine.close(); }
};
