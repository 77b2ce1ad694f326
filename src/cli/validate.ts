// `niwa validate SPEC...`: load and check each spec (schema, cross-field rules, this host's
// cgroup controllers) and print `ok: FILE` or every problem. Exit 0 when all are valid, else 2.
import { securityWarnings } from '../validate/warnings.js';
import type { Verb } from './main.js';
import { parseArgs } from './args.js';
import { formatError, UserError } from '../errors.js';
import { validateSpec } from '../validate/spec.js';

/** Cgroup controllers of this host, or undefined when they cannot be probed (then not checked). */
async function hostControllers(): Promise<string[] | undefined> {
  try {
    const { probeHost } = await import('../validate/host.js');
    const cg = probeHost().cgroup;
    return [...new Set([...cg.v2Controllers, ...Object.keys(cg.v1)])];
  } catch {
    return undefined;
  }
}

export const verb: Verb = {
  summary: 'check specs and report every problem in them (file:line:col, field, what was expected, a hint)',
  usage: 'niwa validate SPEC... [--json] [--no-host]\n\n  --json      results as JSON: [{file, ok, errors: [{file, line, col, field, message, hint}]}]\n  --no-host   do not check the spec against this host (cgroup controllers)',
  async run(argv) {
    const a = parseArgs(argv, { booleans: { json: '', 'no-host': '' } }, 'validate');
    if (!a.positionals.length) throw new UserError('E_USAGE', 'validate: expected at least one SPEC file', [], 'usage: niwa validate SPEC... [--json]');
    const controllers = a.flags['no-host'] ? undefined : await hostControllers();
    const results = [];
    for (const file of a.positionals) {
      const r = await validateSpec(file, { hostCgroupControllers: controllers, ...(a.flags['no-host'] ? {} : (await import('../validate/host.js')).hostCpuFacts()) });
      results.push({ file, ok: r.ok, errors: r.ok ? [] : r.details, message: r.ok ? undefined : r.error.message, warnings: r.ok ? securityWarnings(r.spec) : [] });
      if (a.flags.json) continue;
      if (r.ok) {
        process.stdout.write(`ok: ${file}\n`);
        for (const w of securityWarnings(r.spec)) process.stderr.write(`niwa: warning: ${file}: ${w}\n`);
      }
      else process.stderr.write(formatError(r.error) + '\n');
    }
    if (a.flags.json) process.stdout.write(JSON.stringify(results, null, 2) + '\n');
    return results.every((r) => r.ok) ? 0 : 2;
  },
};
