// Dockerfile text → a list of instructions as data (pure). Parsing is done by `dockerfile-ast` (the
// parser of VS Code's Docker language server: maintained, gives each instruction's line and column,
// flags, properties and parser directives); this file only turns its nodes into niwa's own shape
// and refuses, with file:line:col and a hint, what niwa cannot do (never skipping it silently).
import { DockerfileParser, type Instruction } from 'dockerfile-ast';
import { UserError, type ErrorDetail } from '../errors.js';

export type Keyword =
  | 'FROM' | 'RUN' | 'COPY' | 'ADD' | 'ENV' | 'ARG' | 'WORKDIR' | 'USER' | 'LABEL' | 'EXPOSE' | 'VOLUME'
  | 'ENTRYPOINT' | 'CMD' | 'HEALTHCHECK' | 'STOPSIGNAL' | 'SHELL' | 'MAINTAINER';

/** One instruction as written (nothing expanded yet: that needs the build's variables). */
export interface DockerInstruction {
  keyword: Keyword;
  /** 1-based line and column of the keyword. */
  line: number;
  col: number;
  /** The arguments after the flags, continuation lines joined, as the parser gives them. */
  args: string;
  /** Whitespace-separated words of `args` (quotes kept), for FROM, EXPOSE, VOLUME … */
  words: string[];
  /** `--name=value` flags (`--name` alone is 'true'). */
  flags: Record<string, string>;
  /** `args` in JSON (exec) form, when it is a JSON array of strings. */
  json?: string[];
  /** KEY=VALUE pairs (ENV, LABEL, ARG), quotes removed. */
  props?: [string, string | undefined][];
  /** The whole instruction as written on one line (for messages and build output). */
  text: string;
}

/** Flags each keyword accepts (others are refused with a hint). */
const FLAGS: Partial<Record<Keyword, string[]>> = {
  FROM: ['platform'],
  COPY: ['from', 'chown', 'chmod', 'link', 'parents', 'exclude'],
  ADD: ['chown', 'chmod', 'link', 'checksum', 'keep-git-dir', 'exclude'],
  RUN: ['network', 'mount', 'security'],
  HEALTHCHECK: ['interval', 'timeout', 'start-period', 'start-interval', 'retries'],
};

const KNOWN = new Set<string>(['FROM', 'RUN', 'COPY', 'ADD', 'ENV', 'ARG', 'WORKDIR', 'USER', 'LABEL', 'EXPOSE', 'VOLUME', 'ENTRYPOINT', 'CMD', 'HEALTHCHECK', 'STOPSIGNAL', 'SHELL', 'MAINTAINER']);

function jsonArray(s: string): string[] | undefined {
  const t = s.trim();
  if (!t.startsWith('[')) return undefined;
  try {
    const v = JSON.parse(t) as unknown;
    return Array.isArray(v) && v.every((x) => typeof x === 'string') ? v : undefined;
  } catch {
    return undefined; // Docker too runs a malformed JSON array as a shell command
  }
}

function flagsOf(i: Instruction): Record<string, string> {
  const get = (i as unknown as { getFlags?: () => { getName(): string; getValue(): string | null }[] }).getFlags;
  const out: Record<string, string> = {};
  for (const f of get ? get.call(i) : []) out[f.getName()] = f.getValue() ?? 'true';
  return out;
}

function propsOf(i: Instruction): [string, string | undefined][] | undefined {
  const get = (i as unknown as { getProperties?: () => { getName(): string; getValue(): string | null }[] }).getProperties;
  return get ? get.call(i).map((p) => [p.getName(), p.getValue() ?? undefined]) : undefined;
}

/**
 * Parses a Dockerfile. Every problem is collected and thrown at once as a UserError whose details
 * carry file:line:col (E_DOCKERFILE).
 */
