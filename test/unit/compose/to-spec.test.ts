import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { shellSplit, dockerSeccomp } from '../../../src/compose/to-spec.js';
import { projectToConfig } from '../../../src/compose/index.js';
import { formatDetail } from '../../../src/errors.js';
import { load, loadError, project } from './helpers.js';

const FULL = `
services:
  app:
    x-niwa-rootfs: ./root
    entrypoint: ["/bin/tini", "--"]
    command: server --port "8 0" 'x y'
    environment: [FROM_ENV, PLAIN=1]
    env_file: [app.env, {path: missing.env, required: false}]
    working_dir: /srv
    user: "1000:100"
    hostname: app-host
    read_only: true
    cap_add: [SYS_PTRACE]
    cap_drop: [NET_RAW]
    security_opt: ["no-new-privileges:false", "seccomp=profile.json"]
    ulimits: {nofile: {soft: 1024, hard: 2048}, nproc: 64}
    sysctls: {net.core.somaxconn: 1024}
    mem_limit: 128m
    mem_reservation: 64m
    cpus: 0.5
    pids_limit: 100
    init: true
    stop_signal: SIGINT
    stop_grace_period: 1m30s
    healthcheck: {test: "curl -f localhost", interval: 5s, timeout: 2s, retries: 4, start_period: 10s}
    restart: on-failure:3
    tmpfs: ["/run:size=8m,mode=1777", /tmp]
    volumes:
      - ./conf:/etc/app:ro
      - type: volume
        source: data
        target: /data
        volume: {subpath: sub}
      - type: tmpfs
        target: /cache
        tmpfs: {size: 1048576}
      - /anon
    networks:
      front: {aliases: [api]}
      back:
    ports: ["127.0.0.1:8080:80", {target: 443, published: "8443", protocol: tcp}]
    expose: ["9000-9001", "53/udp"]
    extra_hosts: ["db.local:10.0.0.2", "v6=::1"]
    labels: {com.example.tier: app}
    depends_on:
      db: {condition: service_healthy, restart: true}
      job: {condition: service_completed_successfully}
  db:
    command: [db]
    deploy:
      resources:
        limits: {cpus: "1.5", memory: 256M, pids: 50}
        reservations: {memory: 128M}
      restart_policy: {condition: on-failure, max_attempts: 2}
    networks: [back]
  job:
    command: [job]
    network_mode: none
  side:
    command: [side]
    network_mode: "service:db"
    pid: "service:db"
    ipc: host
  hostnet:
    command: [h]
    network_mode: host
networks:
  front: {}
  back: {name: custom-back}
volumes:
  data: {}
`;

