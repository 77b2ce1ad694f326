// Compose phase 9b, label files: each enabled service's `label_file:` entries (normalised to
// absolute paths; dotenv format, read in order, later files winning) become labels beneath the ones
// written under `labels:`, which win, as Compose resolves them. `label_file` is then gone from the
// model. A file that cannot be read is an error at its entry that names the path tried.
import type { ErrorDetail } from '../errors.js';
import { readDotenv } from './env.js';
import { copyLoc, detailAt, getLoc, selfLoc, setLoc, setSelfLoc } from './loc.js';
import type { ComposeService } from './model.js';

export function resolveLabelFiles(services: Record<string, ComposeService>, root: unknown, vars: Record<string, string>, errors: ErrorDetail[]): void {
  for (const [name, svc] of Object.entries(services)) {
    const files = svc.label_file;
    if (files === undefined) continue;
    const at = ['services', name, 'label_file'];
    const fromFiles: Record<string, string> = {};
    (Array.isArray(files) ? files : [files]).forEach((f, i) => {
      const r = readDotenv(String(f), (n) => fromFiles[n] ?? vars[n], false, 'label file');
      for (const e of r.errors) {
        errors.push(e.line ? e : detailAt(root, [...at, i], e.message, 'label_file paths are relative to the directory of the compose file that names them'));
      }
      for (const [k, v] of Object.entries(r.env)) fromFiles[k] = v ?? '';
    });
    const written = svc.labels ?? {};
    const labels: Record<string, string> = { ...fromFiles, ...written };
    for (const k of Object.keys(written)) copyLoc(written, k, labels);
    setSelfLoc(labels, selfLoc(written));
    const keyLoc = getLoc(svc, 'labels') ?? getLoc(svc, 'label_file');
    svc.labels = labels;
    setLoc(svc, 'labels', keyLoc);
    delete svc.label_file;
  }
}
