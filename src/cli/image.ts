// `niwa image pull|ls|rm|inspect|load|import|prune` (and the short forms `niwa pull`, `niwa images`):
// thin wrappers over the image store (data root: $NIWA_DATA_ROOT, default /var/lib/niwa) and pull.ts.
// Heavy modules (the store, the registry client) load only in the subverb that needs them.
import { UserError } from '../errors.js';
import type { Verb } from './main.js';
import { parseArgs } from './args.js';
import type { ImageStore, StoredImage } from '../image/types.js';

const STATE_ROOT_USAGE = '  --state-root DIR    where container state lives (default: $NIWA_STATE_ROOT or /run/niwa)';

/** The image store under the data root ($NIWA_DATA_ROOT, default /var/lib/niwa). */
export async function store(): Promise<ImageStore> {
  const [{ openStore }, { dataRoot }] = await Promise.all([import('../image/store.js'), import('../image/types.js')]);
  return openStore(dataRoot());
}

const stateRootOf = (flags: Record<string, unknown>) => String(flags['state-root'] ?? (process.env.NIWA_STATE_ROOT || '/run/niwa'));

/** "3 minutes ago", "about an hour ago", "2 days ago". */
export function ago(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  const unit = (n: number, u: string) => `${n} ${u}${n === 1 ? '' : 's'} ago`;
  if (s < 2) return 'just now';
  if (s < 60) return unit(s, 'second');
  if (s < 3600) return Math.round(s / 60) === 1 ? 'about a minute ago' : unit(Math.round(s / 60), 'minute');
  if (s < 86400) return Math.round(s / 3600) === 1 ? 'about an hour ago' : unit(Math.round(s / 3600), 'hour');
  if (s < 14 * 86400) return unit(Math.round(s / 86400), 'day');
  if (s < 60 * 86400) return unit(Math.round(s / (7 * 86400)), 'week');
  if (s < 365 * 86400) return unit(Math.round(s / (30 * 86400)), 'month');
  return unit(Math.round(s / (365 * 86400)), 'year');
}

/**
 * The stored image an argument names: a reference (busybox, ghcr.io/o/n:1, name@sha256:…), a
 * manifest digest, or a unique hex prefix of 12+ digits. Returns the canonical name matched, if any.
 */
export async function findImage(s: ImageStore, arg: string): Promise<{ image: StoredImage; name?: string } | undefined> {
  const { isDigest } = await import('../image/types.js');
  if (isDigest(arg) || /^(sha256:)?[a-f0-9]{12,64}$/.test(arg)) {
    const image = s.resolve(arg.startsWith('sha256:') ? arg : arg.length === 64 ? `sha256:${arg}` : arg);
    if (image) return { image };
    if (isDigest(arg)) return undefined;
  }
  const [{ parseRef }, { findLocal, storeName }] = await Promise.all([import('../image/reference.js'), import('../image/pull.js')]);
  const ref = parseRef(arg);
  const image = findLocal(s, ref);
  return image ? { image, name: storeName(ref) } : undefined;
}

function noSuchImage(arg: string): UserError {
  return new UserError('E_IMAGE_UNKNOWN', `no such image: ${arg}`, [], "see 'niwa image ls' for the images in the store");
}

// ---- subverbs -----------------------------------------------------------------------------------

const PULL_USAGE = 'niwa image pull [--platform OS/ARCH[/VARIANT]] [-q|--quiet] NAME[:TAG|@DIGEST]...';
async function pull(argv: string[]): Promise<number> {
  const a = parseArgs(argv, { values: { platform: '' }, booleans: { quiet: 'q' } }, 'pull');
  if (!a.positionals.length) throw new UserError('E_USAGE', 'pull: expected an image name', [], `usage: ${PULL_USAGE}`);
  const [{ ensureImage }, { pullReporter }, { parsePlatform }, { parseRef, familiarName }] = await Promise.all([
    import('../image/pull.js'), import('./pull-progress.js'), import('../image/platform.js'), import('../image/reference.js'),
  ]);
  const refs = a.positionals.map((p) => parseRef(p)); // refuse a bad name before any network
  const platform = a.flags.platform ? parsePlatform(String(a.flags.platform)) : undefined;
  const s = await store();
  const ac = new AbortController();
  const { RuntimeFailure } = await import('../errors.js');
  const onSig = () => ac.abort(new RuntimeFailure('E_INTERRUPTED', 'pull interrupted (what was complete is kept; pull again to finish)'));
  process.once('SIGINT', onSig);
  process.once('SIGTERM', onSig);
  try {
    for (let i = 0; i < refs.length; i++) {
      const rep = pullReporter({ out: process.stdout, tty: Boolean(process.stdout.isTTY), quiet: Boolean(a.flags.quiet) });
      try {
        await ensureImage(a.positionals[i], { store: s, policy: 'always', platform, signal: ac.signal, onEvent: (e) => rep.onEvent(e) });
      } finally { rep.finish(); }
      if (a.flags.quiet) process.stdout.write(`${familiarName(refs[i])}\n`);
    }
  } finally {
    process.off('SIGINT', onSig);
    process.off('SIGTERM', onSig);
  }
  return 0;
}

