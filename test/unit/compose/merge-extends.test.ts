import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { load, loadError, project } from './helpers.js';

test('-f files merge by the compose-spec rules', async () => {
  const dir = project({
    'compose.yaml': `
name: base
services:
  web:
    image: app:1
    command: ["serve", "--base"]
    entrypoint: /bin/entry
    environment: [A=1, B=2]
    labels: {tier: web}
    ports: ["8080:80", "443:443"]
    expose: ["9000"]
    volumes: ["./a:/a", "data:/data:ro"]
    cap_add: [NET_ADMIN]
    healthcheck: {test: ["CMD", "base"], interval: 10s}
    dns: [1.1.1.1]
volumes: {data: {}}
`,
    'override.yaml': `
name: over
services:
  web:
    command: ["serve", "--over"]
    environment: {B: "20", C: "3"}
    labels: [extra=yes]
    ports: ["8080:80/tcp", "9090:90"]
    expose: ["9000", "9001"]
    volumes: ["./b:/data"]
    cap_add: [NET_ADMIN, SYS_TIME]
    healthcheck: {test: ["CMD", "over"]}
    dns: [8.8.8.8]
  worker:
    image: app:1
    command: ["work"]
`,
  });
  const r = await load(dir, { files: ['compose.yaml', 'override.yaml'], skipCanonical: true });
  const web = r.project.services.web;
  assert.equal(r.project.name, 'over');
  assert.deepEqual(web.command, ['serve', '--over'], 'command replaced');
  assert.equal(web.entrypoint, '/bin/entry', 'entrypoint kept when not overridden');
  assert.deepEqual(web.environment, { A: '1', B: '20', C: '3' }, 'environment merged as a mapping, list or not');
  assert.deepEqual(web.labels, { tier: 'web', extra: 'yes' });
  assert.deepEqual(web.ports!.map((p) => `${p.published}:${p.target}/${p.protocol}`), ['8080:80/tcp', '443:443/tcp', '9090:90/tcp'], 'ports merged by key');
  assert.deepEqual(web.expose, ['9000', '9001'], 'expose without repeats');
  assert.deepEqual(web.volumes!.map((v) => [v.target, v.type, v.source]), [
    ['/a', 'bind', join(dir, 'a')],
    ['/data', 'bind', join(dir, 'b')],
  ], 'volumes merged by target: the override wins');
  assert.deepEqual(web.cap_add, ['NET_ADMIN', 'SYS_TIME']);
  assert.deepEqual(web.healthcheck, { test: ['CMD', 'over'], interval: '10s' }, 'healthcheck.test replaced, interval kept');
  assert.deepEqual(web.dns, ['1.1.1.1', '8.8.8.8'], 'other sequences appended');
  assert.deepEqual(Object.keys(r.project.services).sort(), ['web', 'worker']);
});

test('!reset and !override', async () => {
  const dir = project({
    'compose.yaml': 'services:\n  web:\n    command: [a]\n    ports: ["80:80"]\n    environment: {A: "1", B: "2"}\n',
    'o.yaml': 'services:\n  web:\n    ports: !reset []\n    environment: !override {C: "3"}\n',
  });
  const web = (await load(dir, { files: ['compose.yaml', 'o.yaml'], skipCanonical: true })).project.services.web;
  assert.equal(web.ports, undefined);
  assert.deepEqual(web.environment, { C: '3' });
});

test('compose.override.yaml is picked up by discovery; paths are relative to the first file', async () => {
  const dir = project({ 'compose.yaml': 'services:\n  a:\n    command: [x]\n', 'compose.override.yaml': 'services:\n  a:\n    volumes: [./v:/v]\n', 'sub/.keep': '' });
  const r = await load(join(dir, 'sub'), { skipCanonical: true });
  assert.deepEqual(r.project.files, [join(dir, 'compose.yaml'), join(dir, 'compose.override.yaml')]);
  assert.equal(r.project.services.a.volumes![0].source, join(dir, 'v'));
  assert.equal(r.project.name, 'proj', 'named after the directory');
});

