// `niwa plan SPEC`: load, validate and compile a spec, and print its launch plan.
import type { Verb } from './main.js';
import { parseArgs } from './args.js';
import { UserError } from '../errors.js';
import { loadChecked, pullFlag } from './spec.js';
import { compile } from '../plan/compile.js';
import { formatPlan } from '../plan/format.js';
import { genericHost, probeHost } from '../validate/host.js';

export const verb: Verb = {
  summary: 'print the launch plan a spec compiles to: every step, its syscall, the spec field it came from and why',
  usage: 'niwa plan SPEC [--json | --explain | --shell | --oci | --oci-bundle DIR] [--host this|generic] [--id ID] [--project NAME]\n\n  --json            the plan as JSON data\n  --explain         each step with why, its man page and what to look at to see its effect\n  --shell           an equivalent bash script (unshare, mount, pivot_root, capsh, prlimit)\n  --oci             an OCI runtime-spec config.json for runc/crun (notes on stderr)\n  --oci-bundle DIR  write DIR/config.json (and DIR/rootfs for the default root): cd DIR && runc run NAME\n  --host generic    plan for a generic cgroup-v2 host instead of probing this one\n  --id, --project   names used for the cgroup (default: the spec name, project "default")\n  --pull WHEN       missing (default), always or never: an image the spec names is pulled to read its config',
  async run(argv) {
    const a = parseArgs(argv, { values: { host: '', id: '', project: '', 'oci-bundle': '', pull: '' }, booleans: { json: '', color: '', explain: '', shell: '', oci: '' } }, 'plan');
    if (a.positionals.length !== 1) throw new UserError('E_USAGE', 'plan: expected exactly one SPEC file', [], 'usage: niwa plan SPEC [--json]');
    const host = a.flags.host === 'generic' ? genericHost() : probeHost();
    let build: string[] = [];
    const spec = await loadChecked(a.positionals[0], host, { pull: pullFlag(a.flags.pull), onBuildPlan: (l) => { build = l; } });
    const plan = compile(spec, host, { id: String(a.flags.id ?? spec.name), project: String(a.flags.project ?? 'default') });
    const ex = await import('./plan-export.js');
    if (ex.wantsExport(a.flags)) return ex.runExport(a.flags, spec, plan, host);
    if (a.flags.json) process.stdout.write(JSON.stringify(plan, null, 2) + '\n');
    else {
      if (build.length) process.stdout.write(`build (rootfs.provision, before the launch; each step cached as a layer):\n${build.map((l) => `  ${l}`).join('\n')}\n\n`);
      process.stdout.write(formatPlan(plan, { color: Boolean(a.flags.color) || (process.stdout.isTTY && !process.env.NO_COLOR) }));
    }
    return 0;
  },
};
