// Image references: parse and print `name[:tag][@digest]` as the distribution reference grammar
// and Docker's normalisation define them (busybox = docker.io/library/busybox:latest).
//
// Grammar (github.com/distribution/reference):
//   reference        := name [ ":" tag ] [ "@" digest ]
//   name             := [domain '/'] remote-name
//   domain           := host [':' port-number]
//   host             := domain-name | IPv4address | '[' IPv6address ']'
//   domain-component := /([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])/
//   remote-name      := path-component ['/' path-component]*
//   path-component   := alpha-numeric [separator alpha-numeric]*
//   alpha-numeric    := /[a-z0-9]+/
//   separator        := /[_.]|__|[-]*/
//   tag              := /[\w][\w.-]{0,127}/
//   digest           := algorithm ':' hex   (niwa accepts sha256 with 64 lowercase hex digits only)
// Docker's normalisation: the first component is a domain only when it contains '.' or ':', or is
// `localhost`, or has an uppercase letter; otherwise the domain is docker.io, and a one-component
// docker.io path gets `library/`. index.docker.io and registry-1.docker.io are docker.io.
import { UserError } from '../errors.js';
import { isDigest, type ImageRef } from './types.js';

export const DEFAULT_REGISTRY = 'docker.io';
/** Where docker.io's API actually answers. */
export const DOCKER_HUB_API_HOST = 'registry-1.docker.io';
const DOCKER_HUB_ALIASES = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io']);

const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN_RE = new RegExp(`^(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[a-fA-F0-9:]+\\])(?::[0-9]+)?$`);
const PATH_COMPONENT_RE = /^[a-z0-9]+(?:(?:[_.]|__|-+)[a-z0-9]+)*$/;
const TAG_RE = /^[\w][\w.-]{0,127}$/;
const ANY_DIGEST_RE = /^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-zA-Z=_-]{32,}$/;
const NAME_MAX = 255;

function refused(s: string, why: string, hint?: string): UserError {
  return new UserError('E_IMAGE_REF', `invalid image reference '${s}': ${why}`, [], hint ?? 'a reference is [HOST[:PORT]/]PATH[:TAG][@sha256:HEX], e.g. busybox, ghcr.io/owner/name:1.0, localhost:5000/app@sha256:…');
}

/** Canonical registry host: docker.io for Docker Hub's aliases, otherwise as given. */
export function normalizeRegistry(host: string): string {
  return DOCKER_HUB_ALIASES.has(host.toLowerCase()) ? DEFAULT_REGISTRY : host;
}

/** The host the API is reached at (registry-1.docker.io for docker.io). */
export function apiHost(registry: string): string {
  return normalizeRegistry(registry) === DEFAULT_REGISTRY ? DOCKER_HUB_API_HOST : registry;
}

/** Parse and normalise a reference. Throws UserError (E_IMAGE_REF) with a hint when it is not one. */
export function parseRef(input: string): ImageRef {
  const s = input.trim();
  if (!s) throw refused(input, 'it is empty');
  if (/\s/.test(s)) throw refused(input, 'it contains white space');
  let rest = s;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!isDigest(digest)) {
      if (digest.startsWith('sha256:')) throw refused(input, `unsupported digest '${digest}'`, 'a sha256 digest has exactly 64 lowercase hex digits');
      if (ANY_DIGEST_RE.test(digest)) throw refused(input, `unsupported digest '${digest}'`, 'niwa accepts sha256 digests only');
      throw refused(input, `'${digest}' is not a digest`, 'a digest is sha256: followed by 64 lowercase hex digits');
    }
  }
  if (!rest) throw refused(input, 'the name is missing');
  // A tag is after the last ':' that follows the last '/' (a ':' before it is the registry's port).
  let tag: string | undefined;
  const lastColon = rest.lastIndexOf(':');
  if (lastColon > rest.lastIndexOf('/') && lastColon >= 0) {
    tag = rest.slice(lastColon + 1);
    rest = rest.slice(0, lastColon);
    if (!TAG_RE.test(tag)) throw refused(input, `invalid tag '${tag}'`, 'a tag is up to 128 letters, digits, _ . - (not starting with . or -)');
  }
  if (!rest) throw refused(input, 'the name is missing');
  if (/^[a-f0-9]{64}$/.test(rest) && tag === undefined && digest === undefined) {
    throw refused(input, 'a 64-hex-digit string is an image ID, not a name', `use sha256:${rest} to name an image by digest`);
  }
  const slash = rest.indexOf('/');
  let registry = DEFAULT_REGISTRY;
  let path = rest;
  if (slash >= 0) {
    const first = rest.slice(0, slash);
    if (/[.:]/.test(first) || first === 'localhost' || first.toLowerCase() !== first) {
      registry = first;
      path = rest.slice(slash + 1);
    }
  }
  if (!DOMAIN_RE.test(registry)) throw refused(input, `invalid registry host '${registry}'`);
  registry = normalizeRegistry(registry);
  if (!path) throw refused(input, 'the repository path is missing');
  const components = path.split('/');
  for (const c of components) {
    if (!c) throw refused(input, `empty path component in '${path}'`);
    if (!PATH_COMPONENT_RE.test(c)) {
      if (c.toLowerCase() !== c && PATH_COMPONENT_RE.test(c.toLowerCase())) {
        throw refused(input, 'repository name must be lowercase', `try '${input.replace(path, path.toLowerCase())}'`);
      }
      throw refused(input, `invalid path component '${c}'`, 'path components are lowercase letters and digits, separated by . _ __ or dashes');
    }
  }
  if (registry === DEFAULT_REGISTRY && components.length === 1) path = `library/${path}`;
  const nameLen = registry.length + 1 + path.length;
  if (nameLen > NAME_MAX) throw refused(input, `the name is ${nameLen} characters long (at most ${NAME_MAX})`);
  if (tag === undefined && digest === undefined) tag = 'latest';
  const ref: ImageRef = { registry, repository: path };
  if (tag !== undefined) ref.tag = tag;
  if (digest !== undefined) ref.digest = digest;
  return ref;
}

/** registry/repository[:tag][@digest], fully qualified (docker.io/library/busybox:latest). */
export function formatRef(ref: ImageRef): string {
  return `${ref.registry}/${ref.repository}${ref.tag !== undefined ? `:${ref.tag}` : ''}${ref.digest ? `@${ref.digest}` : ''}`;
}

/** registry/repository without tag or digest. */
export function repoName(ref: ImageRef): string {
  return `${ref.registry}/${ref.repository}`;
}

/** The short form people type: busybox:latest, ghcr.io/o/n:1, localhost:5000/x@sha256:… */
export function familiarName(ref: ImageRef): string {
  let name = `${ref.registry}/${ref.repository}`;
  if (ref.registry === DEFAULT_REGISTRY) {
    name = ref.repository.startsWith('library/') && ref.repository.split('/').length === 2 ? ref.repository.slice('library/'.length) : ref.repository;
  }
  return `${name}${ref.tag !== undefined ? `:${ref.tag}` : ''}${ref.digest ? `@${ref.digest}` : ''}`;
}

/** familiarName of a canonical string (as stored), or the string itself when it does not parse. */
export function familiarString(canonical: string): string {
  try { return familiarName(parseRef(canonical)); } catch { return canonical; }
}
