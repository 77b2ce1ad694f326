// Owns a scripted project for `niwa __ui-demo` and the UI benchmark: services that start step by step,
// log, turn healthy, crash and restart, with fake cgroup stats and controls that act on the script.
// It stands in for compose orchestration; nothing here touches the host.
import { EventBus, type RuntimeEvent } from '../events/types.js';
import type { CgroupStats } from '../runtime/cgroup/types.js';

const NAMES = ['web', 'api', 'worker', 'db', 'cache', 'queue'];
const OPS = ['mkdir', 'mount', 'mount', 'write', 'unshare', 'clone', 'sethostname', 'mount', 'pivot_root', 'capset', 'no_new_privs', 'execve'];
const PATHS = ['/', '/health', '/api/items', '/login', '/static/app.js'];

export interface DemoOptions {
  services?: number;
  /** Time scale: 2 = twice as fast. */
  speed?: number;
  /** Log lines per second per service (default 0.5). */
  logRate?: number;
  /** Crash and restart `worker` once, a few seconds in (default true). */
  crash?: boolean;
  /** How long a graceful stop takes, in ms (default 300–700, at speed 1). */
  graceMs?: number;
}

export interface Demo {
  source: { subscribe(cb: (e: RuntimeEvent) => void): () => void };
  controls: { restart(name: string): Promise<void>; stop(name: string): Promise<void>; stopAll(force: boolean): Promise<void> };
  stats(): Promise<Record<string, CgroupStats>>;
  /** Start the script (subscribe first). */
  start(): void;
  /** Stop every timer without emitting anything. */
  dispose(): void;
  readonly services: string[];
  /** Events emitted so far. */
  readonly emitted: number;
}

export function serviceNames(n: number): string[] {
  return Array.from({ length: n }, (_, i) => (i < NAMES.length ? NAMES[i] : `svc${i + 1}`));
}

export function createDemo(opts: DemoOptions = {}): Demo {
  const bus = new EventBus();
  const speed = opts.speed ?? 1;
  const logRate = opts.logRate ?? 0.5;
  const names = serviceNames(opts.services ?? 6);
  const timers = new Set<NodeJS.Timeout>();
  let emitted = 0;
  let seed = 42;
  const rand = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
  const later = (ms: number, f: () => void) => {
    const t = setTimeout(() => { timers.delete(t); f(); }, ms / speed);
    timers.add(t);
  };
  const emit = (e: RuntimeEvent) => { emitted++; bus.emit(e); };

  interface Svc { name: string; pid?: number; gen: number; cpuNs: number; load: number; restarts: number; live: boolean; starting: boolean; ended: boolean; stopping?: boolean }
  const svcs = new Map<string, Svc>(names.map((n, i) => [n, { name: n, gen: 0, cpuNs: 0, load: 0.01 + (i % 5) * 0.03, restarts: 0, live: false, starting: false, ended: true }]));
  let nextPid = 4242;

  const boot = (s: Svc, delay: number) => {
    const gen = ++s.gen;
    const alive = () => s.gen === gen;
    later(delay, () => {
      if (!alive()) return;
      s.starting = true;
      s.ended = false;
      emit({ type: 'plan', container: s.name, steps: OPS.length, warnings: [] });
      emit({ type: 'status', container: s.name, state: 'starting' });
      OPS.forEach((op, i) => later(120 * (i + 1), () => { if (alive()) emit({ type: 'step', container: s.name, index: i, op, ok: true }); }));
      later(120 * (OPS.length + 1), () => {
        if (!alive()) return;
        s.pid = nextPid++;
        s.live = true;
        s.starting = false;
        s.cpuNs = 0;
        emit({ type: 'started', container: s.name, pid: s.pid, ms: 5 + rand() * 4 });
        const ports = s.name === 'web' ? [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' as const }]
          : s.name === 'db' ? [{ hostIp: '127.0.0.1', hostPort: 5432, containerPort: 5432, protocol: 'tcp' as const }] : [];
        emit({ type: 'status', container: s.name, state: 'running', pid: s.pid, ports });
        emit({ type: 'health', container: s.name, status: 'starting' });
        later(1500, () => { if (alive()) emit({ type: 'health', container: s.name, status: 'healthy' }); });
        const logLoop = () => {
          if (!alive() || !s.live) return;
          const p = PATHS[Math.floor(rand() * PATHS.length)];
          emit({ type: 'log', container: s.name, stream: rand() < 0.1 ? 'stderr' : 'stdout', line: `${s.name}: GET ${p} 200 in ${Math.floor(rand() * 30)}ms` });
          later((1000 / logRate) * (0.5 + rand()), logLoop);
        };
        later(200, logLoop);
        if (s.name === 'worker' && (opts.crash ?? true) && s.restarts === 0) {
          later(4000, () => {
            if (!alive() || s.stopping) return; // asked to stop: a scripted crash would restart it behind the stop
            emit({ type: 'log', container: s.name, stream: 'stderr', line: 'worker: fatal: lost connection to queue' });
            end(s, 1, null);
            s.restarts++;
            s.ended = false;
            emit({ type: 'restart', container: s.name, count: s.restarts, reason: 'exited code 1, policy on-failure' });
            boot(s, 1000);
          });
        }
      });
    });
  };

  const end = (s: Svc, code: number | null, signal: number | null) => {
    s.live = false;
    s.ended = true;
    s.gen++;
    emit({ type: 'exited', container: s.name, code, signal, oomKilled: false });
  };

  const stopOne = (s: Svc, force: boolean) => new Promise<void>((resolve) => {
    s.stopping = true;
    if (!s.live) {
      s.gen++;
      s.starting = false;
      if (!s.ended) { s.ended = true; emit({ type: 'status', container: s.name, state: 'exited' }); }
      resolve();
      return;
    }
    emit({ type: 'status', container: s.name, state: 'stopping', pid: s.pid });
    const gen = s.gen;
    later(force ? 50 : opts.graceMs ?? 300 + rand() * 400, () => {
      if (s.gen === gen) end(s, force ? null : 0, force ? 9 : null);
      resolve();
    });
  });

  return {
    source: { subscribe: (cb) => bus.on(cb) },
    services: names,
    get emitted() { return emitted; },
    start() { names.forEach((n, i) => boot(svcs.get(n)!, 150 * i)); },
    dispose() { for (const t of timers) clearTimeout(t); timers.clear(); },
    stats: async () => {
      const out: Record<string, CgroupStats> = {};
      for (const s of svcs.values()) {
        if (!s.live) continue;
        s.cpuNs += 1e9 * s.load * (0.5 + rand());
        out[s.name] = { memory: { current: (8 + (s.name.length * 7) % 40) * 1048576 + Math.floor(rand() * 1048576), limit: s.name === 'worker' ? null : 128 * 1048576 }, cpu: { usageNs: s.cpuNs }, pids: { current: 3 }, oomKills: 0 };
      }
      return out;
    },
    controls: {
      async restart(name) {
        const s = svcs.get(name);
        if (!s) throw new Error(`no service ${name}`);
        await stopOne(s, false);
        s.stopping = false;
        s.restarts++;
        s.ended = false;
        emit({ type: 'restart', container: name, count: s.restarts, reason: 'requested' });
        boot(s, 100);
      },
      async stop(name) {
        const s = svcs.get(name);
        if (!s) throw new Error(`no service ${name}`);
        await stopOne(s, false);
      },
      async stopAll(force) {
        await Promise.all([...svcs.values()].map((s) => stopOne(s, force)));
      },
    },
  };
}
