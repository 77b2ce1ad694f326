// The one typed interface for every host-side system call TypeScript makes. The real one is
// in real.ts (node:fs, and koffi for calls Node lacks); fake.ts records calls for unit tests.

export interface Sys {
  mkdir(path: string, mode: number, recursive: boolean): void;
  rmdir(path: string): void;
  chmod(path: string, mode: number): void;
  /** Permission bits of a path (lstat), or undefined when it does not exist. */
  modeOf(path: string): number | undefined;
  writeFile(path: string, data: string): void;
  readFile(path: string): string;
  exists(path: string): boolean;
  /** kill(2); returns false when the process is already gone (ESRCH). */
  kill(pid: number, signal: NodeJS.Signals | number): boolean;
  /** mount(2) in the host mount namespace (overlay roots); koffi. */
  mount(source: string | null, target: string, fstype: string | null, flags: number, data: string | null): void;
  /** umount2(2); koffi. */
  umount2(target: string, flags: number): void;
  /** Remove a directory tree without following symlinks; already gone is fine. Refuses paths shallower than /a/b/c. */
  rmtree(path: string): void;
}

/** A failed system call: names the call, its argument and the errno, as crun does. */
export class SysError extends Error {
  constructor(readonly call: string, readonly arg: string, readonly errno: string, cause?: unknown) {
    super(`${call} \`${arg}\`: ${errno}`, cause === undefined ? undefined : { cause });
  }
}