export function parseDockerfile(text: string, file: string): DockerInstruction[] {
  const df = DockerfileParser.parse(text);
  const problems: ErrorDetail[] = [];
  const out: DockerInstruction[] = [];
  const at = (line: number, col: number, message: string, hint?: string) => problems.push({ file, line, col, message, ...(hint ? { hint } : {}) });
  for (const i of df.getInstructions()) {
    const r = i.getInstructionRange();
    const line = r.start.line + 1;
    const col = r.start.character + 1;
    const kw = i.getKeyword().toUpperCase();
    const args = (i.getArgumentsContent() ?? '').trim();
    const flags = flagsOf(i);
    const text = `${kw} ${Object.entries(flags).map(([k, v]) => `--${k}=${v} `).join('')}${args}`.trim();
    if (kw === 'ONBUILD') { at(line, col, 'ONBUILD is not supported by niwa build', 'run the triggered instructions in the Dockerfile that uses this image instead'); continue; }
    if (!KNOWN.has(kw)) { at(line, col, `unknown instruction ${kw}`, 'Dockerfile instructions are FROM, RUN, COPY, ADD, ENV, ARG, WORKDIR, USER, LABEL, EXPOSE, VOLUME, ENTRYPOINT, CMD, HEALTHCHECK, STOPSIGNAL, SHELL'); continue; }
    const keyword = kw as Keyword;
    for (const f of Object.keys(flags)) {
      if (!(FLAGS[keyword] ?? []).includes(f)) at(line, col, `${kw} does not take --${f}`, FLAGS[keyword] ? `${kw} takes ${FLAGS[keyword]!.map((x) => `--${x}`).join(', ')}` : `${kw} takes no flags`);
    }
    if (keyword === 'RUN' && flags.mount) at(line, col, `RUN --mount=${flags.mount} is not supported by niwa build`, 'copy what the command needs into the image with COPY, or pass it with --build-arg; secrets and ssh agents cannot be mounted yet');
    if (keyword === 'RUN' && flags.security) at(line, col, 'RUN --security is not supported by niwa build', 'RUN steps run with the default capability set');
    if (keyword === 'RUN' && flags.network && !['default', 'host', 'none'].includes(flags.network)) at(line, col, `RUN --network=${flags.network}: niwa knows default, host and none`);
    if (keyword === 'COPY' && (flags.parents || flags.exclude)) at(line, col, `COPY --${flags.parents ? 'parents' : 'exclude'} is not supported by niwa build`);
    if (keyword === 'ADD' && (flags.checksum || flags['keep-git-dir'] || flags.exclude)) at(line, col, 'ADD --checksum, --keep-git-dir and --exclude are for remote sources, which niwa build does not fetch', 'download the file in a RUN step, or keep it in the build context');
    if (!args && keyword !== 'CMD' && keyword !== 'ENTRYPOINT') at(line, col, `${kw} needs arguments`);
    if (/<<-?["']?[A-Za-z_]/.test(args) && (keyword === 'RUN' || keyword === 'COPY' || keyword === 'ADD')) at(line, col, `${kw} with a here-document is not supported by niwa build`, 'write the script as a file in the build context and COPY it, or use RUN with && and line continuations');
    out.push({ keyword, line, col, args, words: i.getArguments().map((a) => a.getValue()), flags, json: jsonArray(args), props: propsOf(i), text });
  }
  if (!out.some((i) => i.keyword === 'FROM') && !problems.length) problems.push({ file, line: 1, col: 1, message: 'the Dockerfile has no FROM instruction', hint: 'start a stage with FROM IMAGE (or FROM scratch)' });
  const firstFrom = out.findIndex((i) => i.keyword === 'FROM');
  for (const i of out.slice(0, firstFrom < 0 ? 0 : firstFrom)) {
    if (i.keyword !== 'ARG') problems.push({ file, line: i.line, col: i.col, message: `${i.keyword} before the first FROM`, hint: 'only ARG may come before the first FROM' });
  }
  if (problems.length) throw new UserError('E_DOCKERFILE', `${file}: ${problems.length === 1 ? problems[0].message : `${problems.length} problems`}`, problems);
  return out;
}
