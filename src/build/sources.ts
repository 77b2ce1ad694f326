// Where COPY and ADD read from: the build context (with .dockerignore, matched by
// @balena/dockerignore, which implements Docker's own rules) or another stage's root (its layers
// merged as overlayfs shows them: top layer first, whiteouts and opaque dirs honoured). Both are
// `Tree`s of relative paths that never reach outside their root: a source path with `..` that leaves
// the root is refused, and a symlink named as a source is followed *inside* the root (an absolute
// target means the root's own /, `..` stops at the root), as Docker's FollowSymlinkInScope does.
// Symlinks met while walking a directory are copied as symlinks, never followed.
import * as fs from 'node:fs';
import { join, posix } from 'node:path';
import ignoreModule from '@balena/dockerignore';

// a CommonJS module whose types say `export default`: the factory is the module itself at run time
type IgnoreFactory = typeof ignoreModule.default;
const ignore = ((ignoreModule as unknown as { default?: IgnoreFactory }).default ?? ignoreModule) as unknown as IgnoreFactory;

export interface TreeEntry {
  type: 'file' | 'dir' | 'symlink' | 'other';
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: Date;
  /** Host path to read a file's content from. */
  host: string;
  linkname?: string;
  ino: number;
  dev: number;
}

export interface Tree {
  what: string;
  /** `rel` is a normalised relative path ('' is the root); undefined when absent or excluded. */
  lstat(rel: string): TreeEntry | undefined;
  readdir(rel: string): string[];
}

function entryOf(host: string, st: fs.Stats): TreeEntry {
  const type = st.isFile() ? 'file' : st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : 'other';
  return { type, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, size: st.size, mtime: st.mtime, host, linkname: type === 'symlink' ? fs.readlinkSync(host) : undefined, ino: st.ino, dev: st.dev };
}

function lstatOrUndefined(p: string): fs.Stats | undefined {
  try { return fs.lstatSync(p); } catch { return undefined; }
}

/** Patterns of a .dockerignore (comments and blank lines dropped). */
export function readIgnoreFile(file: string): string[] {
  let text: string;
  try { text = fs.readFileSync(file, 'utf8'); } catch { return []; }
  return text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
}

/** The build context directory, minus what .dockerignore excludes. */
export function contextTree(root: string, patterns: string[]): Tree {
  const ig = ignore().add(patterns);
  const hasExceptions = patterns.some((p) => p.startsWith('!'));
  const excluded = (rel: string) => rel !== '' && ig.ignores(rel);
  return {
    what: 'the build context',
    lstat(rel) {
      if (excluded(rel) && !(hasExceptions && lstatOrUndefined(join(root, rel))?.isDirectory())) return undefined;
      const st = lstatOrUndefined(join(root, rel));
      return st && entryOf(join(root, rel), st);
    },
    readdir(rel) {
      try { return fs.readdirSync(join(root, rel)).filter((n) => !excluded(rel ? `${rel}/${n}` : n) || (hasExceptions && lstatOrUndefined(join(root, rel, n))?.isDirectory())); } catch { return []; }
    },
  };
}

const isWhiteout = (st: fs.Stats) => st.isCharacterDevice() && st.rdev === 0;

