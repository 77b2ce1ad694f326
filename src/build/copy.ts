// COPY and ADD of local files as Docker does them, turned into layer entries (no container needed):
// sources are matched (globs per path component) in the context or another stage's root; a
// directory's contents are copied, not the directory itself; a file goes to DEST, or into it when
// DEST ends with `/` or several sources matched; new files belong to 0:0 unless --chown; --chmod sets
// the mode; missing parent directories are created 0755 (existing ones keep their owner and mode, and
// a symlinked parent such as /lib → usr/lib is followed inside the image, never replaced). ADD of a
// local tar archive (plain or gzip) unpacks it into DEST. Every entry lands inside the image: no
// source outside its root is read (sources.ts) and no archive entry may climb out of DEST.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { posix } from 'node:path';
import { createGunzip } from 'node:zlib';
import tar from 'tar-stream';
import { RuntimeFailure, UserError } from '../errors.js';
import type { LayerEntry } from './layer.js';
import { globTree, hasGlob, normalizeSource, resolveInTree, type Tree, type TreeEntry } from './sources.js';

export interface CopyRequest {
  sources: string[];
  dest: string;
  /** The stage's WORKDIR (relative DEST is under it). */
  workdir: string;
  owner?: { uid: number; gid: number };
  chmod?: number;
  add: boolean;
  /** For messages: file and line of the instruction. */
  where: { file: string; line: number; col: number; text: string };
}

export interface CopyPlan {
  entries: LayerEntry[];
  /** sha256 over every entry's metadata and content: the cache input. */
  digest: string;
  /** Archives ADD unpacks (read while the layer is written). */
  archives: { host: string; dest: string }[];
}

const fail = (r: CopyRequest, message: string, hint?: string) => new UserError('E_BUILD_COPY', `${r.where.file}:${r.where.line}: ${r.where.text}: ${message}`, [{ file: r.where.file, line: r.where.line, col: r.where.col, message, ...(hint ? { hint } : {}) }], hint);

function isArchive(host: string): boolean {
  const fd = fs.openSync(host, 'r');
  try {
    const b = Buffer.alloc(512);
    const n = fs.readSync(fd, b, 0, 512, 0);
    if (n >= 2 && b[0] === 0x1f && b[1] === 0x8b) return true;
    return n >= 262 && b.subarray(257, 262).toString('latin1') === 'ustar';
  } finally {
    fs.closeSync(fd);
  }
}

function fileHash(host: string): string {
  return createHash('sha256').update(fs.readFileSync(host)).digest('hex');
}

