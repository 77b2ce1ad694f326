// The host's image platform (OCI os/architecture/variant names: Node's x64 is amd64, an arm variant
// from /proc/cpuinfo) and choosing an index or manifest-list entry for a platform.
import { readFileSync } from 'node:fs';
import { RuntimeFailure, UserError } from '../errors.js';
import type { Descriptor, ImageIndex, Platform } from './types.js';

const ARCH: Record<string, string> = {
  x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64', mips64el: 'mips64le', loong64: 'loong64',
};

/** `CPU architecture: 7` in /proc/cpuinfo → v7 (arm only). */
export function armVariant(cpuinfo: string): string | undefined {
  const m = /^CPU architecture\s*:\s*(\d+)/m.exec(cpuinfo);
  if (!m) return undefined;
  const n = Number(m[1]);
  if (n >= 8) return 'v8';
  if (n >= 5) return `v${n}`;
  return undefined;
}

export function hostPlatform(arch: string = process.arch, cpuinfo?: () => string): Platform {
  const architecture = ARCH[arch] ?? arch;
  const p: Platform = { os: 'linux', architecture };
  if (architecture === 'arm64') p.variant = 'v8';
  if (architecture === 'arm') {
    let text = '';
    try { text = cpuinfo ? cpuinfo() : readFileSync('/proc/cpuinfo', 'utf8'); } catch { /* unknown */ }
    const v = armVariant(text);
    // A 32-bit process on an ARMv8 CPU runs v7 code.
    if (v) p.variant = v === 'v8' ? 'v7' : v;
  }
  return p;
}

/** linux/arm64/v8 → a Platform; throws UserError on anything else. */
export function parsePlatform(s: string): Platform {
  const parts = s.split('/');
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => !/^[a-z0-9._-]+$/i.test(p))) {
    throw new UserError('E_USAGE', `invalid platform '${s}'`, [], 'a platform is OS/ARCH[/VARIANT], e.g. linux/amd64 or linux/arm/v7');
  }
  const p: Platform = { os: parts[0].toLowerCase(), architecture: ARCH[parts[1]] ?? parts[1].toLowerCase() };
  if (parts[2]) p.variant = parts[2].toLowerCase();
  if (p.architecture === 'arm64' && !p.variant) p.variant = 'v8';
  return p;
}

export function formatPlatform(p: Partial<Platform> | undefined): string {
  if (!p) return 'unknown';
  return [p.os ?? '?', p.architecture ?? '?', p.variant].filter(Boolean).join('/');
}

/** Variants a platform can run, best first (arm v7 runs v6 and v5 code; arm64 v8 is the default). */
function acceptableVariants(p: Platform): (string | undefined)[] {
  if (p.architecture === 'arm64') return p.variant && p.variant !== 'v8' ? [p.variant, 'v8', undefined] : ['v8', undefined];
  if (p.architecture === 'arm') {
    const n = Number((p.variant ?? 'v7').slice(1)) || 7;
    const vs: (string | undefined)[] = [];
    for (let i = n; i >= 5; i--) vs.push(`v${i}`);
    vs.push(undefined);
    return vs;
  }
  return p.variant ? [p.variant, undefined] : [undefined];
}

/** True when an image for `p` runs on `host` (arm64's variant may be left out, as registries often do). */
export function platformMatches(p: Platform | undefined, host: Platform = hostPlatform()): boolean {
  if (!p || p.os !== host.os || p.architecture !== host.architecture) return false;
  return acceptableVariants(host).includes(p.variant || undefined) || !host.variant;
}

/** The index entry for the host (an exact variant preferred, then the best compatible one), or undefined; attestation manifests (unknown/unknown) never match. */
export function pickManifest(manifests: Descriptor[], host: Platform = hostPlatform()): Descriptor | undefined {
  const same = manifests.filter((d) => d.platform && d.platform.os === host.os && d.platform.architecture === host.architecture);
  for (const v of acceptableVariants(host)) {
    const hit = same.find((d) => (d.platform!.variant || undefined) === v);
    if (hit) return hit;
  }
  return !host.variant ? same[0] : undefined;
}

/**
 * The manifest of an index for a platform: same os and architecture, the exact variant when there
 * is one, else the best compatible one. Throws a RuntimeFailure listing what the index offers.
 */
export function selectManifest(index: ImageIndex, want: Platform, what: string): Descriptor {
  const usable = index.manifests.filter((d) => d.platform && d.platform.os !== 'unknown' && d.platform.architecture !== 'unknown');
  const hit = pickManifest(usable, want);
  if (hit) return hit;
  const available = [...new Set(usable.map((d) => formatPlatform(d.platform)))];
  throw new RuntimeFailure('E_IMAGE_PLATFORM', `${what} has no image for ${formatPlatform(want)}; it offers ${available.length ? available.join(', ') : 'no platform at all'}`, {
    hint: available.length ? `pick one with --platform (e.g. --platform ${available[0]}), or use an image built for ${formatPlatform(want)}` : undefined,
  });
}
