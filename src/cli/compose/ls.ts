// `niwa compose ls [-a] [--format table|json] [-q]`: the compose projects under the state root,
// from their recorded containers (no compose file needed): NAME, STATUS (`running(2), exited(1)`),
// CONFIG FILES. Without -a only projects with a running (or paused) container, as docker compose ls.
import { UserError } from '../../errors.js';
import { table } from '../target.js';
import type { Run } from './project.js';

export const ls: Run = async (a) => {
  const format = String(a.flags.format ?? 'table');
  if (format !== 'table' && format !== 'json') throw new UserError('E_USAGE', `compose ls: unknown --format '${format}'`, [], 'use --format table or --format json');
  const [{ defaultStateRoot }, { detectCgroupLayout }, { listComposeProjects }] = await Promise.all([
    import('../../validate/host.js'), import('../../runtime/cgroup/detect.js'), import('../../compose/project-state.js'),
  ]);
  const filter = a.positionals[0];
  const rows = listComposeProjects(defaultStateRoot(), detectCgroupLayout())
    .filter((p) => (a.flags.all || p.running) && (!filter || p.name.includes(filter)));
  if (a.flags.quiet) { for (const p of rows) process.stdout.write(p.name + '\n'); return 0; }
  if (format === 'json') {
    process.stdout.write(JSON.stringify(rows.map((p) => ({ Name: p.name, Status: p.status, ConfigFiles: p.configFiles.join(',') })), null, 2) + '\n');
    return 0;
  }
  process.stdout.write(table([['NAME', 'STATUS', 'CONFIG FILES'], ...rows.map((p) => [p.name, p.status, p.configFiles.join(',') || '-'])]));
  return 0;
};
