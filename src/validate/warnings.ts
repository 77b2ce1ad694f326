// Settings that are valid but take the container's isolation away, each worth one line from
// `validate`, `plan` and `run`: the course uses them on purpose (the chroot escape, a shared pid
// namespace), so a spec can say it means it with the annotation `niwa.intended` listing them:
//   annotations: {niwa.intended: "chroot, host-pid"}
import type { CanonicalSpec, NamespaceKind } from '../spec/types.js';

/** The annotation that marks the loosenings below as intended (comma- or space-separated ids). */
export const INTENDED_ANNOTATION = 'niwa.intended';

/** A namespace shared with the host: not created, or joined through a host process's /proc/PID/ns. */
function hostNamespace(spec: CanonicalSpec, kind: NamespaceKind): boolean {
  const ns = spec.namespaces[kind];
  return ns === undefined || (ns.mode === 'join' && /^\/proc\/(1|self|thread-self)\/ns\//.test(ns.path));
}

const RULES: { id: string; applies: (s: CanonicalSpec) => boolean; message: string }[] = [
  { id: 'chroot', applies: (s) => s.root === 'chroot',
    message: 'root: chroot — a process with CAP_SYS_CHROOT can leave the root (the classic chroot escape); use pivot_root unless this is a demonstration' },
  { id: 'host-pid', applies: (s) => hostNamespace(s, 'pid'),
    message: "the container shares the host's pid namespace: it sees every host process and can signal those of its user" },
  { id: 'host-net', applies: (s) => hostNamespace(s, 'net'),
    message: "the container shares the host's network namespace: it can reach every host service and bind host ports" },
];

/** One line per loosening the spec does not mark as intended. */
export function securityWarnings(spec: CanonicalSpec): string[] {
  const intended = new Set((spec.annotations?.[INTENDED_ANNOTATION] ?? '').split(/[\s,]+/).filter(Boolean));
  return RULES.filter((r) => r.applies(spec) && !intended.has(r.id))
    .map((r) => `${r.message} (if intended, add annotations: {${INTENDED_ANNOTATION}: ${r.id}})`);
}