test('extends: same file, other file (paths stay relative to it), chained', async () => {
  const dir = project({
    'compose.yaml': `
services:
  base:
    command: ["run"]
    environment: {LEVEL: base, KEEP: "1"}
    mem_limit: 64m
  mid:
    extends: base
    environment: {LEVEL: mid}
  top:
    extends: {service: mid}
    command: ["top"]
  remote:
    extends: {file: lib/common.yaml, service: shared}
    environment: {OWN: "1"}
`,
    'lib/common.yaml': 'services:\n  shared:\n    command: ["shared"]\n    volumes: [./conf:/conf]\n    env_file: [common.env]\n',
    'lib/common.env': 'FROM_FILE=yes\n',
  });
  const r = await load(dir, { skipCanonical: true });
  const s = r.project.services;
  assert.deepEqual(s.mid.environment, { LEVEL: 'mid', KEEP: '1' });
  assert.equal(s.mid.mem_limit, '64m');
  assert.deepEqual(s.top.command, ['top']);
  assert.deepEqual(s.top.environment, { LEVEL: 'mid', KEEP: '1' });
  assert.equal(s.top.extends, undefined, 'extends is resolved away');
  assert.equal(s.remote.volumes![0].source, join(dir, 'lib', 'conf'));
  assert.equal(s.remote.env_file![0].path, join(dir, 'lib', 'common.env'));
  assert.equal(r.services.get('remote')!.spec.process!.env!.FROM_FILE, 'yes');
  assert.equal(r.services.get('remote')!.spec.process!.env!.OWN, '1');
});

test('extends cycles and missing services are errors with their position', async () => {
  const dir = project({ 'compose.yaml': 'services:\n  a:\n    extends: b\n    command: [x]\n  b:\n    extends: {service: c}\n  c:\n    extends: a\n' });
  const { text } = await loadError(dir);
  assert.match(text, /compose\.yaml:3:5: services\.a\.extends: extends cycle: a → b → c → a/);
  const d2 = project({ 'compose.yaml': 'services:\n  a:\n    extends: nope\n    command: [x]\n' });
  assert.match((await loadError(d2)).text, /compose\.yaml:3:5: services\.a\.extends\.service: extends service 'nope', which this file does not define/);
});

test('a service with no value (nil:) is an empty service: others extend it, a later file completes it', async () => {
  const files = {
    'compose.yaml': 'services:\n  nil:\n  base:\n    command: [b]\n  web:\n    extends: base\n  child:\n    extends: nil\n    command: [c]\n',
  };
  const dir = project({ ...files, 'compose.override.yaml': 'services:\n  nil:\n    command: [n]\n' });
  const r = await load(dir, { skipCanonical: true });
  assert.deepEqual(Object.keys(r.project.services).sort(), ['base', 'child', 'nil', 'web']);
  assert.deepEqual(r.project.services.nil.command, ['n']);
  assert.deepEqual(r.project.services.web.command, ['b']);
  assert.deepEqual(r.project.services.child.command, ['c']);
  // alone, the empty service is refused by the rule every service meets (it needs a command), at its key
  const { error, text } = await loadError(project(files));
  assert.equal(error.details.length, 1, text);
  assert.match(text, /compose\.yaml:2:3: services\.nil: the service has no command/);
});

test('anchors, merge keys and x- fields', async () => {
  const dir = project({
    'compose.yaml': `
x-defaults: &defaults
  restart: always
  environment: {A: "1"}
  labels: {x: y}
x-ignored: {anything: [1, 2]}
services:
  one:
    <<: *defaults
    command: [one]
    environment: {B: "2"}
    x-note: kept
  two:
    <<: [*defaults]
    command: [two]
`,
  });
  const r = await load(dir, { skipCanonical: true });
  const { one, two } = r.project.services;
  assert.equal(one.restart, 'always');
  assert.deepEqual(one.environment, { B: '2' }, 'a key written in the mapping wins over the merged one');
  assert.deepEqual(two.environment, { A: '1' });
  assert.equal(one['x-note'], 'kept');
  assert.deepEqual(Object.keys(r.project.extensions).sort(), ['x-defaults', 'x-ignored']);
  assert.deepEqual(r.warnings, [], 'x- fields give no warnings');
});