const LS_USAGE = 'niwa image ls [--json] [-q|--quiet] [--no-trunc]';
async function ls(argv: string[]): Promise<number> {
  const a = parseArgs(argv, { booleans: { json: '', quiet: 'q', 'no-trunc': '' } }, 'image ls');
  const s = await store();
  const images = s.list().sort((x, y) => (y.pulledAt ?? '').localeCompare(x.pulledAt ?? ''));
  if (a.flags.json) { process.stdout.write(JSON.stringify(images, null, 2) + '\n'); return 0; }
  const full = Boolean(a.flags['no-trunc']);
  const shortDigest = (d: string) => (full ? d : d.slice(0, 'sha256:'.length + 12));
  if (a.flags.quiet) {
    process.stdout.write([...new Set(images.map((i) => shortDigest(i.digest)))].map((d) => d + '\n').join(''));
    return 0;
  }
  const [{ familiarString }, { humanBytes }, { table }] = await Promise.all([import('../image/reference.js'), import('./pull-progress.js'), import('./target.js')]);
  const rows = [['NAME', 'DIGEST', 'SIZE', 'PULLED']];
  const now = Date.now();
  for (const img of images) {
    const names = img.names.length ? img.names.map(familiarString) : ['<none>'];
    for (const n of names) rows.push([n, shortDigest(img.digest), humanBytes(img.size), img.pulledAt ? ago(now - Date.parse(img.pulledAt)) : '-']);
  }
  process.stdout.write(table(rows));
  return 0;
}

const RM_USAGE = `niwa image rm [-f|--force] [--state-root DIR] NAME|DIGEST...\n\n  -f, --force         remove the name even when a container uses the image\n${STATE_ROOT_USAGE}`;
async function rm(argv: string[]): Promise<number> {
  const a = parseArgs(argv, { values: { 'state-root': '' }, booleans: { force: 'f' } }, 'image rm');
  if (!a.positionals.length) throw new UserError('E_USAGE', 'image rm: expected an image name or digest', [], `usage: ${RM_USAGE.split('\n')[0]}`);
  const [{ imageUsers }, { familiarString }, { humanBytes }, { RuntimeFailure, formatError, NiwaError }] = await Promise.all([
    import('../image/in-use.js'), import('../image/reference.js'), import('./pull-progress.js'), import('../errors.js'),
  ]);
  const s = await store();
  const users = imageUsers(stateRootOf(a.flags));
  let status = 0;
  let removed = 0;
  for (const arg of a.positionals) {
    try {
      const hit = await findImage(s, arg);
      if (!hit) throw noSuchImage(arg);
      const { image } = hit;
      // A name given: remove that name. A digest given: every name of the image.
      const names = hit.name && image.names.includes(hit.name) ? [hit.name] : image.names;
      const using = users.filter((u) => u.digest === image.digest);
      const lastNames = image.names.filter((n) => !names.includes(n)).length === 0;
      if (using.length && lastNames && !a.flags.force) {
        throw new RuntimeFailure('E_IMAGE_IN_USE', `image ${familiarString(names[0] ?? image.digest)} (${image.digest.slice(0, 19)}) is used by container${using.length > 1 ? 's' : ''} ${using.map((u) => `${u.project}/${u.name}`).join(', ')}`, {
          hint: 'remove the container first (niwa rm), or force with -f (its files stay until it is gone)',
        });
      }
      for (const n of names) { if (s.untag(n)) { process.stdout.write(`Untagged: ${familiarString(n)}\n`); removed++; } }
      if (!names.length) removed++;
    } catch (e) {
      process.stderr.write(formatError(e) + '\n');
      status = Math.max(status, e instanceof NiwaError ? e.exitCode : 1);
    }
  }
  if (removed) {
    // Free what no name and no container needs any more.
    const freed = s.prune(new Set(users.map((u) => u.digest)));
    if (freed.bytes || freed.blobs || freed.layers) process.stdout.write(`Deleted: ${freed.blobs} blob${freed.blobs === 1 ? '' : 's'}, ${freed.layers} layer${freed.layers === 1 ? '' : 's'} (${humanBytes(freed.bytes)} freed)\n`);
  }
  return status;
}

const INSPECT_USAGE = 'niwa image inspect NAME|DIGEST...';
async function inspect(argv: string[]): Promise<number> {
  const a = parseArgs(argv, {}, 'image inspect');
  if (!a.positionals.length) throw new UserError('E_USAGE', 'image inspect: expected an image name or digest', [], `usage: ${INSPECT_USAGE}`);
  const s = await store();
  const out: StoredImage[] = [];
  for (const arg of a.positionals) {
    const hit = await findImage(s, arg);
    if (!hit) throw noSuchImage(arg);
    out.push(hit.image);
  }
  process.stdout.write(JSON.stringify(out, null, 2) + '\n');
  return 0;
}

