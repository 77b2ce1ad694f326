// The host's image platform (OCI os/architecture/variant names) and choosing an index entry for it.
import type { Descriptor, Platform } from './types.js';

const ARCH: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64', loong64: 'loong64', mips: 'mips', mipsel: 'mipsle' };

/** The platform images must be built for to run here, in OCI terms (Node's x64 is OCI's amd64). */
export function hostPlatform(): Platform {
  const architecture = ARCH[process.arch] ?? process.arch;
  if (architecture === 'arm64') return { os: 'linux', architecture, variant: 'v8' };
  if (architecture === 'arm') {
    const v = (process.config.variables as { arm_version?: string }).arm_version;
    return { os: 'linux', architecture, variant: v ? `v${v}` : 'v7' };
  }
  return { os: 'linux', architecture };
}

/** True when an image for `p` runs on `host` (arm64's variant may be left out, as registries often do). */
export function platformMatches(p: Platform | undefined, host: Platform = hostPlatform()): boolean {
  if (!p || p.os !== host.os || p.architecture !== host.architecture) return false;
  if (!p.variant || !host.variant) return true;
  return p.variant === host.variant;
}

export function formatPlatform(p: Platform): string {
  return `${p.os}/${p.architecture}${p.variant ? '/' + p.variant : ''}`;
}

/** The index entry for the host (an exact variant preferred), or undefined; attestation manifests (unknown/unknown) never match. */
export function pickManifest(manifests: Descriptor[], host: Platform = hostPlatform()): Descriptor | undefined {
  const fits = manifests.filter((m) => platformMatches(m.platform, host));
  return fits.find((m) => m.platform?.variant === host.variant) ?? fits[0];
}