/** Entries for a COPY/ADD; `lower` is the stage's root so far (for DEST's parents). */
export function planCopy(src: Tree, lower: Tree, r: CopyRequest): CopyPlan {
  const matched: string[] = [];
  for (const s of r.sources) {
    const rel = normalizeSource(s);
    if (rel === undefined) throw fail(r, `${s} is outside ${src.what}`, 'COPY and ADD read only files inside the build context (or the stage named by --from)');
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(s)) throw fail(r, `${s}: remote sources are not supported by niwa build`, 'download it in a RUN step (curl/wget), or put the file in the build context');
    const hits = hasGlob(rel) ? globTree(src, rel) : src.lstat(rel) || rel === '' ? [rel] : [];
    if (!hits.length) throw fail(r, `${s}: no such file or directory in ${src.what}`, src.what === 'the build context' ? 'is it excluded by .dockerignore?' : undefined);
    matched.push(...hits);
  }
  const destAbs = posix.normalize(r.dest.startsWith('/') ? r.dest : posix.join(r.workdir || '/', r.dest));
  const destIsDir = r.dest.endsWith('/') || r.dest.endsWith('/.') || matched.length > 1 || r.dest === '.';
  if (matched.length > 1 && !r.dest.endsWith('/')) throw fail(r, 'with more than one source, the destination must be a directory and end with /');
  // DEST's parents as the image has them, symlinks followed inside the image
  const destRel0 = destAbs.replace(/^\/+/, '').replace(/\/+$/, '').replace(/(^|\/)\.$/, '');
  const destRel = destRel0 ? resolveInTree(lower, destRel0) ?? destRel0 : '';

  const entries: LayerEntry[] = [];
  const archives: CopyPlan['archives'] = [];
  const madeDirs = new Set<string>();
  const hash = createHash('sha256');
  const owner = r.owner ?? { uid: 0, gid: 0 };
  // one entry per name, at its first place (parents before children), holding what came last
  const at = new Map<string, number>();
  const put = (e: LayerEntry) => {
    const i = at.get(e.name);
    if (i === undefined) { at.set(e.name, entries.length); entries.push(e); } else entries[i] = e;
  };
  const parentsOf = (rel: string) => {
    const parts = rel.split('/');
    for (let k = 1; k < parts.length; k++) {
      const d = parts.slice(0, k).join('/');
      if (madeDirs.has(d)) continue;
      madeDirs.add(d);
      const have = lower.lstat(d);
      put(have && have.type === 'dir' ? { name: d, type: 'dir', mode: have.mode, uid: have.uid, gid: have.gid, mtime: have.mtime } : { name: d, type: 'dir', mode: 0o755 });
    }
  };
  const push = (name: string, e: TreeEntry) => {
    parentsOf(name);
    const mode = r.chmod ?? e.mode;
    const common = { name, uid: owner.uid, gid: owner.gid, mtime: e.mtime };
    if (e.type === 'dir') {
      madeDirs.add(name);
      put({ ...common, type: 'dir', mode });
      hash.update(`d ${name} ${mode} ${owner.uid}:${owner.gid}\n`);
    } else if (e.type === 'symlink') {
      put({ ...common, type: 'symlink', linkname: e.linkname });
      hash.update(`l ${name} ${e.linkname}\n`);
    } else if (e.type === 'file') {
      put({ ...common, type: 'file', mode, host: e.host, size: e.size });
      hash.update(`f ${name} ${mode} ${owner.uid}:${owner.gid} ${fileHash(e.host)}\n`);
    }
  };
  const walk = (tree: Tree, from: string, to: string) => {
    for (const n of tree.readdir(from)) {
      const f = from ? `${from}/${n}` : n;
      const e = tree.lstat(f);
      if (!e) continue;
      push(`${to}/${n}`.replace(/^\//, ''), e);
      if (e.type === 'dir') walk(tree, f, `${to}/${n}`);
    }
  };
  for (const m of matched) {
    // a source named directly is followed inside its root when it is a symlink
    const real = resolveInTree(src, m);
    const e = real !== undefined ? src.lstat(real) : undefined;
    if (real === undefined || !e) throw fail(r, `${m}: it is a symlink that leads to nothing inside ${src.what}`, 'a symlink may point only inside the build context; the host file it names is never copied');
    if (e.type === 'dir') {
      if (destRel) push(destRel, { ...e, mode: 0o755 });
      walk(src, real, destRel ? `/${destRel}` : '');
    } else if (e.type === 'file' && r.add && isArchive(e.host)) {
      if (destRel) push(destRel, { ...e, type: 'dir', mode: 0o755 });
      archives.push({ host: e.host, dest: destRel });
      hash.update(`a ${destRel} ${fileHash(e.host)}\n`);
    } else if (e.type === 'file' || e.type === 'symlink') {
      const name = destIsDir ? (destRel ? `${destRel}/${posix.basename(m)}` : posix.basename(m)) : destRel;
      if (!name) throw fail(r, 'cannot copy a file onto /', 'end the destination with / to copy into it');
      if (destIsDir && destRel) push(destRel, { ...e, type: 'dir', mode: lower.lstat(destRel)?.mode ?? 0o755 });
      push(name, e);
    } else {
      throw fail(r, `${m}: neither a file, a directory nor a symlink`);
    }
  }
  return { entries, digest: 'sha256:' + hash.digest('hex'), archives };
}

/** The entries of a local tar archive (ADD), placed under `dest`; `..` anywhere refuses the archive. */
export async function* archiveEntries(host: string, dest: string, what: string): AsyncGenerator<LayerEntry> {
  const head = Buffer.alloc(2);
  const fd = fs.openSync(host, 'r');
  try { fs.readSync(fd, head, 0, 2, 0); } finally { fs.closeSync(fd); }
  const extract = tar.extract();
  const input = fs.createReadStream(host);
  (head[0] === 0x1f && head[1] === 0x8b ? input.pipe(createGunzip()) : input).pipe(extract);
  for await (const entry of extract) {
    const h = entry.header;
    const parts = h.name.split('/').filter((p) => p && p !== '.');
    if (parts.includes('..')) throw new RuntimeFailure('E_BUILD_ADD', `${what}: archive entry ${JSON.stringify(h.name)} climbs out of its destination: refused`, { hint: 'archives added with ADD must hold relative paths without ..' });
    const name = [dest, ...parts].filter(Boolean).join('/');
    if (!name) { entry.resume(); continue; }
    const base = { name, mode: (h.mode ?? 0o644) & 0o7777, uid: h.uid ?? 0, gid: h.gid ?? 0, mtime: h.mtime };
    if (h.type === 'file' || h.type === 'contiguous-file') {
      const chunks: Buffer[] = [];
      for await (const c of entry) chunks.push(c as Buffer);
      yield { ...base, type: 'file', data: Buffer.concat(chunks) };
      continue;
    }
    entry.resume();
    if (h.type === 'directory') yield { ...base, type: 'dir' };
    else if (h.type === 'symlink') yield { ...base, type: 'symlink', linkname: h.linkname ?? '' };
    else if (h.type === 'link') {
      const lp = (h.linkname ?? '').split('/').filter((p) => p && p !== '.');
      if (lp.includes('..')) throw new RuntimeFailure('E_BUILD_ADD', `${what}: hard link ${JSON.stringify(h.name)} points out of the archive: refused`);
      yield { ...base, type: 'link', linkname: [dest, ...lp].filter(Boolean).join('/') };
    }
  }
}
