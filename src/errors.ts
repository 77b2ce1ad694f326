// Error types: every error niwa shows has a stable code, a message, a hint and maybe a cause.
// UserError = the user's input is wrong (exit 2); RuntimeFailure = the host refused (exit 1).

export interface ErrorDetail {
  /** Spec file path (absolute or as given). */
  file?: string;
  line?: number;
  col?: number;
  /** Dotted path in the spec, e.g. process.args or mounts.1.source */
  field?: string;
  message: string;
  hint?: string;
}

export class NiwaError extends Error {
  readonly code: string;
  readonly hint?: string;
  readonly exitCode: number;
  constructor(code: string, message: string, opts: { hint?: string; cause?: unknown; exitCode?: number } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.code = code;
    this.hint = opts.hint;
    this.exitCode = opts.exitCode ?? 1;
  }
}

/** Bad input: the spec or the command line. Exit code 2. Carries every problem found. */
export class UserError extends NiwaError {
  readonly details: ErrorDetail[];
  /** Warnings found before the input was refused (often the cause: an unset variable); printed first. */
  warnings: ErrorDetail[] = [];
  constructor(code: string, message: string, details: ErrorDetail[] = [], hint?: string) {
    super(code, message, { hint, exitCode: 2 });
    this.details = details;
  }
}

/** The host refused something at run time. Exit code 1. */
export class RuntimeFailure extends NiwaError {
  readonly field?: string;
  /** A failed launch step: its call and errno name (e.g. execve, ENOENT), for Docker's exit codes. */
  readonly op?: string;
  readonly errno?: string;
  constructor(code: string, message: string, opts: { hint?: string; cause?: unknown; field?: string; op?: string; errno?: string } = {}) {
    super(code, message, { ...opts, exitCode: 1 });
    this.field = opts.field;
    this.op = opts.op;
    this.errno = opts.errno;
  }
}

/**
 * Docker's exit codes for niwa's own failures, in verbs that otherwise pass a container's status
 * through (run, exec, compose run, start -a): 127 the command was not found, 126 it cannot be
 * executed, 125 anything else niwa failed at (usage, invalid spec, setup).
 */
export function passThroughExitCode(e: unknown): number {
  if (e instanceof RuntimeFailure && e.op === 'execve') {
    if (e.errno === 'ENOENT' || e.errno === 'ENOTDIR') return 127;
    if (e.errno === 'EACCES' || e.errno === 'ENOEXEC' || e.errno === 'EPERM' || e.errno === 'EISDIR') return 126;
  }
  return 125;
}

/** One detail as `file:line:col: field: message (hint: ...)`. */
export function formatDetail(d: ErrorDetail): string {
  const where = d.file ? `${d.file}${d.line ? `:${d.line}:${d.col ?? 1}` : ''}: ` : '';
  const field = d.field ? `${d.field}: ` : '';
  return `${where}${field}${d.message}${d.hint ? `\n    hint: ${d.hint}` : ''}`;
}

export function formatError(e: unknown): string {
  if (e instanceof UserError) {
    const lines = [...e.warnings.map((w) => `warning: ${formatDetail(w)}`), `niwa: ${e.message}`, ...e.details.map((d) => '  ' + formatDetail(d))];
    if (e.hint) lines.push(`  hint: ${e.hint}`);
    return lines.join('\n');
  }
  if (e instanceof NiwaError) return `niwa: ${e.message}${e.hint ? `\n  hint: ${e.hint}` : ''}`;
  const err = e as Error;
  return `niwa: internal error (a bug, please report it): ${err?.stack ?? String(e)}`;
}
