// Networking for compose projects (issue 6): what the compose orchestrator and the supervisor call.
//
//   createNetwork(ctx, project, network, {subnet?})        bridge nw-… + subnet lease (gateway .1)
//   attachContainer(ctx, {project, network, container, aliases})
//     → { netnsPath, address, hostsFile, steps, cleanup }   netns file + veth + address + routes + /etc/hosts
//   spec:  namespaces.net = { path: netnsPath }; mounts += hostsMount(hostsFile)
//   publishPorts(parsePort('8080:80'), address)             userspace TCP/UDP proxy (supervisor)
//   detachContainer / removeNetwork / removeProjectNetworks  `down`
export * from './attach.js';
export { hostsMount, hostsContent, hostsFor, writeInPlace } from './hosts.js';
export { parsePort, publishPorts, formatMapping, portOwner, PortInUseError, type PortMapping, type PortObject, type PortProxy, type Published } from './ports.js';
export { bridgeSteps, attachSteps, sandboxSteps, networkSteps, type AttachmentInfo, type BridgeInfo, type HostSteps } from '../../plan/steps/net.js';
export { runNetSteps, describeNetStep, isNetStep, NetStepError, realNetHost, type NetHost } from './exec.js';
export { bridgeName, vethName, netnsPath, hostsPath, isNiwaIfname } from './names.js';
export { DEFAULT_POOL, readHostRoutes, type LeaseDb, type Lease, type NetworkRecord } from './ipam.js';
