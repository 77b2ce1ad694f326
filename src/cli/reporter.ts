// Plain reporter for foreground runs: warnings and failures to stderr; with --verbose every step.
import type { EventSink } from '../events/types.js';
import type { LaunchPlan } from '../plan/types.js';
import { describeCall } from '../plan/format.js';

export function plainReporter(opts: { verbose: boolean; plan: LaunchPlan; out?: NodeJS.WritableStream }): EventSink {
  const out = opts.out ?? process.stderr;
  return (e) => {
    if (e.type === 'warning') out.write(`niwa: warning: ${e.message}\n`);
    else if (e.type === 'cleanup' && e.failed.length) out.write(`niwa: cleanup left: ${e.failed.join('; ')}\n`);
    else if (opts.verbose) {
      if (e.type === 'step') out.write(`niwa: [${e.index}] ${describeCall(opts.plan.steps[e.index])} ${e.ok ? 'ok' : 'FAILED ' + e.error}\n`);
      else if (e.type === 'started') out.write(`niwa: started pid ${e.pid} in ${e.ms.toFixed(1)} ms\n`);
      else if (e.type === 'exited') out.write(`niwa: exited ${e.signal !== null ? 'by signal ' + e.signal : 'with code ' + e.code}${e.oomKilled ? ' (OOM-killed)' : ''}\n`);
    }
  };
}
