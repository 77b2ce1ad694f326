// The options `niwa run` and `niwa plan` share: Docker's spellings (-e, -v, --memory, --cap-drop …)
// and niwa's own (--ns, --root), and what the positional names: a spec file, an image, or nothing
// (the embedded default root). The options become a RunOverrides, applied by the loader's
// overrides phase (src/spec/load/overrides.ts).
import { existsSync } from 'node:fs';
import { extname } from 'node:path';
import type { ArgSpec, ParsedArgs } from './args.js';
import { UserError } from '../errors.js';
import { checkName } from '../spec/names.js';
import type { ContainerSpec } from '../spec/types.js';
import type { RunOverrides } from '../spec/load/overrides.js';
import { MODULE_EXTS, YAML_EXTS } from '../spec/load/read.js';

/** Value options (long → short) shared by run and plan. */
export const RUN_VALUES = {
  name: '', env: 'e', 'env-file': '', volume: 'v', tmpfs: '', publish: 'p', workdir: 'w', user: 'u', entrypoint: '',
  memory: 'm', cpus: '', 'pids-limit': '', 'cap-add': '', 'cap-drop': '', network: '', hostname: '', 'security-opt': '',
  ulimit: '', sysctl: '', ns: '', root: '', pull: '',
} as const;
export const RUN_BOOLEANS = { interactive: 'i', tty: 't', rm: '', init: '', 'read-only': '' } as const;
export const RUN_REPEAT = ['env', 'env-file', 'volume', 'tmpfs', 'publish', 'cap-add', 'cap-drop', 'security-opt', 'ulimit', 'sysctl'];

export function runArgSpec(values: Record<string, string>, booleans: Record<string, string>): ArgSpec {
  return { values: { ...RUN_VALUES, ...values }, booleans: { ...RUN_BOOLEANS, ...booleans }, repeat: RUN_REPEAT };
}

export const RUN_OPTIONS_USAGE = [
  'Options with Docker\'s spellings, applied over the spec (or over the default root / the image):',
  '  -i, -t, -it         -i: pass stdin in (without it the container reads /dev/null); -t: give the container a\n                      terminal (TERM passed through, window size, job control)',
  '  --rm                remove the container when it ends (a foreground run always is)',
  '  -e K=V, --env-file F   environment (-e K alone passes K from this shell)',
  '  -v SRC:DST[:ro]     bind a host path;  --tmpfs DST[:size=8M,mode=1777]',
  '  -w DIR, -u USER[:GROUP], --entrypoint CMD, --name NAME, --hostname NAME, --init, --read-only',
  '  -m, --memory 64m, --cpus 0.5, --pids-limit 64, --ulimit nofile=1024:2048, --sysctl k=v',
  '  --cap-add CAP, --cap-drop CAP (ALL too), --security-opt seccomp=unconfined|FILE, --security-opt no-new-privileges',
  '  --network none|host|bridge|NAME   none: only lo; host: the host\'s network; bridge: a veth on niwa\'s bridge',
  '                      (niwa0); NAME: a compose project\'s network PROJECT_NETWORK (its services by name)',
  '  -p [IP:]HOST:CTR[/udp]   publish a container port on the host (a userspace proxy; implies --network bridge)',
  '  --ns pid,uts,mount  exactly these new namespaces;  --root pivot_root|chroot',
  '  --pull WHEN         missing (default), always or never: when to pull an image',
].join('\n');

const list = (v: unknown): string[] | undefined => (v === undefined ? undefined : (v as string[]));
const str = (v: unknown): string | undefined => (v === undefined ? undefined : String(v));

/** The parsed options as overrides for the loader. --name is checked here (it names host paths). */
export function overridesOf(a: ParsedArgs, verb = 'run'): RunOverrides {
  const f = a.flags;
  if (f.name !== undefined) checkName(String(f.name), 'container name (--name)', verb);
  const o: RunOverrides = {
    name: str(f.name), command: a.rest.length ? a.rest : undefined, entrypoint: str(f.entrypoint),
    env: list(f.env), envFile: list(f['env-file']), volume: list(f.volume), tmpfs: list(f.tmpfs), publish: list(f.publish),
    workdir: str(f.workdir), user: str(f.user), memory: str(f.memory), cpus: str(f.cpus), pidsLimit: str(f['pids-limit']),
    capAdd: list(f['cap-add']), capDrop: list(f['cap-drop']), init: f.init ? true : undefined, readOnly: f['read-only'] ? true : undefined,
    network: str(f.network), hostname: str(f.hostname), securityOpt: list(f['security-opt']), ulimit: list(f.ulimit), sysctl: list(f.sysctl),
    tty: f.tty ? true : undefined, ns: str(f.ns), root: str(f.root), term: f.tty ? process.env.TERM : undefined,
  };
  for (const k of Object.keys(o) as (keyof RunOverrides)[]) if (o[k] === undefined) delete o[k];
  return o;
}

/** What `niwa run [SPEC | IMAGE]` runs: a spec file, or a spec made here (an image, or the default root). */
export type RunSource = { kind: 'file'; file: string } | { kind: 'inline'; spec: ContainerSpec; what: string };

export function runSource(a: ParsedArgs, verb: string): RunSource {
  if (a.positionals.length > 1) {
    throw new UserError('E_USAGE', `${verb}: expected one SPEC or IMAGE, got ${a.positionals.length} (${a.positionals.join(' ')})`, [],
      `put the command after --: niwa ${verb} ${a.positionals[0]} -- ${a.positionals.slice(1).join(' ')}`);
  }
  const [p] = a.positionals;
  const ext = p ? extname(p).toLowerCase() : '';
  if (p && ([...YAML_EXTS, ...MODULE_EXTS].includes(ext) || existsSync(p))) return { kind: 'file', file: p };
  const name = p ? imageName(p) : 'run';
  if (p) return { kind: 'inline', what: `image ${p}`, spec: { name, rootfs: { image: p }, process: {} } };
  if (!a.rest.length && a.flags.entrypoint === undefined) {
    throw new UserError('E_USAGE', `${verb}: nothing to run: give a SPEC file, an IMAGE, or a command after --`, [],
      `e.g. niwa ${verb} --ns pid,uts,mount --hostname box -- /bin/sh, or niwa ${verb} examples/hello.container.ts`);
  }
  return { kind: 'inline', what: 'the embedded default root', spec: { name, process: { args: [] } } };
}

/** A container name from an image reference: its last path component without tag or digest. */
export function imageName(ref: string): string {
  const last = ref.split('@')[0].split('/').pop() ?? 'run';
  const n = last.split(':')[0].replace(/[^A-Za-z0-9_.-]/g, '-').replace(/^[^A-Za-z0-9]+/, '');
  return n.slice(0, 40) || 'run';
}
