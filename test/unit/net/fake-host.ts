// A recording NetHost for unit tests: answers each run with the next scripted result (default
// success), and keeps the namespace mounts and host links that successful commands create.
import type { NetHost, RunResult } from '../../../src/runtime/net/exec.js';

export class FakeNetHost implements NetHost {
  runs: { file: string; args: string[]; input?: string }[] = [];
  mounted = new Set<string>();
  links = new Set<string>();
  log: string[] = [];
  constructor(private results: RunResult[] = []) {}
  async run(file: string, args: string[], input?: string): Promise<RunResult> {
    this.runs.push({ file, args, input });
    const r = this.results.shift() ?? { code: 0, stdout: '', stderr: '' };
    if (file === 'unshare' && r.code === 0) this.mounted.add(args[0].slice('--net='.length));
    if (file === 'ip' && r.code === 0) {
      for (const line of (input ?? '').split('\n')) {
        const w = line.split(' ');
        if (w[0] === 'link' && w[1] === 'add') this.links.add(w[2] === 'name' ? w[3] : w[2]);
        if (w[0] === 'link' && w[1] === 'del') this.links.delete(w[2]);
      }
    }
    return r;
  }
  isMounted(p: string) { return this.mounted.has(p); }
  touch(p: string) { this.log.push(`touch ${p}`); }
  async umount(p: string) { this.log.push(`umount ${p}`); this.mounted.delete(p); }
  unlink(p: string) { this.log.push(`unlink ${p}`); }
  linkExists(n: string) { return this.links.has(n); }
  /** The commands run, one string each (batch input appended). */
  commands(): string[] {
    return this.runs.map((r) => [r.file, ...r.args].join(' ') + (r.input ? ` <<${r.input.trim().replace(/\n/g, ' | ')}` : ''));
  }
}
