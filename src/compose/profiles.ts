// Compose phase 7, profiles: a service without `profiles:` is always on; one with profiles is on
// when one of them is enabled (--profile, or COMPOSE_PROFILES=a,b; `*` enables all). Services
// named explicitly (e.g. `compose up debug`) are on too, with the services they depend on. An
// enabled service that depends (required) on a disabled one is an error naming the profiles that
// would enable it; a non-required dependency is dropped with a warning.
import type { ErrorDetail } from '../errors.js';
import { detailAt } from './loc.js';
import type { ComposeService } from './model.js';

/** The enabled profiles: --profile flags, else COMPOSE_PROFILES (comma-separated). */
export function activeProfiles(flags: string[] | undefined, env: Record<string, string | undefined>): string[] {
  if (flags?.length) return [...new Set(flags.flatMap((f) => f.split(',')).map((s) => s.trim()).filter(Boolean))];
  return [...new Set((env.COMPOSE_PROFILES ?? '').split(',').map((s) => s.trim()).filter(Boolean))];
}

export function isEnabled(svc: ComposeService, profiles: string[]): boolean {
  const own = svc.profiles ?? [];
  if (!own.length) return true;
  return profiles.includes('*') || own.some((p) => profiles.includes(p));
}

/**
 * Split services into enabled and disabled. `root` locates messages. `explicit`: services named
 * on the command line, enabled whatever their profiles, with their dependencies.
 */
export function applyProfiles(
  services: Record<string, ComposeService>,
  profiles: string[],
  root: unknown,
  out: { errors: ErrorDetail[]; warnings: ErrorDetail[] },
  explicit: string[] = [],
): { enabled: Record<string, ComposeService>; disabled: Record<string, ComposeService> } {
  const on = new Set(Object.keys(services).filter((n) => isEnabled(services[n], profiles)));
  // explicitly named services pull in what they depend on
  const stack = explicit.filter((n) => services[n]);
  while (stack.length) {
    const n = stack.pop()!;
    if (on.has(n) && !explicit.includes(n)) continue;
    on.add(n);
    for (const d of Object.keys(services[n].depends_on ?? {})) if (services[d] && !on.has(d)) stack.push(d);
  }
  const enabled: Record<string, ComposeService> = {};
  const disabled: Record<string, ComposeService> = {};
  for (const [n, s] of Object.entries(services)) (on.has(n) ? enabled : disabled)[n] = s;
  for (const [n, s] of Object.entries(enabled)) {
    for (const [dep, cfg] of Object.entries(s.depends_on ?? {})) {
      if (!disabled[dep]) continue;
      const need = (disabled[dep].profiles ?? []).join(', ');
      if (cfg.required === false) {
        out.warnings.push(detailAt(root, ['services', n, 'depends_on', dep], `depends on '${dep}', which is disabled by profiles (${need}); not required, so ignored`));
        delete s.depends_on![dep];
      } else {
        out.errors.push(detailAt(root, ['services', n, 'depends_on', dep], `service '${dep}' is required by '${n}' but is disabled; it is enabled by the profile${need.includes(',') ? 's' : ''} ${need}`, `enable it with --profile ${(disabled[dep].profiles ?? [])[0]} (or COMPOSE_PROFILES), or add the profile to '${n}' too`));
      }
    }
  }
  return { enabled, disabled };
}
