// An image as the loader reads it: its config, its layer directories, and its files read through
// the layers as overlayfs would show them (top layer first; whiteouts and opaque directories
// honoured; symlinks resolved inside the image, never on the host).
import * as fs from 'node:fs';
import type { ImageView } from './apply.js';
import type { ImageStore, StoredImage } from './types.js';

/** Read one file of the merged root of `layers` (bottom first); undefined when absent. */
export function readMerged(layers: string[], path: string, isOpaque: (dir: string) => boolean = () => false, depth = 0): string | undefined {
  if (depth > 8) return undefined;
  const parts = path.split('/').filter((p) => p && p !== '.');
  if (parts.includes('..')) return undefined;
  for (let i = layers.length - 1; i >= 0; i--) {
    const top = layers[i];
    let stop = false;
    // an ancestor that is a whiteout or not a directory in this layer hides everything below it
    for (let k = 1; k <= parts.length; k++) {
      const p = `${top}/${parts.slice(0, k).join('/')}`;
      let st: fs.Stats;
      try { st = fs.lstatSync(p); } catch { break; }
      if (st.isCharacterDevice() && st.rdev === 0) return undefined;
      if (k === parts.length) {
        if (st.isSymbolicLink()) {
          const t = fs.readlinkSync(p);
          const target = t.startsWith('/') ? t : `/${parts.slice(0, k - 1).join('/')}/${t}`;
          return readMerged(layers, normalize(target), isOpaque, depth + 1);
        }
        if (!st.isFile()) return undefined;
        return fs.readFileSync(p, 'utf8');
      }
      if (!st.isDirectory()) return undefined;
      if (isOpaque(p)) stop = true;
    }
    if (stop) return undefined;
  }
  return undefined;
}

function normalize(p: string): string {
  const out: string[] = [];
  for (const c of p.split('/')) {
    if (!c || c === '.') continue;
    if (c === '..') out.pop();
    else out.push(c);
  }
  return '/' + out.join('/');
}

export function imageView(store: ImageStore, img: StoredImage, isOpaque?: (dir: string) => boolean): ImageView {
  const layers = img.layers.map((l) => store.layerDir(l.diffId));
  return {
    name: img.names[0] ?? img.digest,
    digest: img.digest,
    config: img.config.config ?? {},
    layers,
    readFile: (path) => readMerged(layers, path, isOpaque),
  };
}
