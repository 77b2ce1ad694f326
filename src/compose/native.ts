// niwa's own multi-container form, so every primitive stays reachable from a project: a
// `services:` map whose values are niwa container specs (name defaults to the key), in YAML or
// as `export default defineCompose({ services: { ... } })` in TypeScript. Next to the container
// fields a service may carry the compose-level keys (depends_on, networks, ports, expose,
// extra_hosts, labels, dns, dns_search, profiles, container_name); the rest is the ContainerSpec.
import type { ContainerSpec } from '../spec/types.js';
import { specKeepingCalls } from '../spec/define.js';
import { copyLoc, selfLoc, setSelfLoc } from './loc.js';
import type { ComposeDependsOn, ComposePort, ComposeServiceNetwork } from './model.js';

/** Compose-level keys a native service may have beside its container fields. */
export const NATIVE_COMPOSE_KEYS = ['depends_on', 'networks', 'ports', 'expose', 'extra_hosts', 'labels', 'dns', 'dns_search', 'profiles', 'container_name', 'scale', 'stdin_open'] as const;

export type NativeService = Omit<ContainerSpec, 'name'> & {
  /** Defaults to the key in `services`. */
  name?: string;
  depends_on?: string[] | Record<string, Partial<ComposeDependsOn>>;
  networks?: string[] | Record<string, ComposeServiceNetwork | null>;
  ports?: (string | number | ComposePort)[];
  expose?: (string | number)[];
  extra_hosts?: string[] | Record<string, string | string[]>;
  labels?: string[] | Record<string, string>;
  dns?: string | string[];
  dns_search?: string | string[];
  profiles?: string[];
  container_name?: string;
};

export interface NativeCompose {
  name?: string;
  services: Record<string, NativeService | { toSpec(): ContainerSpec }>;
  networks?: Record<string, Record<string, unknown> | null>;
  volumes?: Record<string, Record<string, unknown> | null>;
}

/** A niwa multi-container project, typed (the TS counterpart of a YAML `services:` map of container specs). */
export function defineCompose(project: NativeCompose): NativeCompose {
  // Builders (container('db')…) become their plain specs here: the loader clones the tree, which a
  // builder's methods would not survive.
  const services = Object.fromEntries(Object.entries(project.services ?? {}).map(([k, v]) =>
    [k, v && typeof (v as { toSpec?: unknown }).toSpec === 'function' ? specKeepingCalls(v as { toSpec(): ContainerSpec }) : v]));
  return { ...project, services };
}

/** A file is in the native form when one of its services has the container field `process`. */
export function isNativeFile(data: unknown): boolean {
  const services = (data as { services?: unknown })?.services;
  if (!services || typeof services !== 'object') return false;
  return Object.values(services).some((s) => s !== null && typeof s === 'object' && ('process' in s || typeof (s as { toSpec?: unknown }).toSpec === 'function'));
}

/** Split a native service into its container spec (name defaulted) and its compose-level keys. */
export function splitNative(key: string, svc: unknown): { container: Record<string, unknown>; compose: Record<string, unknown> } {
  const plain = svc && typeof svc === 'object' && typeof (svc as { toSpec?: unknown }).toSpec === 'function' ? (svc as { toSpec(): unknown }).toSpec() : svc;
  const container: Record<string, unknown> = {};
  const compose: Record<string, unknown> = {};
  for (const [k, v] of Object.entries((plain ?? {}) as Record<string, unknown>)) {
    const to = (NATIVE_COMPOSE_KEYS as readonly string[]).includes(k) || k.startsWith('x-') ? compose : container;
    to[k] = v;
    copyLoc(plain, k, to);
  }
  setSelfLoc(container, selfLoc(plain));
  setSelfLoc(compose, selfLoc(plain));
  container.name ??= key;
  return { container, compose };
}
