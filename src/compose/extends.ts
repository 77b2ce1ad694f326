// Compose phase 5, extends: a service with `extends: {service, file?}` starts from that service
// (in the same file, or in another file whose relative paths stay relative to that file) and is
// merged over it by the same rules as -f files. Chains are followed; a cycle is an error that
// names it: `a → b → a`.
import { dirname, relative, resolve } from 'node:path';
import type { ErrorDetail } from '../errors.js';
import { cloneLoc, copyLoc, detailAt } from './loc.js';
import { mergeService } from './merge.js';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Loads a compose file as far as normalisation (read, interpolate, schema, normalise); cached by the caller. */
export type FileLoader = (file: string) => Promise<Obj>;

export class ExtendsResolver {
  private done = new Map<string, Obj | undefined>();
  constructor(private load: FileLoader, private errors: ErrorDetail[], private cwd: string) {}

  /** Every service of `file` with its extends resolved (a copy; services that fail are left as written). */
  async resolveFile(file: string, data: Obj): Promise<Obj> {
    if (!isObj(data.services)) return data;
    const out = cloneLoc(data);
    const services = out.services as Obj;
    for (const name of Object.keys(services)) {
      if (!isObj(services[name]) || !(services[name] as Obj).extends) continue;
      const r = await this.service(file, name, [], data);
      if (r) { services[name] = r; copyLoc(data.services, name, services); }
    }
    return out;
  }

  private label(file: string, name: string, from: string): string {
    return file === from ? name : `${relative(this.cwd, file) || file}:${name}`;
  }

  private async service(file: string, name: string, chain: { file: string; name: string }[], data?: Obj): Promise<Obj | undefined> {
    const key = `${file}\0${name}`;
    const first = chain[0]?.file ?? file;
    const at = chain.findIndex((c) => c.file === file && c.name === name);
    if (at >= 0) {
      const cycle = [...chain.slice(at), { file, name }].map((c) => this.label(c.file, c.name, first)).join(' → ');
      const origin = chain[at];
      const d = await this.load(origin.file);
      this.errors.push(detailAt(d, ['services', origin.name, 'extends'], `extends cycle: ${cycle}`, 'a service cannot extend itself, directly or through others', origin.file));
      return undefined;
    }
    if (this.done.has(key)) return this.done.get(key);
    const fileData = data ?? (await this.load(file));
    const svc = isObj(fileData.services) ? (fileData.services as Obj)[name] : undefined;
    if (!isObj(svc)) return undefined; // the caller reports the missing service
    const ext = svc.extends as { service?: string; file?: string } | undefined;
    let result: Obj | undefined = svc;
    if (ext) {
      const target = ext.file ? resolve(dirname(file), ext.file) : file;
      let targetData: Obj | undefined;
      try {
        targetData = target === file ? fileData : await this.load(target);
      } catch (e) {
        this.errors.push(detailAt(fileData, ['services', name, 'extends', 'file'], `cannot load ${target} for extends: ${(e as Error).message}`, undefined, file));
        result = undefined;
      }
      if (targetData) {
        const baseSvc = isObj(targetData.services) ? (targetData.services as Obj)[String(ext.service)] : undefined;
        if (!isObj(baseSvc)) {
          const known = isObj(targetData.services) ? Object.keys(targetData.services).join(', ') : 'none';
          this.errors.push(detailAt(fileData, ['services', name, 'extends', 'service'], `extends service '${ext.service}', which ${target === file ? 'this file' : target} does not define`, `services there: ${known}`, file));
          result = undefined;
        } else {
          const base = await this.service(target, String(ext.service), [...chain, { file, name }], targetData);
          if (!base) result = undefined;
          else {
            const local = cloneLoc(svc);
            delete local.extends;
            result = mergeService(base, local);
          }
        }
      }
    }
    this.done.set(key, result);
    return result;
  }
}
