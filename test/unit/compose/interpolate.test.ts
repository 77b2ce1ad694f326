import { test } from 'node:test';
import assert from 'node:assert/strict';
import { interpolateString } from '../../../src/compose/interpolate.js';
import { parseDotenv } from '../../../src/compose/env.js';
import { load, loadError, project } from './helpers.js';

const vars: Record<string, string> = { A: 'a', EMPTY: '', N: '5' };
const look = (n: string) => vars[n];
const v = (s: string) => interpolateString(s, look);

test('every substitution form', () => {
  const cases: [string, string][] = [
    ['$A', 'a'], ['${A}', 'a'], ['x${A}y', 'xay'], ['$A-$N', 'a-5'],
    ['${A:-d}', 'a'], ['${EMPTY:-d}', 'd'], ['${UNSET:-d}', 'd'],
    ['${A-d}', 'a'], ['${EMPTY-d}', ''], ['${UNSET-d}', 'd'],
    ['${A:+alt}', 'alt'], ['${EMPTY:+alt}', ''], ['${UNSET:+alt}', ''],
    ['${A+alt}', 'alt'], ['${EMPTY+alt}', 'alt'], ['${UNSET+alt}', ''],
    ['${A:?boom}', 'a'], ['${EMPTY?boom}', ''],
    ['$$', '$'], ['$${A}', '${A}'], ['cost $$5', 'cost $5'], ['$$$A', '$a'],
    ['${UNSET:-${A}}', 'a'], ['${UNSET:-${ALSO:-deep}}', 'deep'], ['${UNSET:-pre-${N}-post}', 'pre-5-post'],
    ['no dollars', 'no dollars'],
  ];
  for (const [input, want] of cases) {
    const r = v(input);
    assert.equal(r.value, want, input);
    assert.deepEqual(r.problems.filter((p) => p.kind !== 'missing'), [], input);
  }
});

test('missing variables: blank string and a warning; required ones are errors', () => {
  const r = v('${NOPE}x');
  assert.equal(r.value, 'x');
  assert.equal(r.problems.length, 1);
  assert.equal(r.problems[0].kind, 'missing');
  assert.match(r.problems[0].message, /"NOPE" variable is not set/);
  const q = v('${EMPTY:?must be set}');
  assert.equal(q.problems[0].kind, 'required');
  assert.match(q.problems[0].message, /required variable EMPTY is missing a value: must be set/);
  assert.equal(v('${UNSET?}').problems[0].kind, 'required');
  // a default that is not used does not warn about variables inside it
  assert.deepEqual(v('${A:-${NOPE}}').problems, []);
});

test('a $ that starts no substitution stays as written (compose-go TestUnescaped)', () => {
  for (const s of ['a $ string', '^REGEX$', '$}', '$', 'a $1', 'price: 5$', '$-x', '${A}$']) {
    const r = v(s);
    assert.deepEqual(r.problems, [], s);
    assert.equal(r.value, s === '${A}$' ? 'a$' : s, s);
  }
});

test('braces inside a default balance: no stray }', () => {
  const cases: [string, string][] = [
    ['${JSON:-{"json":1}}', '{"json":1}'],
    ['${A:-{"json":1}}', 'a'],
    ['${UNSET-{a:{b:1}}}x', '{a:{b:1}}x'],
    ['${UNSET:-{}}', '{}'],
    ['${UNSET:-$${X}}', '${X}'],
    ['${UNSET:-{"n":"${N}"}}', '{"n":"5"}'],
    ['${UNSET:+{x}}', ''],
    ['${A:+{x}}', '{x}'],
    ['${UNSET:-{}', '{'], // unbalanced: the last } closes, as compose-go's pattern does
  ];
  for (const [input, want] of cases) {
    const r = v(input);
    assert.equal(r.value, want, input);
    assert.deepEqual(r.problems.filter((p) => p.kind !== 'missing'), [], input);
  }
});

test('bad syntax is an error, not a crash', () => {
  for (const s of ['${', '${A', '${}', '${ }', '${ A}', '${A }', '${A!}', '${A:x}', '${1A}']) {
    const r = v(s);
    assert.equal(r.problems.length, 1, s);
    assert.equal(r.problems[0].kind, 'syntax', s);
    assert.match(r.problems[0].hint ?? '', /\$\$/, s);
  }
});

test('dotenv: quotes, escapes, comments, export, interpolation of earlier values', () => {
  const r = parseDotenv([
    '# comment', '', 'export A=1', 'B = two words # trailing comment', "C='single ${A} $raw'", 'D="double ${A}\\nnext"',
    'E=${A}${B}', 'F', 'G="multi', 'line"', 'H=', 'bad line',
  ].join('\n'), '/x/.env', (n) => (n === 'SHELL_ONLY' ? 's' : undefined));
  assert.deepEqual(r.env, { A: '1', B: 'two words', C: 'single ${A} $raw', D: 'double 1\nnext', E: '1two words', F: null, G: 'multi\nline', H: '' });
  assert.equal(r.errors.length, 1);
  assert.equal(r.errors[0].line, 12);
});

