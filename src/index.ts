// The package entry (`import { defineContainer } from 'niwa'`): the spec DSL and its types, kept
// lean because every .container.ts spec imports it.
export { defineContainer, container, ContainerBuilder } from './spec/define.js';
export type * from './spec/types.js';
// The typed names (capability, signal, syscall unions) shadow the looser types of the same names above.
export type {
  ContainerSpec, CapabilitiesSpec, CapabilitySets, CapabilityName, SeccompRule, SeccompProfile, SeccompSpec,
  SignalName, SyscallName, CapabilityBase, SignalBase,
} from './spec/typed.js';
export { NAMESPACE_KINDS, HOOK_POINTS } from './spec/types.js';
export { defineCompose } from './compose/native.js';
export type { NativeCompose, NativeService } from './compose/native.js';
