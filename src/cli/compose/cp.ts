// `niwa compose cp SERVICE:SRC DEST` and `niwa compose cp SRC SERVICE:DEST`: copy a file or a
// directory tree between the host and a service's running container. Container paths are resolved
// inside the container's root by the kernel (src/runtime/copy.ts: openat2 RESOLVE_IN_ROOT), so a
// symlink in the container cannot make cp read or write host files.
import { resolve } from 'node:path';
import { UserError, RuntimeFailure } from '../../errors.js';
import { SysError } from '../../runtime/sys/types.js';
import { engineOf, replicaOf, servicesOf, type Run } from './project.js';

const USAGE = 'usage: niwa compose cp SERVICE:SRC_PATH DEST_PATH | SRC_PATH SERVICE:DEST_PATH';

export const cp: Run = async (a, project) => {
  if (a.positionals.length !== 2) throw new UserError('E_USAGE', 'compose cp: expected a source and a destination', [], USAGE);
  const { load, engine } = await engineOf(project);
  const side = (arg: string) => {
    const m = /^([A-Za-z0-9][A-Za-z0-9_.-]*):(.*)$/.exec(arg);
    return m && load.services.has(m[1]) ? { service: m[1], path: m[2] || '/' } : undefined;
  };
  const [from, to] = a.positionals.map(side);
  if ((from && to) || (!from && !to)) {
    throw new UserError('E_USAGE', 'compose cp: exactly one of the two paths must be SERVICE:PATH', [], `${USAGE} (services: ${[...load.services.keys()].join(', ')})`);
  }
  const inside = (from ?? to)!;
  servicesOf(load, [inside.service]);
  const name = replicaOf(engine, inside.service, a.flags.index, 'cp');
  const st = engine.state(name);
  if (!st || st.status !== 'running' || !st.pid) throw new UserError('E_NOT_RUNNING', `compose cp: ${inside.service} has no running container`, [], `start it with niwa compose up -d ${inside.service}`);
  const [{ ContainerRoot }, { realSys, prepareNative }] = await Promise.all([import('../../runtime/copy.js'), import('../../runtime/sys/real.js')]);
  await prepareNative();
  const root = ContainerRoot.open(realSys, st.pid);
  try {
    if (from) root.copyOut(from.path, resolve(a.positionals[1]));
    else root.copyIn(resolve(a.positionals[0]), to!.path);
  } catch (e) {
    const code = e instanceof SysError ? e.errno : (e as NodeJS.ErrnoException).code;
    const what = from ? `${from.service}:${from.path} → ${a.positionals[1]}` : `${a.positionals[0]} → ${to!.service}:${to!.path}`;
    throw new RuntimeFailure('E_COPY', `compose cp ${what}: ${(e as Error).message}`, {
      hint: code === 'ENOENT' ? 'no such file or directory (container paths are resolved inside the container)' : code === 'EXDEV' ? 'the path leaves the container root' : undefined, cause: e,
    });
  } finally { root.close(); }
  return 0;
};