test('every mapped key lands in the ContainerSpec and canonicalises', async () => {
  const dir = project({
    'compose.yaml': FULL,
    'app.env': 'FROM_FILE=file\nPLAIN=from-file\n',
    'profile.json': JSON.stringify({ defaultAction: 'SCMP_ACT_ERRNO', defaultErrnoRet: 1, syscalls: [{ names: ['read', 'write'], action: 'SCMP_ACT_ALLOW' }] }),
    'root/.keep': '', 'conf/.keep': '',
  });
  const r = await load(dir, { env: { FROM_ENV: 'shell' }, load: { hostRoot: '/', skipConsistency: false } });
  const app = r.services.get('app')!;
  const s = app.spec;
  assert.deepEqual(s.rootfs, { path: join(dir, 'root'), readonly: true });
  assert.deepEqual(s.process!.args!, ['/bin/tini', '--', 'server', '--port', '8 0', 'x y']);
  assert.deepEqual(s.process!.env, { FROM_FILE: 'file', PLAIN: '1', FROM_ENV: 'shell' });
  assert.equal(s.process!.cwd, '/srv');
  assert.equal(s.process!.user, 1000);
  assert.equal(s.process!.group, 100);
  assert.equal(s.process!.init, true);
  assert.equal(s.hostname, 'app-host');
  assert.deepEqual(s.capabilities, { add: ['SYS_PTRACE'], drop: ['NET_RAW'] });
  assert.equal(s.no_new_privs, false);
  assert.deepEqual(s.seccomp, { default_action: 'errno', default_errno: 1, syscalls: [{ names: ['read', 'write'], action: 'allow' }] });
  assert.deepEqual(s.rlimits, { nofile: { soft: 1024, hard: 2048 }, nproc: 64 });
  assert.deepEqual(s.sysctls, { 'net.core.somaxconn': '1024' });
  assert.deepEqual(s.cgroup, { memory: '128m', memory_reservation: '64m', cpus: 0.5, pids: 100 });
  assert.equal(s.stop_signal, 'SIGINT');
  assert.equal(s.stop_grace_period, '1m30s');
  assert.deepEqual(s.healthcheck, { test: 'curl -f localhost', interval: '5s', timeout: '2s', start_period: '10s', retries: 4 });
  assert.equal(s.restart, 'on-failure:3');
  const data = join(dir, '.data', 'volumes');
  assert.deepEqual(s.mounts, [
    { type: 'bind', source: join(dir, 'conf'), target: '/etc/app', readonly: true },
    { type: 'bind', source: join(data, 'proj_data', 'sub'), target: '/data' },
    { type: 'tmpfs', target: '/cache', size: 1048576 },
    { type: 'bind', source: s.mounts![3].type === 'bind' ? s.mounts![3].source : '', target: '/anon' },
    { type: 'tmpfs', target: '/run', size: '8m', mode: '1777' },
    { type: 'tmpfs', target: '/tmp' },
  ]);
  // the canonical spec: every container rule applied
  const c = app.canonical!;
  assert.ok(c, 'canonicalised');
  assert.equal(c.process.env.FROM_ENV, 'shell');
  assert.equal(c.lifecycle.stopTimeoutMs, 90_000);
  assert.deepEqual(c.lifecycle.healthcheck?.command, ['/bin/sh', '-c', 'curl -f localhost']);
  assert.deepEqual(c.lifecycle.restart, { policy: 'on-failure', maxRetries: 3 });
  assert.equal(c.cgroup.memory, 128 * 1024 * 1024);
  assert.ok(c.capabilities.bounding.includes('CAP_SYS_PTRACE') && !c.capabilities.bounding.includes('CAP_NET_RAW'));
  assert.equal(c.readonlyRoot, true);
  assert.equal(c.process.init, true);

  // compose-level extras
  const x = app.compose;
  assert.equal(x.containerName, 'proj-app-1');
  assert.deepEqual(x.dependsOn, [
    { service: 'db', condition: 'service_healthy', restart: true, required: true },
    { service: 'job', condition: 'service_completed_successfully', restart: false, required: true },
  ]);
  assert.deepEqual(x.networks, [{ name: 'front', fullName: 'proj_front', aliases: ['api'] }, { name: 'back', fullName: 'custom-back', aliases: [] }]);
  assert.deepEqual(x.ports, [{ target: 80, published: '8080', hostIp: '127.0.0.1', protocol: 'tcp' }, { target: 443, published: '8443', protocol: 'tcp' }]);
  assert.deepEqual(x.expose, [{ port: 9000, protocol: 'tcp' }, { port: 9001, protocol: 'tcp' }, { port: 53, protocol: 'udp' }]);
  assert.deepEqual(x.extraHosts, [{ host: 'db.local', ip: '10.0.0.2' }, { host: 'v6', ip: '::1' }]);
  assert.deepEqual(x.labels, { 'com.example.tier': 'app' });
  assert.deepEqual(x.volumes.map((v) => [v.name, v.fullName, v.target, v.anonymous]), [['data', 'proj_data', '/data', false], [x.volumes[1].name, `proj_${x.volumes[1].name}`, '/anon', true]]);
  assert.deepEqual(x.bindDirsToCreate, [join(dir, 'conf')]);

  // deploy.resources and restart_policy
  const db = r.services.get('db')!.spec;
  assert.deepEqual(db.cgroup, { memory: '256M', memory_reservation: '128M', cpus: 1.5, pids: 50 });
  assert.equal(db.restart, 'on-failure:2');
  // network modes
  assert.deepEqual(r.services.get('job')!.compose.networkMode, { kind: 'none' });
  assert.deepEqual(r.services.get('job')!.compose.networks, []);
  assert.equal(r.services.get('job')!.spec.namespaces, undefined, 'none: a new net namespace (the default set)');
  const side = r.services.get('side')!;
  assert.deepEqual(side.compose.networkMode, { kind: 'service', service: 'db' });
  assert.deepEqual(side.spec.namespaces, { mount: true, uts: true, pid: { container: 'db' }, net: { container: 'db' } });
  assert.deepEqual(r.services.get('hostnet')!.spec.namespaces, { mount: true, uts: true, ipc: true, pid: true });
  assert.deepEqual(r.plan.levels, [['db', 'hostnet', 'job'], ['app', 'side']]);
  assert.deepEqual(r.warnings, []);
});

