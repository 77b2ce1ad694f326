// `niwa up FILE` / `niwa down FILE`: Haconiwa's barn, several containers described in one file (a
// TypeScript `defineCompose({ services: { db: container('db')…, web: {…, depends_on: [db]} } })`,
// or any Compose file), brought up and down on the compose engine. Only the spelling is new:
// these are `niwa compose -f FILE up|down [OPTIONS]`.
import type { Verb } from './main.js';
import { UserError } from '../errors.js';

function barnVerb(sub: 'up' | 'down', summary: string, options: string): Verb {
  return {
    summary,
    usage: `niwa ${sub} FILE [OPTIONS]\n\n  The same as: niwa compose -f FILE ${sub} [OPTIONS] (${options}).\n  FILE: a .ts exporting defineCompose({ services: { NAME: container spec or builder, ... } }), or a Compose file.`,
    async run(argv) {
      const at = argv.findIndex((x) => !x.startsWith('-'));
      if (at < 0) throw new UserError('E_USAGE', `${sub}: expected the FILE that describes the containers`, [], `usage: niwa ${sub} FILE [OPTIONS]`);
      const { verb } = await import('./compose.js');
      return verb.run(['-f', argv[at], sub, ...argv.slice(0, at), ...argv.slice(at + 1)]);
    },
  };
}

export const upVerb = barnVerb('up', 'start several containers described in one file (a TS barn or a Compose file), in dependency order', 'see niwa compose up --help: -d, --wait, ...');
export const downVerb = barnVerb('down', 'stop and remove what niwa up FILE started', 'see niwa compose down --help: -v, -t SECS');