const archive = () => import('../image/archive.js');

async function describeLoaded(images: StoredImage[]): Promise<string> {
  const { familiarString } = await import('../image/reference.js');
  return images.map((i) => `Loaded: ${i.names.length ? i.names.map(familiarString).join(', ') : '<no name>'} (${i.digest})\n`).join('');
}

const LOAD_USAGE = 'niwa image load [-i] FILE   (a docker save archive or an OCI archive)';
async function load(argv: string[]): Promise<number> {
  const a = parseArgs(argv, { values: { input: 'i' } }, 'image load');
  const file = (a.flags.input as string | undefined) ?? a.positionals[0];
  if (!file || a.positionals.length > (a.flags.input ? 0 : 1)) throw new UserError('E_USAGE', 'image load: expected one archive file', [], `usage: ${LOAD_USAGE}`);
  const { loadArchive } = await archive();
  process.stdout.write(await describeLoaded(await loadArchive(await store(), file)));
  return 0;
}

const IMPORT_USAGE = 'niwa image import DIR [NAME]   (an OCI image layout directory)';
async function importDir(argv: string[]): Promise<number> {
  const a = parseArgs(argv, {}, 'image import');
  if (a.positionals.length < 1 || a.positionals.length > 2) throw new UserError('E_USAGE', 'image import: expected a layout directory and maybe a name', [], `usage: ${IMPORT_USAGE}`);
  const { importLayout } = await archive();
  process.stdout.write(await describeLoaded(await importLayout(await store(), a.positionals[0], a.positionals[1])));
  return 0;
}

const PRUNE_USAGE = `niwa image prune [--state-root DIR]\n\n  removes blobs and unpacked layers that no named image and no container uses\n${STATE_ROOT_USAGE}`;
async function prune(argv: string[]): Promise<number> {
  const a = parseArgs(argv, { values: { 'state-root': '' } }, 'image prune');
  const [{ imagesInUse }, { humanBytes }] = await Promise.all([import('../image/in-use.js'), import('./pull-progress.js')]);
  const s = await store();
  const r = s.prune(imagesInUse(stateRootOf(a.flags)));
  process.stdout.write(`Freed ${humanBytes(r.bytes)} (${r.blobs} blob${r.blobs === 1 ? '' : 's'}, ${r.layers} layer${r.layers === 1 ? '' : 's'})\n`);
  return 0;
}

const SUB: Record<string, { run: (argv: string[]) => Promise<number>; usage: string; summary: string }> = {
  pull: { run: pull, usage: PULL_USAGE, summary: 'download an image from a registry (always asks the registry; fetches only what is missing)' },
  ls: { run: ls, usage: LS_USAGE, summary: 'list the images in the store' },
  rm: { run: rm, usage: RM_USAGE, summary: 'remove image names (and what only they used)' },
  inspect: { run: inspect, usage: INSPECT_USAGE, summary: 'the stored image as JSON: manifest digest, names, config, layers' },
  load: { run: load, usage: LOAD_USAGE, summary: 'load a docker save or OCI archive' },
  import: { run: importDir, usage: IMPORT_USAGE, summary: 'import an OCI image layout directory' },
  prune: { run: prune, usage: PRUNE_USAGE, summary: 'remove what no image name and no container uses' },
};
const ALIASES: Record<string, string> = { list: 'ls', remove: 'rm', rmi: 'rm' };

function subverb(name: string): Verb {
  const s = SUB[name];
  return { summary: s.summary, usage: s.usage, run: s.run };
}

export const verb: Verb = {
  subcommands: true,
  summary: 'images: pull, ls, rm, inspect, load, import, prune',
  usage: ['niwa image <command> [options]', '', 'commands:', ...Object.entries(SUB).map(([k, v]) => `  ${k.padEnd(8)}  ${v.summary}`), '', "Run 'niwa image <command> --help' for its options. Data root: $NIWA_DATA_ROOT (default /var/lib/niwa)."].join('\n'),
  async run(argv) {
    const [cmd, ...rest] = argv;
    const name = ALIASES[cmd ?? ''] ?? cmd;
    if (!name || !SUB[name]) {
      throw new UserError('E_USAGE', cmd ? `image: unknown command '${cmd}'` : 'image: expected a command', [], `one of: ${Object.keys(SUB).join(', ')}`);
    }
    if (rest.includes('--help') || rest.includes('-h')) {
      process.stdout.write(`usage: ${SUB[name].usage}\n\n${SUB[name].summary}\n`);
      return 0;
    }
    return SUB[name].run(rest);
  },
};

/** `niwa pull` = `niwa image pull`; `niwa images` = `niwa image ls`. */
export const pullVerb = subverb('pull');
export const imagesVerb = subverb('ls');
