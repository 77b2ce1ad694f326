// Top-level include: sub-projects with their own directory and env, recursion, cycles, conflicts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { load, loadError, project } from './helpers.js';

const CMD = (s: string) => `["/bin/sh", "-c", "${s}"]`;
/** The host source of a spec's i-th mount. */
const src = (spec: { mounts?: unknown[] }, i: number) => (spec.mounts?.[i] as { source?: string } | undefined)?.source;

test('include: the included services, networks and volumes are added; relative paths are the included file\'s', async () => {
  const dir = project({
    'compose.yaml': `
include:
  - sub/compose.yaml
services:
  web:
    command: ${CMD('web')}
    depends_on: [db]
    networks: [back]
`,
    'sub/compose.yaml': `
services:
  db:
    command: ${CMD('db')}
    volumes: [./data:/data, store:/store]
    env_file: db.env
    networks: [back]
networks: {back: {}}
volumes: {store: {}}
`,
    'sub/db.env': 'FROM_FILE=yes\n',
  });
  const r = await load(dir);
  assert.deepEqual([...r.services.keys()].sort(), ['db', 'web']);
  assert.deepEqual(r.plan.levels, [['db'], ['web']]);
  assert.ok(r.project.networks.back, 'the included network');
  assert.ok(r.project.volumes.store, 'the included volume');
  const db = r.services.get('db')!.spec;
  assert.equal(src(db, 0), join(dir, 'sub', 'data'), 'bind source against the included file\'s directory');
  assert.equal(db.process!.env?.FROM_FILE, 'yes', 'env_file against the included file\'s directory');
  assert.equal(r.warnings.length, 0, JSON.stringify(r.warnings));
});

test('include: project_directory is the base of relative paths; secrets files and seccomp profiles too', async () => {
  const dir = project({
    'compose.yaml': `
include:
  - path: files/svc.yaml
    project_directory: base
services:
  web: {command: ${CMD('web')}}
`,
    'files/svc.yaml': `
services:
  svc:
    command: ${CMD('svc')}
    volumes: [./data:/data]
    secrets: [token]
    security_opt: ["seccomp=profile.json"]
secrets:
  token: {file: ./token.txt}
`,
    'base/token.txt': 'x\n',
    'base/profile.json': JSON.stringify({ defaultAction: 'SCMP_ACT_ERRNO', defaultErrnoRet: 1, syscalls: [{ names: ['read'], action: 'SCMP_ACT_ALLOW' }] }),
  });
  const r = await load(dir);
  const svc = r.services.get('svc')!.spec;
  assert.equal(src(svc, 0), join(dir, 'base', 'data'));
  assert.equal(src(svc, 1), join(dir, 'base', 'token.txt'));
  assert.deepEqual(svc.seccomp, { default_action: 'errno', default_errno: 1, syscalls: [{ names: ['read'], action: 'allow' }] });
});

test('include: the included project\'s .env gives defaults; the including project\'s variables win; env_file replaces .env', async () => {
  const dir = project({
    'compose.yaml': `
include:
  - a/compose.yaml
  - path: b/compose.yaml
    env_file: [b/one.env, b/two.env]
services:
  web: {command: ${CMD('web $ROOT')}}
`,
    '.env': 'ROOT=root-dotenv\n',
    'a/compose.yaml': `services:\n  a: {command: ${CMD('a $ONLY_A $SHARED $ROOT')}}\n`,
    'a/.env': 'ONLY_A=a-dotenv\nSHARED=a-dotenv\nROOT=a-dotenv\n',
    'b/compose.yaml': `services:\n  b: {command: ${CMD('b $B1 $B2 ${FROM_DOTENV:-unset}')}}\n`,
    'b/.env': 'FROM_DOTENV=read\n',
    'b/one.env': 'B1=one\nB2=one\n',
    'b/two.env': 'B2=two\n',
  });
  const r = await load(dir, { env: { SHARED: 'shell' } });
  assert.deepEqual(r.services.get('a')!.spec.process!.args!, ['/bin/sh', '-c', 'a a-dotenv shell root-dotenv']);
  assert.deepEqual(r.services.get('b')!.spec.process!.args!, ['/bin/sh', '-c', 'b one two unset']);
  assert.deepEqual(r.services.get('web')!.spec.process!.args!, ['/bin/sh', '-c', 'web root-dotenv'], 'the included .env does not leak up');
});

