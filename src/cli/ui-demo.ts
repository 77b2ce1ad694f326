// `niwa __ui-demo`: a scripted project (no containers) shown through the same progress front ends as
// `compose up`: the live view on a TTY, plain lines or JSON otherwise. For the tmux test and bench/ui.mjs.
import type { Verb } from './main.js';
import { parseArgs } from './args.js';
import { UserError } from '../errors.js';
import { createDemo } from '../ui/demo.js';
import { progressMode, loadLiveView } from '../ui/progress.js';

export const verb: Verb = {
  summary: 'show the live view on a scripted project (for tests and benchmarks)',
  usage: 'niwa __ui-demo [--services N] [--speed X] [--duration S] [--grace S] [--progress auto|tty|plain|json] [--json]\n\n'
    + '  --services N   services in the scripted project (default 6)\n'
    + '  --speed X      run the script X times faster (default 1)\n'
    + '  --duration S   stop everything after S seconds (default: run until q / Ctrl-C)\n'
    + '  --grace S      a graceful stop takes S seconds (default about half a second)',
  async run(argv) {
    const a = parseArgs(argv, { values: { services: '', speed: '', duration: '', progress: '', grace: '' }, booleans: { json: '' } }, '__ui-demo');
    const num = (k: string, d: number) => {
      const v = a.flags[k] === undefined ? d : Number(a.flags[k]);
      if (!Number.isFinite(v) || v <= 0) throw new UserError('E_USAGE', `__ui-demo: --${k} must be a positive number`);
      return v;
    };
    const demo = createDemo({ services: Math.floor(num('services', 6)), speed: num('speed', 1), graceMs: a.flags.grace === undefined ? undefined : num('grace', 1) * 1000 });
    const duration = a.flags.duration === undefined ? undefined : num('duration', 1);
    const mode = progressMode({ progress: a.flags.progress as string | undefined, json: Boolean(a.flags.json), stdoutIsTTY: Boolean(process.stdout.isTTY) });

    if (mode === 'tty') {
      const { startLiveView } = await loadLiveView();
      const view = startLiveView(demo.source, demo.controls, { stats: demo.stats, title: `niwa __ui-demo — ${demo.services.length} services` });
      demo.start();
      // A timed end shows the same "stopping" state that q does, then closes once everything is down.
      const t = duration === undefined ? undefined : setTimeout(() => {
        view.dispatch({ type: 'ui:action', action: { type: 'stopAll', force: false } });
        void demo.controls.stopAll(false).then(() => view.close());
      }, duration * 1000);
      await view.waitUntilExit();
      if (t) clearTimeout(t);
      demo.dispose();
      return 0;
    }

    const { timestampedReporter } = await import('../ui/plain.js');
    const { jsonReporter } = await import('../ui/json.js');
    const sink = mode === 'json' ? jsonReporter() : timestampedReporter();
    const unsub = demo.source.subscribe(sink);
    demo.start();
    // Ctrl-C stops everything; a second Ctrl-C forces. Done when a stop-all has settled.
    let stops = 0;
    let done!: () => void;
    const finished = new Promise<void>((r) => { done = r; });
    const stopAll = () => { stops++; void demo.controls.stopAll(stops > 1).then(done); };
    const onSigint = () => { if (stops < 2) stopAll(); };
    process.on('SIGINT', onSigint);
    const t = duration === undefined ? undefined : setTimeout(() => { if (!stops) stopAll(); }, duration * 1000);
    await finished;
    if (t) clearTimeout(t);
    process.off('SIGINT', onSigint);
    unsub();
    demo.dispose();
    return 0;
  },
};
