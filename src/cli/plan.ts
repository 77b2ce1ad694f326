// `niwa plan [OPTIONS] [SPEC | IMAGE]`: load, validate and compile a spec (with niwa run's options
// over it), and print its launch plan.
import type { Verb } from './main.js';
import { parseArgs } from './args.js';
import { UserError } from '../errors.js';
import { RUN_OPTIONS_USAGE, overridesOf, runArgSpec, runSource } from './run-flags.js';
import { loadChecked, pullFlag } from './spec.js';
import { compile } from '../plan/compile.js';
import { formatPlan } from '../plan/format.js';
import { genericHost, probeHost } from '../validate/host.js';
import type { LaunchPlan } from '../plan/types.js';
import { netFactsFor } from '../runtime/net/facts.js';

export const verb: Verb = {
  summary: 'print the launch plan a spec compiles to: every step, its syscall, the spec field it came from and why',
  usage: 'niwa plan [OPTIONS] [SPEC | IMAGE] [-- CMD...] [--json | --explain | --shell | --oci | --oci-bundle DIR] [--host this|generic] [--id ID] [--project NAME]\n\n  --json            the plan as JSON data\n  --explain         each step with why, its man page and what to look at to see its effect\n  --shell           an equivalent bash script (unshare, mount, pivot_root, capsh, prlimit)\n  --oci             an OCI runtime-spec config.json for runc/crun (notes on stderr)\n  --oci-bundle DIR  write DIR/config.json (and DIR/rootfs for the default root): cd DIR && runc run NAME\n  --host generic    plan for a generic cgroup-v2 host instead of probing this one\n  --id, --project   names used for the cgroup (default: the spec name, project "default")\n  --pull WHEN       missing (default), always or never: an image the spec names is pulled to read its config\n  --only FIELD      just the steps of one spec field and the fields below it (e.g. cgroup.memory, namespaces,\n                    capabilities; a comma list for several); with the listing, --json or --explain\n\n' + RUN_OPTIONS_USAGE.replace(/^.*\n/, 'The options of niwa run, so you can see what each one changes:\n'),
  async run(argv) {
    const a = parseArgs(argv, runArgSpec({ host: '', id: '', project: '', 'oci-bundle': '', only: '' }, { json: '', color: '', explain: '', shell: '', oci: '', detach: 'd' }), 'plan');
    const source = runSource(a, 'plan');
    const host = a.flags.host === 'generic' ? genericHost() : probeHost();
    let build: string[] = [];
    const spec = await loadChecked(source.kind === 'file' ? source.file : { inline: source.spec }, host, { pull: pullFlag(a.flags.pull), overrides: overridesOf(a, 'plan'), onBuildPlan: (l) => { build = l; } });
    const full = compile(spec, host, { id: String(a.flags.id ?? spec.name), project: String(a.flags.project ?? 'default'), ...netFactsFor(spec, host.stateRoot) });
    const plan = a.flags.only === undefined ? full : onlyFields(full, String(a.flags.only), a.flags);
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

/** `--only FIELD[,FIELD]`: the plan with just the steps whose spec field is FIELD or lies below it
 *  (`cgroup` takes cgroup.memory too, not cgroup_x); step numbers stay those of the whole plan. */
function onlyFields(plan: LaunchPlan, list: string, flags: Record<string, unknown>): LaunchPlan {
  if (flags.shell || flags.oci || flags['oci-bundle']) throw new UserError('E_USAGE', 'plan: --only goes with the listing, --json or --explain', [], 'a script or OCI config needs every step');
  const wanted = list.split(',').map((f) => f.trim()).filter(Boolean);
  const under = (f: string) => plan.steps.filter((s) => s.field === f || s.field.startsWith(`${f}.`));
  // A field with no steps of its own (namespaces.uts) takes the steps made for its nearest ancestor as a
  // whole (the one clone of `namespaces`), not those of its siblings (namespaces.mount).
  const stepsOf = (f: string) => {
    if (under(f).length) return under(f);
    for (let p = f; p.includes('.');) {
      p = p.slice(0, p.lastIndexOf('.'));
      const own = plan.steps.filter((s) => s.field === p);
      if (own.length) return own;
    }
    return [];
  };
  const picked = new Set(wanted.flatMap(stepsOf));
  const steps = plan.steps.filter((s) => picked.has(s));
  if (!wanted.length || !steps.length) {
    const fields = [...new Set(plan.steps.map((s) => s.field.split('.')[0]).filter(Boolean))].sort();
    throw new UserError('E_USAGE', `plan: no step comes from spec field '${list}'`, [], `fields with steps in this plan: ${fields.join(', ')}`);
  }
  return { ...plan, steps };
}