test('include: recursive, with a diamond (the same definitions twice are not a conflict)', async () => {
  const dir = project({
    'compose.yaml': `include: [x/compose.yaml, y/compose.yaml]\nservices:\n  web: {command: ${CMD('web')}, depends_on: [x, y, common]}\n`,
    'x/compose.yaml': `include: [../common/compose.yaml]\nservices:\n  x: {command: ${CMD('x')}}\n`,
    'y/compose.yaml': `include: [../common/compose.yaml]\nservices:\n  y: {command: ${CMD('y')}}\n`,
    'common/compose.yaml': `services:\n  common: {command: ${CMD('common')}, volumes: [./c:/c]}\n`,
  });
  const r = await load(dir);
  assert.deepEqual([...r.services.keys()].sort(), ['common', 'web', 'x', 'y']);
  assert.equal(src(r.services.get('common')!.spec, 0), join(dir, 'common', 'c'));
});

test('include: a resource defined differently on both sides is an error naming both places', async () => {
  const dir = project({
    'compose.yaml': `
include:
  - sub/compose.yaml
services:
  db:
    command: ${CMD('mine')}
networks:
  back: {}
`,
    'sub/compose.yaml': `
services:
  db:
    command: ${CMD('theirs')}
networks:
  back: {}
`,
  });
  const { error, text } = await loadError(dir);
  assert.equal(error.details.length, 1, text);
  const d = error.details[0];
  assert.equal(d.file, join(dir, 'compose.yaml'));
  assert.equal(d.line, 5);
  assert.equal(d.col, 3);
  assert.equal(d.field, 'services.db');
  assert.match(d.message, /service 'db' is defined at compose\.yaml:5:3 and, differently, at sub\/compose\.yaml:3:3, included from compose\.yaml:3:5/);
  assert.match(d.hint ?? '', /does not merge/);
});

test('include: a later -f file (the override) completes a service an earlier file included, as Compose allows', async () => {
  const dir = project({
    'compose.yaml': `include: [sub/compose.yaml]\nservices:\n  web: {command: ${CMD('web')}}\n`,
    'compose.override.yaml': `services:\n  db:\n    environment: {X: "1"}\n`,
    'sub/compose.yaml': `services:\n  db: {command: ${CMD('db')}, environment: {Y: "2"}}\n`,
  });
  const r = await load(dir);
  const db = r.services.get('db')!.spec;
  assert.deepEqual(db.process?.args, ['/bin/sh', '-c', 'db'], 'the included definition');
  assert.equal((db.process?.env as Record<string, string> | undefined)?.X, '1', 'completed by the override');
  assert.equal((db.process?.env as Record<string, string> | undefined)?.Y, '2');
  // a conflict inside one file (its own definition against what it includes) is still an error
  const dir2 = project({
    'compose.yaml': `include: [sub/compose.yaml]\nservices:\n  db: {command: ${CMD('mine')}}\n`,
    'sub/compose.yaml': `services:\n  db: {command: ${CMD('db')}}\n`,
  });
  assert.match((await loadError(dir2)).text, /service 'db' is defined at compose\.yaml:3:3 and, differently, at sub\/compose\.yaml:2:3/);
});

