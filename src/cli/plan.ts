// `niwa plan [OPTIONS] [SPEC | IMAGE]`: load, validate and compile a spec (with niwa run's options
// over it), and print its launch plan.
import type { Verb } from './main.js';
import { parseArgs } from './args.js';
import { RUN_OPTIONS_USAGE, overridesOf, runArgSpec, runSource } from './run-flags.js';
import { loadChecked, pullFlag } from './spec.js';
import { compile } from '../plan/compile.js';
import { formatPlan } from '../plan/format.js';
import { genericHost, probeHost } from '../validate/host.js';

export const verb: Verb = {
  summary: 'print the launch plan a spec compiles to: every step, its syscall, the spec field it came from and why',
  usage: 'niwa plan [OPTIONS] [SPEC | IMAGE] [-- CMD...] [--json | --explain | --shell | --oci | --oci-bundle DIR] [--host this|generic] [--id ID] [--project NAME]\n\n  --json            the plan as JSON data\n  --explain         each step with why, its man page and what to look at to see its effect\n  --shell           an equivalent bash script (unshare, mount, pivot_root, capsh, prlimit)\n  --oci             an OCI runtime-spec config.json for runc/crun (notes on stderr)\n  --oci-bundle DIR  write DIR/config.json (and DIR/rootfs for the default root): cd DIR && runc run NAME\n  --host generic    plan for a generic cgroup-v2 host instead of probing this one\n  --id, --project   names used for the cgroup (default: the spec name, project "default")\n  --pull WHEN       missing (default), always or never: an image the spec names is pulled to read its config\n\n' + RUN_OPTIONS_USAGE.replace(/^.*\n/, 'The options of niwa run, so you can see what each one changes:\n'),
  async run(argv) {
    const a = parseArgs(argv, runArgSpec({ host: '', id: '', project: '', 'oci-bundle': '' }, { json: '', color: '', explain: '', shell: '', oci: '', detach: 'd' }), 'plan');
    const source = runSource(a, 'plan');
    const host = a.flags.host === 'generic' ? genericHost() : probeHost();
    const spec = await loadChecked(source.kind === 'file' ? source.file : { inline: source.spec }, host, { pull: pullFlag(a.flags.pull), overrides: overridesOf(a, 'plan') });
    const plan = compile(spec, host, { id: String(a.flags.id ?? spec.name), project: String(a.flags.project ?? 'default') });
    const ex = await import('./plan-export.js');
    if (ex.wantsExport(a.flags)) return ex.runExport(a.flags, spec, plan, host);
    if (a.flags.json) process.stdout.write(JSON.stringify(plan, null, 2) + '\n');
    else process.stdout.write(formatPlan(plan, { color: Boolean(a.flags.color) || (process.stdout.isTTY && !process.env.NO_COLOR) }));
    return 0;
  },
};
