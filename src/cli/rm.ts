// `niwa rm [-f] NAME...`: remove ended containers (-f: kill running ones first). Every host
// resource goes (cgroups, mounts, network, processes) and the state directory; works without a
// supervisor too, from the plan's cleanup steps in plan.json.
import type { Verb } from './main.js';
import { parseArgs } from './args.js';
import { TARGET_FLAGS, TARGET_USAGE, eachContainer } from './target.js';
import { containerDir, pruneProject } from '../runtime/state.js';
import { check, tryRequest } from '../runtime/supervisor/client.js';
import { detectCgroupLayout } from '../runtime/cgroup/detect.js';

const USAGE = 'niwa rm [-f|--force] NAME...';

export const verb: Verb = {
  summary: 'remove containers and everything they left on the host (-f: kill them first)',
  usage: `${USAGE}\n\n${TARGET_USAGE}`,
  async run(argv) {
    const a = parseArgs(argv, { values: { ...TARGET_FLAGS }, booleans: { force: 'f' } }, 'rm');
    const force = Boolean(a.flags.force);
    return eachContainer(a.positionals, a.flags, 'rm', USAGE, async (t, name) => {
      const dir = containerDir(t.root, t.project, name);
      const r = await tryRequest(t, { op: 'rm', name, force });
      if (r) check(r);
      else {
        const { removeUnsupervised } = await import('../runtime/supervisor/remove.js');
        const failed = await removeUnsupervised(dir, detectCgroupLayout(), force);
        if (failed.length) process.stderr.write(`niwa: rm ${name}: cleanup left: ${failed.join('; ')}\n`);
      }
      process.stdout.write(name + '\n');
      pruneProject(t.root, t.project);
    }, { unfinished: true }); // a record a full disk or a kill left half-made is removable too
  },
};
