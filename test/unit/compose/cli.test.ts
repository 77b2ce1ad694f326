// `niwa compose …` through the built CLI (npm test builds first).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parse } from 'yaml';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { example, niwa } from '../../helpers.js';
import { project } from './helpers.js';

const EXAMPLE = example('compose', 'compose.yaml');

test('compose config prints the resolved example project', () => {
  const r = niwa(['compose', '-f', EXAMPLE, 'config'], { env: { ...process.env, GREETING_FROM: 'the test' } });
  assert.equal(r.status, 0, r.stderr);
  const doc = parse(r.stdout);
  assert.equal(doc.name, 'niwa-demo');
  assert.deepEqual(Object.keys(doc.services), ['client', 'seed', 'server']);
  assert.deepEqual(doc.services.seed.command, ['/bin/sh', '-c', "echo 'hello from the test' > /data/index.html"]);
  assert.equal(doc.services.seed.restart, 'no');
  assert.deepEqual(doc.services.server.depends_on, { seed: { condition: 'service_completed_successfully', required: true } });
  assert.deepEqual(doc.services.client.environment, { PYTHONUNBUFFERED: '1' }, 'the anchor is merged in');
  assert.deepEqual(doc.services.server.ports, [{ mode: 'ingress', protocol: 'tcp', published: '8000', target: 8000 }]);
  assert.ok(doc.volumes.site);
});

test('compose config --services lists services in start order; --format json', () => {
  const s = niwa(['compose', 'config', '--services', '-f', EXAMPLE]);
  assert.equal(s.status, 0, s.stderr);
  assert.equal(s.stdout, 'seed\nserver\nclient\n');
  const j = niwa(['compose', '-f', EXAMPLE, 'config', '--format', 'json']);
  assert.equal(JSON.parse(j.stdout).services.server.healthcheck.retries, 10);
});

test('compose config: -p, --profile, --env-file, warnings on stderr, errors exit 2', () => {
  const dir = project({
    'compose.yaml': 'services:\n  a:\n    command: ["echo", "${WHO}"]\n    gpus: all\n  dbg:\n    command: [dbg]\n    profiles: [debug]\n',
    'alt.env': 'WHO=alt\n',
  });
  const r = niwa(['compose', '-p', 'named', '--profile', 'debug', '--env-file', 'alt.env', 'config'], { cwd: dir });
  assert.equal(r.status, 0, r.stderr);
  const doc = parse(r.stdout);
  assert.equal(doc.name, 'named');
  assert.deepEqual(Object.keys(doc.services), ['a', 'dbg']);
  assert.deepEqual(doc.services.a.command, ['echo', 'alt']);
  assert.match(r.stderr, /warning: .*compose\.yaml:4:5: services\.a\.gpus: gpus: GPU access is not supported/);
  const bad = project({ 'compose.yaml': 'services:\n  a:\n    comand: [x]\n' });
  const e = niwa(['compose', 'config'], { cwd: bad });
  assert.equal(e.status, 2);
  assert.match(e.stderr, /compose\.yaml:3:5: services\.a\.comand: unknown field 'comand' in services\.a\n\s+hint: did you mean 'command'\?/);
});

test('a refused project prints the warnings that preceded its errors (an unset variable is often the cause); --no-warnings drops them', () => {
  const dir = project({ 'compose.yaml': 'services:\n  a:\n    command: [a]\n    volumes: ["${DATA}:/data"]\n' });
  const env = { ...process.env };
  delete env.DATA;
  const e = niwa(['compose', 'config'], { cwd: dir, env });
  assert.equal(e.status, 2, e.stderr);
  const lines = e.stderr.split('\n');
  assert.match(lines[0], /^warning: .*compose\.yaml:4:15: services\.a\.volumes\.0: the "DATA" variable is not set; defaulting to a blank string$/);
  assert.match(lines[2], /^niwa: .*compose\.yaml: 1 problem$/);
  assert.match(lines[3], /^  .*compose\.yaml:4:15: services\.a\.volumes\.0: ":\/data": empty section between colons$/);
  const quiet = niwa(['compose', 'config', '--no-warnings'], { cwd: dir, env });
  assert.equal(quiet.status, 2);
  assert.doesNotMatch(quiet.stderr, /warning:/);
  assert.match(quiet.stderr, /empty section between colons/);
});

test('orchestration subcommands load the project first: no compose file is a usage error (exit 2; 125 for run)', () => {
  const empty = mkdtempSync(join(tmpdir(), 'niwa-compose-none-'));
  try {
    for (const sub of ['up', 'down', 'ps', 'logs', 'start', 'stop', 'restart', 'kill', 'top']) {
      const r = niwa(['compose', sub], { cwd: empty, env: { ...process.env, COMPOSE_FILE: '' } });
      assert.equal(r.status, 2, `${sub}: ${r.stderr}`);
      assert.match(r.stderr, /no compose file found/, sub);
    }
    assert.equal(niwa(['compose', 'exec'], { cwd: empty }).status, 2, 'exec');
    // compose run passes the container's status through, so its own usage error is Docker's 125
    assert.equal(niwa(['compose', 'run'], { cwd: empty }).status, 125, 'run');
  } finally { rmSync(empty, { recursive: true, force: true }); }
  assert.equal(niwa(['compose', 'nope']).status, 2);
});
