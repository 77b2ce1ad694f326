// The image config fills what a spec leaves out (pure): Entrypoint + Cmd, Env, WorkingDir, User,
// Healthcheck, StopSignal, Labels, Volumes, ExposedPorts — as Docker does, and recording which
// field came from where so `niwa plan` can say it.
import type { ContainerSpec, HealthcheckSpec, ProcessSpec } from '../spec/types.js';
import type { ImageRuntimeConfig } from './types.js';

/** An image as the loader sees it: its identity, its config, its layers and a reader for its files. */
export interface ImageView {
  /** Canonical name (docker.io/library/busybox:latest). */
  name: string;
  /** Manifest digest. */
  digest: string;
  config: ImageRuntimeConfig;
  /** Unpacked layer directories, bottom first. */
  layers: string[];
  /** A file of the image's merged root (top layer wins, whiteouts honoured), or undefined. */
  readFile(path: string): string | undefined;
}

export interface Applied {
  /** The spec with the image's defaults filled in (the input is not changed). */
  spec: ContainerSpec & { process: ProcessSpec };
  /** The image's Env as a base under env_files and process.env. */
  env: Record<string, string>;
  /** Field → what of the image config filled it. */
  fromImage: Record<string, string>;
  volumes: string[];
  exposedPorts: string[];
}

/** "K=V" list → object (a bare "K" is an empty value, as Docker keeps it). */
export function envList(list: string[] | undefined): Record<string, string> {
  const env: Record<string, string> = {};
  for (const e of list ?? []) {
    const i = e.indexOf('=');
    if (i > 0) env[e.slice(0, i)] = e.slice(i + 1);
    else if (i < 0 && e) env[e] = '';
  }
  return env;
}

const nsToDuration = (ns: number | undefined): string | undefined => (ns && ns > 0 ? `${Math.round(ns / 1e6)}ms` : undefined);

/** Docker's Healthcheck → the spec's; ["NONE"] (or no test) → none. */
export function imageHealthcheck(h: ImageRuntimeConfig['Healthcheck']): HealthcheckSpec | undefined {
  const t = h?.Test;
  if (!t || !t.length || t[0] === 'NONE') return undefined;
  let test: string[] | string;
  if (t[0] === 'CMD') test = t.slice(1);
  else if (t[0] === 'CMD-SHELL') test = t.slice(1).join(' ');
  else test = t; // an old form without the CMD marker: the argv itself
  if (Array.isArray(test) ? !test.length : !test) return undefined;
  const out: HealthcheckSpec = { test };
  const interval = nsToDuration(h?.Interval), timeout = nsToDuration(h?.Timeout), start = nsToDuration(h?.StartPeriod);
  if (interval) out.interval = interval;
  if (timeout) out.timeout = timeout;
  if (start) out.start_period = start;
  if (h?.Retries) out.retries = h.Retries;
  return out;
}

export function applyImageConfig(input: ContainerSpec, img: Pick<ImageView, 'config'>): Applied {
  const c = img.config ?? {};
  const p: ProcessSpec = { ...(input.process ?? {}) };
  const spec: ContainerSpec & { process: ProcessSpec } = { ...input, process: p };
  const fromImage: Record<string, string> = {};

  // Entrypoint + Cmd, as docker run and compose combine them: args replaces Cmd; entrypoint
  // replaces Entrypoint and drops Cmd (unless args is also given).
  const entry = p.entrypoint ?? c.Entrypoint ?? [];
  const cmd = p.args ?? (p.entrypoint !== undefined ? [] : c.Cmd ?? []);
  const argv = [...entry, ...cmd];
  if (p.args === undefined || p.entrypoint === undefined) {
    const parts: string[] = [];
    if (p.entrypoint === undefined && c.Entrypoint?.length) parts.push('Entrypoint');
    if (p.args === undefined && p.entrypoint === undefined && c.Cmd?.length) parts.push('Cmd');
    if (parts.length) fromImage['process.args'] = `image ${parts.join(' + ')}${p.args !== undefined ? ' + spec process.args' : ''}${p.entrypoint !== undefined ? ' (spec entrypoint)' : ''}`;
  }
  if (argv.length) p.args = argv;
  else delete p.args;
  delete p.entrypoint;

  if (p.cwd === undefined && c.WorkingDir) { p.cwd = c.WorkingDir; fromImage['process.cwd'] = 'image WorkingDir'; }
  if (p.user === undefined && c.User) {
    const [u, g] = c.User.split(':');
    const id = (x: string) => (/^[0-9]+$/.test(x) ? Number(x) : x);
    if (u) { p.user = id(u); fromImage['process.user'] = 'image User'; }
    if (g && p.group === undefined) { p.group = id(g); fromImage['process.group'] = 'image User'; }
  }
  const env = envList(c.Env);
  for (const k of Object.keys(env)) if (p.env?.[k] === undefined) fromImage[`process.env.${k}`] = 'image Env';

  if (spec.healthcheck === undefined) {
    const hc = imageHealthcheck(c.Healthcheck);
    if (hc) { spec.healthcheck = hc; fromImage.healthcheck = 'image Healthcheck'; }
  }
  if (spec.stop_signal === undefined && c.StopSignal) {
    const s = /^[0-9]+$/.test(c.StopSignal) ? undefined : c.StopSignal.toUpperCase();
    if (s) { spec.stop_signal = s; fromImage.stop_signal = 'image StopSignal'; }
  }
  if (c.Labels && Object.keys(c.Labels).length) {
    spec.annotations = { ...c.Labels, ...(input.annotations ?? {}) };
    fromImage.annotations = 'image Labels (spec annotations win)';
  }
  const targets = new Set((input.mounts ?? []).map((m) => m.target.replace(/\/+$/, '') || '/'));
  const volumes = Object.keys(c.Volumes ?? {}).map((v) => v.replace(/\/+$/, '') || '/').filter((v) => v.startsWith('/') && v !== '/' && !targets.has(v)).sort();
  const exposedPorts = Object.keys(c.ExposedPorts ?? {}).sort();
  return { spec, env, fromImage, volumes, exposedPorts };
}
