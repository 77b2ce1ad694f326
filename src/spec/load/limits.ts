// Reading the files a user hands niwa (specs, compose files, env files) with a size limit, so a
// huge or endless file (a 50 MB spec, /dev/zero) is a clear error instead of minutes of parsing.
import { closeSync, openSync, readSync } from 'node:fs';
import { UserError } from '../../errors.js';

/** Spec, compose and env files larger than this are refused (1 MiB). */
export const MAX_INPUT_BYTES = 1 << 20;

/**
 * The file's text; a UserError (code E_TOO_LARGE) when it is larger than `max`. Read errors are
 * thrown as they come (callers turn them into their own messages). `what`: "spec", "compose", "env".
 */
export function readLimited(file: string, what: string, max = MAX_INPUT_BYTES): string {
  const fd = openSync(file, 'r');
  try {
    const buf = Buffer.alloc(max + 1);
    let n = 0;
    for (let r; n < buf.length && (r = readSync(fd, buf, n, buf.length - n, null)) > 0;) n += r;
    if (n > max) {
      throw new UserError('E_TOO_LARGE', `${file}: the ${what} file is larger than ${max / (1 << 20)} MiB`, [], `niwa reads ${what} files of at most ${max} bytes; check that this is the file you meant`);
    }
    return buf.toString('utf8', 0, n);
  } finally {
    closeSync(fd);
  }
}

/** A NUL byte cannot be passed to the kernel in a path, an argument or an environment variable. */
export const NUL_MESSAGE = 'contains a NUL byte (\\0), which no path, argument or environment variable can hold';