test('unsupported keys: exactly one warning each, with its position', async () => {
  const dir = project({
    'compose.yaml': [
      'services:',
      '  web:',
      '    image: example/web:1',
      '    build: .',
      '    command: [serve]',
      '    logging: {driver: syslog}',
      "    device_cgroup_rules: ['c 1:3 r']",
      '    mac_address: 02:42:ac:11:00:02',
      '    storage_opt: {size: 1G}',
      '    privileged: true',
      '    security_opt: [apparmor=unconfined]',
      '    deploy: {replicas: 3, placement: {constraints: []}}',
      '    user: www-data',
    ].join('\n') + '\n',
  });
  const r = await load(dir);
  const lines = r.warnings.map((w) => `${w.line}:${w.col} ${w.field}: ${w.message}`);
  assert.deepEqual(lines, [
    "6:5 services.web.logging: logging: logging drivers are not supported; niwa keeps each container's output in its own log; ignored",
    '7:5 services.web.device_cgroup_rules: device_cgroup_rules: device cgroup rules are not supported; ignored',
    '8:5 services.web.mac_address: mac_address: mac_address is not supported; ignored',
    '9:5 services.web.storage_opt: storage_opt: storage_opt is not supported; ignored',
    '10:5 services.web.privileged: privileged: the container gets every capability, no seccomp filter, no masked or read-only /proc paths, and may gain privileges',
    "11:20 services.web.security_opt.0: security_opt 'apparmor=unconfined' is not supported; ignored",
    '12:27 services.web.deploy.placement: deploy.placement is for swarm orchestration; ignored',
  ]);
  const spec = r.services.get('web')!.spec;
  assert.deepEqual(spec.rootfs, { image: 'example/web:1', pull: 'never' }, 'build: makes the image; it is never pulled');
  assert.deepEqual([spec.process!.user, spec.process!.args], ['www-data', ['serve']], 'the user is looked up in the image');
  const c = r.services.get('web')!.canonical!;
  assert.equal(c.seccomp, null, 'privileged: unconfined');
  assert.equal(c.noNewPrivs, false);
  assert.ok(c.capabilities.bounding.length > 30, 'privileged: every capability');
});

test('an image with no command takes it from the image; command and entrypoint replace Cmd and Entrypoint; no command and no image is an error', async () => {
  const dir = project({ 'compose.yaml': 'services:\n  db:\n    image: postgres:16\n    pull_policy: if_not_present\n  web:\n    image: web\n    entrypoint: [/bin/sh, -c]\n  job:\n    image: job\n    command: run --fast\n    pull_policy: always\n' });
  const r = await load(dir);
  assert.deepEqual(r.warnings, []);
  const db = r.services.get('db')!;
  assert.deepEqual(db.spec.rootfs, { image: 'postgres:16', pull: 'missing' });
  assert.equal(db.spec.process!.args, undefined);
  assert.equal(db.canonical!.rootfs.kind, 'image', 'loads without a resolver (not read yet)');
  assert.deepEqual(r.services.get('web')!.spec.process, { entrypoint: ['/bin/sh', '-c'] });
  assert.deepEqual(r.services.get('job')!.spec.process, { args: ['run', '--fast'] });
  assert.deepEqual(r.services.get('job')!.spec.rootfs, { image: 'job', pull: 'always' });
  const badPolicy = project({ 'compose.yaml': 'services:\n  db:\n    image: postgres:16\n    pull_policy: sometimes\n' });
  assert.match((await loadError(badPolicy)).text, /services\.db\.pull_policy: 'sometimes' is not one of: always, never/);
  const bad = project({ 'compose.yaml': 'services:\n  db:\n    environment: {A: "1"}\n' });
  assert.match((await loadError(bad)).text, /compose\.yaml:2:3: services\.db: the service has no command/);
});

