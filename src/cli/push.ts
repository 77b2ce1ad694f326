// `niwa push NAME [DEST]`: upload an image from the store to a registry (NAME's own, or DEST's,
// which then also names the image in the store, as `docker tag` + `docker push` would).
import type { Verb } from './main.js';
import { parseArgs } from './args.js';
import { UserError } from '../errors.js';

export const verb: Verb = {
  summary: 'upload an image from the store to a registry',
  usage: 'niwa push [-q] NAME [DEST]\n\n  NAME   an image in the store (name, name@digest or digest)\n  DEST   registry/repository:tag to push to (default NAME); credentials as for pull (niwa login)',
  async run(argv) {
    const a = parseArgs(argv, { booleans: { quiet: 'q' } }, 'push');
    if (a.positionals.length < 1 || a.positionals.length > 2) throw new UserError('E_USAGE', 'push: expected NAME [DEST]', [], 'usage: niwa push NAME [DEST]');
    const [{ store: openStore, findImage }, { pushImage }, { canonicalName }] = await Promise.all([import('./image.js'), import('../image/push.js'), import('../image/archive.js')]);
    const s = await openStore();
    const found = await findImage(s, a.positionals[0]);
    if (!found) throw new UserError('E_IMAGE_NOT_PRESENT', `no image ${a.positionals[0]} in the store`, [], 'see `niwa images`; build one with `niwa build -t NAME` or pull it');
    const dest = a.positionals[1] ?? found.name ?? a.positionals[0];
    if (a.positionals[1]) s.tag(canonicalName(dest), found.image.digest);
    const say = (l: string) => { if (!a.flags.quiet) process.stderr.write(l + '\n'); };
    const r = await pushImage(found.image, dest, {
      store: s,
      onEvent: (e) => {
        if (e.type === 'blob' && e.state !== 'uploading') say(`${e.digest.slice(7, 19)}: ${e.state === 'exists' ? 'already in the registry' : `pushed (${e.size} bytes)`}`);
        if (e.type === 'done') say(`pushed ${e.ref} ${e.digest} (${e.uploadedBytes} bytes uploaded, ${(e.ms / 1000).toFixed(2)}s)`);
      },
    });
    process.stdout.write(r.digest + '\n');
    return 0;
  },
};