test('a project: .env, shell over .env, errors located at the value\'s key', async () => {
  const dir = project({
    '.env': 'TAG=from-dotenv\nPORT=8080\n',
    'compose.yaml': 'services:\n  web:\n    image: "app:${TAG}"\n    command: ["echo", "${PORT}", "$${LITERAL}", "${MISSING}"]\n',
  });
  const r = await load(dir, { skipCanonical: true, env: { PORT: '9090' } });
  const web = r.project.services.web;
  assert.equal(web.image, 'app:from-dotenv');
  assert.deepEqual(web.command, ['echo', '9090', '${LITERAL}', '']);
  const w = r.warnings.find((x) => /MISSING/.test(x.message));
  assert.ok(w, 'a warning for MISSING');
  assert.equal(w.line, 4);
  assert.equal(w.field, 'services.web.command.3');

  const bad = project({ 'compose.yaml': 'services:\n  web:\n    command: ["x"]\n    environment:\n      PASS: ${DB_PASS:?set DB_PASS}\n      COST: 5$\n      BAD: ${X!}\n' });
  const { text } = await loadError(bad);
  assert.match(text, /compose\.yaml:5:7: services\.web\.environment\.PASS: required variable DB_PASS is missing a value: set DB_PASS/);
  assert.doesNotMatch(text, /COST/); // 5$ is a literal, as in Compose
  assert.match(text, /compose\.yaml:7:7: services\.web\.environment\.BAD: invalid interpolation format/);
});

test('--env-file replaces .env; a missing --env-file is an error', async () => {
  const dir = project({ '.env': 'X=dot\n', 'other.env': 'X=other\n', 'compose.yaml': 'services:\n  a:\n    command: ["echo", "${X}"]\n' });
  const r = await load(dir, { envFiles: ['other.env'], skipCanonical: true });
  assert.deepEqual(r.project.services.a.command, ['echo', 'other']);
  await assert.rejects(load(dir, { envFiles: ['nope.env'] }), /cannot use the env file/);
});

test('COMPOSE_PROJECT_NAME is a variable of the files: from -p, then the environment, then name:, then the directory', async () => {
  const files = { 'compose.yaml': 'name: ${APP:-shop}-dev\nservices:\n  web:\n    command: [echo, "${COMPOSE_PROJECT_NAME}"]\n    container_name: ${COMPOSE_PROJECT_NAME}-web\n' };
  const dir = project(files);
  const r = await load(dir, { skipCanonical: true });
  assert.equal(r.project.name, 'shop-dev');
  assert.deepEqual(r.project.services.web.command, ['echo', 'shop-dev']);
  assert.equal(r.services.get('web')!.compose.containerName, 'shop-dev-web');
  assert.deepEqual(r.warnings, [], 'no "not set" warning');
  assert.deepEqual((await load(dir, { skipCanonical: true, env: { APP: 'blog' } })).project.services.web.command, ['echo', 'blog-dev']);
  assert.deepEqual((await load(dir, { skipCanonical: true, env: { COMPOSE_PROJECT_NAME: 'fromenv' } })).project.services.web.command, ['echo', 'fromenv']);
  const p = await load(dir, { skipCanonical: true, projectName: 'explicit', env: { COMPOSE_PROJECT_NAME: 'fromenv' } });
  assert.deepEqual([p.project.name, p.project.services.web.command], ['explicit', ['echo', 'explicit']]);
  // a later -f file's name: wins; without any name:, the directory's
  const two = project({ ...files, 'other.yaml': 'name: other\n' }, 'twofiles');
  assert.deepEqual((await load(two, { skipCanonical: true, files: ['compose.yaml', 'other.yaml'] })).project.services.web.command, ['echo', 'other']);
  const plain = project({ 'compose.yaml': 'services:\n  web:\n    command: [echo, "$COMPOSE_PROJECT_NAME"]\n' }, 'My.Dir');
  assert.deepEqual((await load(plain, { skipCanonical: true })).project.services.web.command, ['echo', 'mydir']);
});

test('an unset variable that empties a section of a short volume is an error, as in Compose, not an anonymous volume', async () => {
  const dir = project({ 'compose.yaml': 'services:\n  a:\n    command: [a]\n    volumes: ["${DATA}:/data", "./x:/x:${MODE}", "${OK:-./ok}:/ok"]\n' });
  const { error, text } = await loadError(dir);
  assert.match(text, /compose\.yaml:4:15: services\.a\.volumes\.0: ":\/data": empty section between colons\n    hint: a variable that is not set becomes an empty string/);
  assert.match(text, /compose\.yaml:4:32: services\.a\.volumes\.1: "\.\/x:\/x:": empty section between colons/);
  assert.equal(error.details.length, 2, text);
});