test('include: a cycle is an error that names it, at the include entry', async () => {
  const dir = project({
    'compose.yaml': `include: [a.yaml]\nservices:\n  web: {command: ${CMD('web')}}\n`,
    'a.yaml': `include:\n  - b.yaml\nservices:\n  a: {command: ${CMD('a')}}\n`,
    'b.yaml': `services:\n  b: {command: ${CMD('b')}}\ninclude:\n  - path: a.yaml\n`,
  });
  const { error, text } = await loadError(dir);
  assert.equal(error.details.length, 1, text);
  const d = error.details[0];
  assert.equal(d.file, join(dir, 'b.yaml'));
  assert.deepEqual([d.line, d.col, d.field], [4, 5, 'include.0']);
  assert.equal(d.message, 'include cycle: a.yaml → b.yaml → a.yaml');
});

test('include: a file including itself is a cycle', async () => {
  const dir = project({ 'compose.yaml': `include: [compose.yaml]\nservices:\n  web: {command: ${CMD('web')}}\n` });
  const { text } = await loadError(dir);
  assert.match(text, /compose\.yaml:1:\d+: include\.0: include cycle: compose\.yaml → compose\.yaml/);
});

test('include: missing files, missing env files and entries without a path are located errors with hints', async () => {
  const dir = project({
    'compose.yaml': `
include:
  - nope.yaml
  - path: [sub/compose.yaml, sub/missing.yaml]
  - path: sub/compose.yaml
    env_file: sub/none.env
  - project_directory: sub
services:
  web: {command: ${CMD('web')}}
`,
    'sub/compose.yaml': `services:\n  s: {command: ${CMD('s')}}\n`,
  });
  const { error, text } = await loadError(dir);
  const lines = error.details.map((d) => `${d.line}:${d.col} ${d.field}: ${d.message.replace(dir, '<dir>')}`);
  assert.deepEqual(lines, [
    '3:5 include.0: the included file <dir>/nope.yaml does not exist',
    '4:30 include.1.path.1: the included file <dir>/sub/missing.yaml does not exist',
    '6:5 include.2.env_file: the env file <dir>/sub/none.env does not exist',
    '7:5 include.3: an include entry needs a path: the compose file to include',
  ], text);
  assert.ok(error.details.every((d) => d.hint && d.file === join(dir, 'compose.yaml')), text);
});

test('include: a problem inside an included file points into that file', async () => {
  const dir = project({
    'compose.yaml': `include: [sub/compose.yaml]\nservices:\n  web: {command: ${CMD('web')}}\n`,
    'sub/compose.yaml': `services:\n  s:\n    command: ${CMD('s')}\n    restrat: always\n`,
  });
  const { error, text } = await loadError(dir);
  assert.equal(error.details.length, 1, text);
  const d = error.details[0];
  assert.deepEqual([d.file, d.line, d.col, d.field], [join(dir, 'sub', 'compose.yaml'), 4, 5, 'services.s.restrat'], text);
  assert.match(d.hint ?? '', /restart/);
});

test('include: a bad include: shape is a schema error', async () => {
  const dir = project({ 'compose.yaml': `include:\n  - path: a.yaml\n    env: x\nservices:\n  web: {command: ${CMD('web')}}\n` });
  const { text } = await loadError(dir);
  assert.match(text, /compose\.yaml:3:5: include\.0\.env/);
});

test('include: a file reached twice (a diamond) warns once', async () => {
  const dir = project({
    'compose.yaml': `include: [x.yaml, y.yaml]\nservices:\n  web: {command: ${CMD('web')}}\n`,
    'x.yaml': `include: [common.yaml]\nservices:\n  x: {command: ${CMD('x')}}\n`,
    'y.yaml': `include: [common.yaml]\nservices:\n  y: {command: ${CMD('y')}}\n`,
    'common.yaml': `version: "3"\nservices:\n  common: {command: ${CMD('common')}}\n`,
  });
  const r = await load(dir);
  assert.deepEqual(r.warnings.map((w) => `${w.file?.replace(dir, '<dir>')}:${w.line} ${w.message}`), ['<dir>/common.yaml:1 the top-level version is obsolete and ignored']);
});
