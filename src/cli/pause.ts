// `niwa pause NAME...` / `niwa unpause NAME...`: freeze or thaw every process of containers
// (cgroup freezer). Supervised containers through their supervisor; a foreground `niwa run`'s
// container directly through its cgroups (that process has no socket to ask).
import type { Verb } from './main.js';
import { parseArgs } from './args.js';
import { TARGET_FLAGS, TARGET_USAGE, eachContainer } from './target.js';
import { check, request } from '../runtime/supervisor/client.js';
import { containerDir, readState } from '../runtime/state.js';
import { createCgroupManager } from '../runtime/cgroup/manager.js';
import { detectCgroupLayout } from '../runtime/cgroup/detect.js';

export function freezerVerb(op: 'pause' | 'unpause', summary: string): Verb {
  const usage = `niwa ${op} NAME...`;
  return {
    summary,
    usage: `${usage}\n\n${TARGET_USAGE}`,
    async run(argv) {
      const a = parseArgs(argv, { values: { ...TARGET_FLAGS } }, op);
      return eachContainer(a.positionals, a.flags, op, usage, async (t, name) => {
        const st = readState(containerDir(t.root, t.project, name));
        if (st?.foreground) {
          const m = createCgroupManager(detectCgroupLayout(), st.cgroups);
          await (op === 'pause' ? m.freeze() : m.thaw());
        } else check(await request(t, { op, name }));
        process.stdout.write(name + '\n');
      });
    },
  };
}

export const verb = freezerVerb('pause', 'freeze every process of containers (cgroup freezer)');