test('references to undefined services, networks and volumes are errors', async () => {
  const dir = project({ 'compose.yaml': 'services:\n  a:\n    command: [a]\n    depends_on: [ghost]\n    networks: [nowhere]\n    volumes: ["vol:/v"]\n    volumes_from: [b, "service:b:ro", "phantom:ro", "container:outside"]\n  b:\n    command: [b]\n' });
  const { text, error } = await loadError(dir);
  assert.match(text, /7:39: services\.a\.volumes_from\.2: volumes_from names service 'phantom', which is not defined/);
  assert.equal(error.details.filter((d) => /volumes_from/.test(d.message)).length, 1, 'b and container:outside are fine');
  assert.match(text, /4:18: services\.a\.depends_on\.ghost: depends on undefined service 'ghost'/);
  assert.match(text, /5:16: services\.a\.networks\.nowhere: refers to network 'nowhere', which the top-level networks: does not define/);
  assert.match(text, /6:15: services\.a\.volumes\.0: refers to volume 'vol', which the top-level volumes: does not define/);
});

test('container-loader problems point at the compose key that produced them', async () => {
  const dir = project({ 'compose.yaml': 'services:\n  a:\n    command: [a]\n    network_mode: host\n    sysctls: {net.ipv4.ip_forward: 1}\n  b:\n    command: [b]\n    cap_add: [NOT_A_CAP]\n' });
  const { text } = await loadError(dir);
  assert.match(text, /:5:15: services\.a\.sysctls\.net\.ipv4\.ip_forward: net\.ipv4\.ip_forward needs a new net namespace/);
  assert.match(text, /:8:5: services\.b\.cap_add \(capabilities\.add\.0\): 'NOT_A_CAP' is not known/);
});

test('niwa\'s own form: services: of container specs, with compose-level keys beside them', async () => {
  const dir = project({
    'niwa-compose.yaml': [
      'services:',
      '  api:',
      '    process: {args: [/bin/sh, -c, "echo api"]}',
      '    namespaces: [mount, pid, net, uts, ipc]',
      '    cgroup: {memory: 32M}',
      '    ports: ["8080:80"]',
      '    depends_on: [store]',
      '  store:',
      '    name: store',
      '    process: {args: [/bin/true]}',
      '    namespaces: [mount, pid]',
    ].join('\n') + '\n',
  });
  const r = await load(dir, { files: ['niwa-compose.yaml'] });
  assert.deepEqual(r.plan.levels, [['store'], ['api']]);
  const api = r.services.get('api')!;
  assert.equal(api.spec.name, 'api', 'name defaults to the key');
  assert.deepEqual(api.spec.cgroup, { memory: '32M' });
  assert.equal(api.canonical!.cgroup.memory, 32 * 1024 * 1024);
  assert.deepEqual(api.compose.ports, [{ target: 80, published: '8080', protocol: 'tcp' }]);
  assert.deepEqual(r.services.get('store')!.compose.networkMode, { kind: 'host' }, 'no net namespace: the host network');
  const bad = project({ 'c.yaml': 'services:\n  api:\n    process: {args: []}\n    cgroup: {memroy: 1M}\n' });
  const { text } = await loadError(bad, { files: ['c.yaml'] });
  assert.match(text, /c\.yaml:4:14: services\.api\.cgroup\.memroy: unknown field 'memroy'/);
});

test('defineCompose in TypeScript', async () => {
  const dir = project({
    'compose.ts': `import { defineCompose } from ${JSON.stringify(join(process.cwd(), 'src/index.ts'))};
export default defineCompose({ services: { hello: { process: { args: ['/bin/echo', 'hi'] }, depends_on: ['base'] }, base: { process: { args: ['/bin/true'] } } } });
`,
  });
  const r = await load(dir, { files: ['compose.ts'] });
  assert.deepEqual(r.plan.order, ['base', 'hello']);
  assert.deepEqual(r.services.get('hello')!.canonical!.process.args, ['/bin/echo', 'hi']);
});

test('the example project canonicalises every service on the embedded host rootfs', async () => {
  const r = await load(join(process.cwd(), 'examples', 'compose'));
  assert.deepEqual(r.plan.levels, [['seed'], ['server'], ['client']]);
  for (const [n, s] of r.services) assert.equal(s.canonical?.rootfs.kind, 'default', n);
  assert.deepEqual(r.services.get('server')!.canonical!.lifecycle.healthcheck?.kind, 'exec');
  assert.deepEqual(r.services.get('client')!.compose.dependsOn, [{ service: 'server', condition: 'service_healthy', restart: false, required: true }]);
  assert.deepEqual(r.warnings, []);
});

