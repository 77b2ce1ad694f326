// The one rule for names niwa puts into host paths (state dirs, cgroups, network resources):
// container names, spec names and projects. Docker's charset, `[a-zA-Z0-9][a-zA-Z0-9_.-]*`, at most
// 63 characters (it also names a cgroup directory and appears in interface hashes). `.` and `..`
// cannot match (they start with a dot), nor can anything with `/` or NUL.
import { UserError } from '../errors.js';

export const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;
export const NAME_HINT = "use letters, digits, '_', '.' and '-', starting with a letter or digit, at most 63 characters";

/** `name` if it follows the rule; else a UserError saying which name (`what`, e.g. "project name (--project)") was wrong. */
export function checkName(name: string, what: string, where?: string): string {
  if (typeof name === 'string' && NAME_RE.test(name)) return name;
  const shown = JSON.stringify(String(name)).slice(0, 80);
  throw new UserError('E_NAME', `${where ? `${where}: ` : ''}invalid ${what} ${shown}`, [], NAME_HINT);
}