/** The merged root of unpacked layers (bottom first), read-only. `opaque(dir)` reads the overlay xattr. */
export function layersTree(layers: string[], what: string, opaque: (dir: string) => boolean): Tree {
  /** The topmost layer path holding `rel`, or undefined (absent, whited out, or hidden by an opaque dir / a non-dir). */
  const find = (rel: string): string | undefined => {
    const parts = rel ? rel.split('/') : [];
    for (let i = layers.length - 1; i >= 0; i--) {
      let hidden = false;
      let k = 1;
      for (; k <= parts.length; k++) {
        const st = lstatOrUndefined(join(layers[i], ...parts.slice(0, k)));
        if (!st) break;
        if (isWhiteout(st)) return undefined;
        if (k === parts.length) return join(layers[i], ...parts);
        if (!st.isDirectory()) return undefined;
        if (opaque(join(layers[i], ...parts.slice(0, k)))) hidden = true;
      }
      if (parts.length === 0) return layers[i];
      if (hidden) return undefined;
    }
    return undefined;
  };
  return {
    what,
    lstat(rel) {
      if (!layers.length) return rel === '' ? { type: 'dir', mode: 0o755, uid: 0, gid: 0, size: 0, mtime: new Date(0), host: '/nonexistent', ino: 0, dev: 0 } : undefined;
      const p = find(rel);
      const st = p ? lstatOrUndefined(p) : undefined;
      return st && entryOf(p!, st);
    },
    readdir(rel) {
      const names = new Set<string>();
      const gone = new Set<string>();
      for (let i = layers.length - 1; i >= 0; i--) {
        const d = join(layers[i], rel);
        const st = lstatOrUndefined(d);
        if (!st) continue;
        if (!st.isDirectory()) break;
        for (const n of fs.readdirSync(d)) {
          const s = lstatOrUndefined(join(d, n));
          if (s && isWhiteout(s)) gone.add(n);
          else if (!gone.has(n)) names.add(n);
        }
        if (opaque(d)) break;
      }
      return [...names].sort();
    },
  };
}

/** Normalises a source path relative to the tree's root; undefined when it leaves the root. */
export function normalizeSource(p: string): string | undefined {
  const parts: string[] = [];
  for (const c of p.split('/')) {
    if (!c || c === '.') continue;
    if (c === '..') { if (!parts.length) return undefined; parts.pop(); } else parts.push(c);
  }
  return parts.join('/');
}

/** Follows symlinks in `rel` inside the tree (never outside it). Returns the real relative path. */
export function resolveInTree(tree: Tree, rel: string, depth = 0): string | undefined {
  if (depth > 40) return undefined;
  const parts = rel ? rel.split('/') : [];
  const done: string[] = [];
  for (let k = 0; k < parts.length; k++) {
    const cur = [...done, parts[k]].join('/');
    const e = tree.lstat(cur);
    if (!e) return [...done, ...parts.slice(k)].join('/'); // absent: the caller says so
    if (e.type === 'symlink') {
      const t = e.linkname!;
      const joined = t.startsWith('/') ? t : [...done, t].join('/');
      // `..` stops at the root (scoped), exactly as an absolute path inside the root would
      const parts2: string[] = [];
      for (const c of joined.split('/')) { if (!c || c === '.') continue; if (c === '..') parts2.pop(); else parts2.push(c); }
      return resolveInTree(tree, [...parts2, ...parts.slice(k + 1)].join('/'), depth + 1);
    }
    done.push(parts[k]);
  }
  return done.join('/');
}

/** Docker's filepath.Match for one path component: *, ?, [...] (with ^ or ! to negate), \ escapes. */
export function segmentRegex(seg: string): RegExp {
  let re = '';
  for (let i = 0; i < seg.length; i++) {
    const c = seg[i];
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const j = seg.indexOf(']', i + 1);
      if (j < 0) { re += '\\['; continue; }
      let body = seg.slice(i + 1, j);
      if (body.startsWith('!') || body.startsWith('^')) body = '^' + body.slice(1);
      re += `[${body.replace(/\\/g, '\\\\')}]`;
      i = j;
    } else if (c === '\\' && i + 1 < seg.length) re += seg[++i].replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    else re += c.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

export const hasGlob = (p: string) => /[*?[]/.test(p);

/** Relative paths of the tree matching a (normalised) pattern, component by component. */
export function globTree(tree: Tree, pattern: string): string[] {
  const segs = pattern.split('/');
  let cur = [''];
  for (const seg of segs) {
    const next: string[] = [];
    for (const base of cur) {
      if (!hasGlob(seg)) { const p = base ? `${base}/${seg}` : seg; if (tree.lstat(p)) next.push(p); continue; }
      const re = segmentRegex(seg);
      for (const n of tree.readdir(base)) if (re.test(n)) next.push(base ? `${base}/${n}` : n);
    }
    cur = next;
  }
  return cur.sort();
}

/** posix.join that keeps a leading slash and removes a trailing one. */
export const imgPath = (...p: string[]) => posix.normalize(posix.join('/', ...p)).replace(/(.)\/$/, '$1');