test('shellSplit and the Docker seccomp format', () => {
  assert.deepEqual(shellSplit(`a "b c" 'd e' f\\ g "h\\"i"`), ['a', 'b c', 'd e', 'f g', 'h"i']);
  assert.equal(shellSplit('"open'), undefined);
  assert.deepEqual(dockerSeccomp({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['ptrace'], action: 'SCMP_ACT_ERRNO', errnoRet: 1, args: [{ index: 0, value: 1, op: 'SCMP_CMP_EQ' }] }] }),
    { default_action: 'allow', syscalls: [{ names: ['ptrace'], action: 'errno', errno: 1, args: [{ index: 0, value: 1, op: 'eq' }] }] });
  assert.match(String(dockerSeccomp({ defaultAction: 'NOPE' })), /not a seccomp action/);
});

void formatDetail;

test('devices: short and long syntax become spec devices (bound into /dev and allowed by the device cgroup)', async () => {
  const dir = project({
    'compose.yaml': [
      'services:',
      '  web:',
      '    command: [serve]',
      '    devices: [/dev/null, "/dev/zero:/dev/myzero:r", {source: /dev/full, target: /dev/full, permissions: rw}]',
    ].join('\n') + '\n',
  });
  const r = await load(dir);
  const c = r.services.get('web')!.canonical!;
  assert.deepEqual(c.devices!.map((d) => `${d.source} ${d.target} ${d.type} ${d.major}:${d.minor} ${d.access}`), [
    '/dev/null /dev/null c 1:3 rwm', '/dev/zero /dev/myzero c 1:5 r', '/dev/full /dev/full c 1:7 rw',
  ]);
});

test('label_file: read in order (dotenv format, later files win) beneath labels:, which win; a missing file is an error naming the path', async () => {
  const dir = project({
    'compose.yaml': [
      'services:',
      '  web:',
      '    command: [serve]',
      '    label_file: [./a.labels, conf/b.labels]',
      '    labels: {tier: app}',
      '  api:',
      '    command: [api]',
      '    label_file: a.labels',
    ].join('\n') + '\n',
    'a.labels': '# labels\ncom.example.team=core\ntier=from-file\nversion=${VER:-1}\n',
    'conf/b.labels': 'com.example.team=platform\n',
  });
  const r = await load(dir, { env: { VER: '2' } });
  assert.deepEqual(r.warnings, [], 'label_file is no longer an unsupported key');
  assert.deepEqual(r.services.get('web')!.compose.labels, { 'com.example.team': 'platform', tier: 'app', version: '2' });
  assert.deepEqual(r.services.get('api')!.compose.labels, { 'com.example.team': 'core', tier: 'from-file', version: '2' });
  assert.equal(r.project.services.web.label_file, undefined, 'read into labels');
  assert.deepEqual(r.project.services.web.labels, { 'com.example.team': 'platform', tier: 'app', version: '2' });

  const bad = project({ 'compose.yaml': 'services:\n  web:\n    command: [serve]\n    label_file: [ok.labels, nope.labels]\n', 'ok.labels': 'a=1\n' });
  const { text } = await loadError(bad);
  assert.match(text, new RegExp(`compose\\.yaml:4:29: services\\.web\\.label_file\\.1: cannot read label file ${join(bad, 'nope.labels').replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: ENOENT`));
});

test('an env_file that cannot be read is an error at its entry that names the path tried', async () => {
  const dir = project({ 'compose.yaml': 'services:\n  web:\n    command: [serve]\n    env_file: [conf/app.env]\n' });
  const { text } = await loadError(dir);
  const tried = join(dir, 'conf', 'app.env').replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  assert.match(text, new RegExp(`compose\\.yaml:4:16: services\\.web\\.env_file\\.0: cannot read env file ${tried}: ENOENT`));
});

