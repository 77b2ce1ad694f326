// The commented starter specs `niwa init` writes (YAML and TypeScript), same content in both.

export function yamlStarter(name: string, schemaRef: string): string {
  return `# yaml-language-server: $schema=${schemaRef}
# A niwa container spec. Check it: niwa validate <file>; see every step: niwa plan <file>;
# run it: niwa run <file>. Every field is optional except name and process.args.
name: ${name}

# Root file system. Omitted: a read-only view of the host's /usr, /bin, /lib*, /etc on a
# fresh tmpfs, so this runs with nothing downloaded. Or a directory: rootfs: ./rootfs
# rootfs: ./rootfs

# How to switch root: pivot_root (default, the old root is unmounted) or chroot.
root: pivot_root

# Namespaces to create (default: [mount, uts, ipc, pid, net]); add user, cgroup or time.
namespaces: [mount, uts, ipc, pid, net]

hostname: ${name}

process:
  args: [/bin/sh, -c, 'echo hello from $(hostname); id']
  env: {GREETING: hello}
  cwd: /
  # user: nobody             # a name from the rootfs's /etc/passwd, or a uid

# Resource limits (sizes like 64M or 1.5G; cpus as a fraction of CPUs).
cgroup:
  memory: 64M
  pids: 64
  cpus: 0.5

# Capabilities: Docker's default 14 unless changed. drop/add take CAP_X, X or x.
capabilities:
  drop: [NET_RAW]

# Extra mounts, in order. Bind sources are relative to this file.
mounts:
  - {type: tmpfs, target: /tmp, size: 16M, mode: '1777'}
  # - {type: bind, source: ./data, target: /data, readonly: true}

# Secure defaults, shown so you can see them: no_new_privs on, the built-in seccomp profile.
no_new_privs: true
seccomp: default

# rlimits: {nofile: 1024}
# hooks: {before_start: 'echo starting'}
# A veth on niwa's bridge and a published port (niwa run -p 8080:80); name: PROJECT_NETWORK joins a compose project's.
# network: {ports: ['8080:80']}
`;
}

export function tsStarter(name: string): string {
  return `// A niwa container spec. Check it: niwa validate <file>; see every step: niwa plan <file>;
// run it: niwa run <file>. Every field is optional except name and process.args.
// Types: capability, signal and syscall names are checked (a misspelled CAP_NET_RAWW is an error
// in your editor and under \`npx tsc\`); tsconfig.json (niwa init writes one if there is none)
// points TypeScript at niwa's types. niwa itself resolves 'niwa' when it loads this file.
import type { ContainerSpec } from 'niwa';

export default {
  name: ${JSON.stringify(name)},
  // Root file system. Omitted: a read-only view of the host's /usr, /bin, /lib*, /etc on a
  // fresh tmpfs, so this runs with nothing downloaded. Or a directory: rootfs: './rootfs'.
  // How to switch root: pivot_root (default, the old root is unmounted) or chroot.
  root: 'pivot_root',
  // Namespaces to create (default: mount, uts, ipc, pid, net); add user, cgroup or time.
  namespaces: ['mount', 'uts', 'ipc', 'pid', 'net'],
  hostname: ${JSON.stringify(name)},
  process: {
    args: ['/bin/sh', '-c', 'echo hello from $(hostname); id'],
    env: { GREETING: 'hello' },
    cwd: '/',
    // user: 'nobody',        // a name from the rootfs's /etc/passwd, or a uid
  },
  // Resource limits (sizes like '64M' or '1.5G'; cpus as a fraction of CPUs).
  cgroup: { memory: '64M', pids: 64, cpus: 0.5 },
  // Capabilities: Docker's default 14 unless changed. drop/add take CAP_X, X or x.
  capabilities: { drop: ['NET_RAW'] },
  // Extra mounts, in order. Bind sources are relative to this file.
  mounts: [
    { type: 'tmpfs', target: '/tmp', size: '16M', mode: '1777' },
    // { type: 'bind', source: './data', target: '/data', readonly: true },
  ],
  // Secure defaults, shown so you can see them: no_new_privs on, the built-in seccomp profile.
  no_new_privs: true,
  seccomp: 'default',
  // rlimits: { nofile: 1024 },
  // hooks: { before_start: (ctx) => console.log('starting', ctx.name) },
} satisfies ContainerSpec;
`;
}

/** tsconfig.json for a directory of TS specs: plain settings, and `niwa` mapped to this niwa's types
 *  (`typesPath`, its dist/src/index.d.ts) so tsc and editors need no `npm install` there. */
export function tsconfigStarter(typesPath: string): string {
  return `{
  // Written by \`niwa init --ts\`: type-checks the specs here (\`npx tsc\` or your editor).
  "compilerOptions": {
    "target": "ES2022",
    "module": "NodeNext",
    "moduleResolution": "NodeNext",
    "strict": true,
    "noEmit": true,
    "skipLibCheck": true,
    // Where this niwa's types are; remove it once niwa is in node_modules (npm link niwa).
    "paths": { "niwa": [${JSON.stringify(typesPath)}] }
  },
  "include": ["*.ts"]
}
`;
}
