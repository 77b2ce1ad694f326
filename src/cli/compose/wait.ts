// `niwa compose wait SERVICE...`: blocks until the services' containers have ended and prints each
// one's exit code (128+N for signal N), one line per service in the order named. Exits with the
// first service's code, like `docker compose wait`.
import { UserError } from '../../errors.js';
import { isLive } from '../../runtime/status.js';
import { engineOf, servicesOf, type Run } from './project.js';

export const wait: Run = async (a, project) => {
  if (!a.positionals.length) throw new UserError('E_USAGE', 'compose wait: expected at least one SERVICE', [], 'usage: niwa compose wait SERVICE...');
  const { load, engine } = await engineOf(project);
  const services = servicesOf(load, a.positionals);
  for (const s of services) if (!engine.names(s).some((n) => engine.state(n))) throw new UserError('E_NO_CONTAINER', `compose wait: ${s} has no container`, [], `create it with niwa compose up -d ${s}`);
  // a service with several replicas has ended when every one has; its code is the first non-zero one
  const code = (s: string): number | undefined => {
    const codes = engine.names(s).map((n) => {
      const st = engine.state(n);
      if (!st) return 255; // removed while we waited
      if (isLive(st.status)) return undefined;
      return st.signal != null ? 128 + st.signal : st.exitCode ?? 255;
    });
    return codes.includes(undefined) ? undefined : codes.find((c) => c !== 0) ?? 0;
  };
  const codes: number[] = [];
  try {
    if (services.some((s) => code(s) === undefined)) await engine.open(); // the supervisor's events refresh the states
    for (const s of services) {
      const c = code(s) ?? await new Promise<number>((resolve) => {
        const off = engine.onChange(() => { const v = code(s); if (v !== undefined) { off(); resolve(v); } });
      });
      codes.push(c);
      process.stdout.write(`${c}\n`);
    }
  } finally { engine.close(); }
  return codes[0] ?? 0;
};