test('file modes are octal as Compose reads them: mode: 0440, mode: "0640", tmpfs mode: 01777', async () => {
  const dir = project({
    'compose.yaml': [
      'services:',
      '  app:',
      '    command: [x]',
      '    secrets: [{source: s, mode: 0440}]',
      '    configs: [{source: c, mode: "0640"}, {source: c, target: /d, mode: 0o600}]',
      '    volumes: [{type: tmpfs, target: /cache, tmpfs: {mode: 01777}}]',
      'secrets:',
      '  s: {file: ./s.txt}',
      'configs:',
      '  c: {file: ./c.txt}',
    ].join('\n') + '\n',
    's.txt': 'secret\n',
    'c.txt': 'config\n',
  });
  const r = await load(dir);
  const app = r.project.services.app as { secrets: { mode: number }[]; configs: { mode: number }[] };
  assert.deepEqual([app.secrets[0].mode, app.configs[0].mode, app.configs[1].mode], [0o440, 0o640, 0o600]);
  const tmpfs = r.services.get('app')!.spec.mounts!.find((m) => m.target === '/cache') as { mode?: string };
  assert.equal(tmpfs.mode, '1777');
  assert.deepEqual(r.warnings.map((w) => `${w.line}:${w.col} ${w.field}: ${w.message}`), [
    '4:15 services.app.secrets.0: mode 0440: not applied; the file is mounted read-only with the owner and mode it has on the host',
    '5:15 services.app.configs.0: mode 0640: not applied; the file is mounted read-only with the owner and mode it has on the host',
    '5:42 services.app.configs.1: mode 0600: not applied; the file is mounted read-only with the owner and mode it has on the host',
  ]);
});

test('devices in long syntax are rendered as SOURCE:TARGET:PERMISSIONS (never [object Object]) and keep their lines', async () => {
  const dir = project({
    'compose.yaml': [
      'services:',
      '  a:',
      '    command: [x]',
      '    devices:',
      '      - /dev/zero',
      '      - source: /dev/null',
      '        target: /dev/n2',
      '      - {source: /dev/full, permissions: r}',
    ].join('\n') + '\n',
    'compose.override.yaml': 'services:\n  a:\n    devices: [{source: /dev/no-such-device-here}]\n',
  });
  const r = await load(dir, { files: ['compose.yaml'] });
  assert.deepEqual(r.project.services.a.devices, ['/dev/zero', '/dev/null:/dev/n2:rwm', '/dev/full:/dev/full:r']);
  assert.doesNotMatch(JSON.stringify(projectToConfig(r.project)), /object Object/);
  assert.deepEqual(r.services.get('a')!.spec.devices, [
    { path: '/dev/zero' }, { path: '/dev/null', container_path: '/dev/n2', permissions: 'rwm' }, { path: '/dev/full', permissions: 'r' },
  ]);
  // merged with an override file, by value; a problem points at the long-syntax entry's own line
  const { text } = await loadError(dir);
  assert.match(text, /compose\.override\.yaml:3:15: services\.a\.devices\.3 \(devices\.3\.path\): \/dev\/no-such-device-here: ENOENT/);
});

test('links: SERVICE[:ALIAS] become the linking service\'s aliases and start after it; an undefined one is an error', async () => {
  const dir = project({ 'compose.yaml': 'services:\n  web:\n    command: [web]\n    links: [db, "cache:kv"]\n  db:\n    command: [db]\n  cache:\n    command: [cache]\n' });
  const r = await load(dir);
  assert.deepEqual(r.warnings, [], 'links are supported, not warned about');
  assert.deepEqual(r.services.get('web')!.compose.links, [{ service: 'db', alias: 'db' }, { service: 'cache', alias: 'kv' }]);
  assert.deepEqual(r.plan.levels, [['cache', 'db'], ['web']]);
  const bad = project({ 'compose.yaml': 'services:\n  web:\n    command: [web]\n    links: ["ghost:g"]\n' });
  assert.match((await loadError(bad)).text, /compose\.yaml:4:13: services\.web\.links\.0: links to service 'ghost', which is not defined/);
});

test('a build-only service runs on the image its build makes: image: names it, else <project>-<service>', async () => {
  const dir = project({ 'compose.yaml': 'name: demo\nservices:\n  builder:\n    build: .\n  named:\n    build: {context: .}\n    image: me/app:2\n  web:\n    command: [/bin/true]\n' });
  const r = await load(dir);
  assert.deepEqual(r.services.get('builder')!.spec.rootfs, { image: 'demo-builder', pull: 'never' });
  assert.deepEqual(r.services.get('named')!.spec.rootfs, { image: 'me/app:2', pull: 'never' });
  assert.ok(r.services.get('web')!.canonical);
  assert.ok(!r.warnings.some((w) => w.field?.endsWith('.build')), r.warnings.map((w) => w.message).join('\n'));
});
