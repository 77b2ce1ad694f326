// The strictly typed face of the spec model for TypeScript authors: capability, signal and syscall
// names as string-literal unions (src/spec/names-generated.ts), so `CAP_NET_RAWW` is a compile
// error in an editor or under `tsc --noEmit`. The package entry (src/index.ts) exports these in
// place of the looser internal types of src/spec/types.ts, which the loader, compose and the image
// layer keep using (they build specs from strings and validate at run time with the schema).
import type * as T from './types.js';
import type { CapabilityBase, SignalBase, SyscallName } from './names-generated.js';

export type { CapabilityBase, SignalBase, SyscallName } from './names-generated.js';

/** CAP_NET_RAW, NET_RAW or net_raw; ALL (or all) means every capability. */
export type CapabilityName = `CAP_${CapabilityBase}` | CapabilityBase | Lowercase<CapabilityBase> | 'ALL' | 'all';

/** SIGTERM, TERM or a signal number as a string ("15"). */
export type SignalName = `SIG${SignalBase}` | SignalBase | `${number}`;

/** The internal shapes with every capability list typed (homomorphic: field docs and `?` kept). */
export type CapabilitySets = { [K in keyof T.CapabilitySets]: CapabilityName[] };
export type CapabilitiesSpec = { [K in keyof T.CapabilitiesSpec]: K extends 'sets' ? CapabilitySets : CapabilityName[] };

export interface SeccompRule extends Omit<T.SeccompRule, 'names'> {
  /** System call names (syscalls(2)), e.g. ['mkdir', 'mkdirat']. */
  names: SyscallName[];
}
export interface SeccompProfile extends Omit<T.SeccompProfile, 'syscalls'> {
  syscalls?: SeccompRule[];
}
export type SeccompSpec = 'default' | 'unconfined' | SeccompProfile;

/** ContainerSpec with the typed names; every value of it is a valid internal ContainerSpec. */
export interface ContainerSpec extends Omit<T.ContainerSpec, 'capabilities' | 'seccomp' | 'stop_signal'> {
  capabilities?: CapabilitiesSpec;
  seccomp?: SeccompSpec;
  /** Signal `niwa stop` sends first (default SIGTERM). */
  stop_signal?: SignalName;
}
