// The Dockerfile front end and the pure build plan: parsing (dockerfile-ast) into niwa's shape with
// lines, refusals with file:line:col and hints, variable expansion, ARG scoping for FROM, stages,
// --target and the stages it needs, and cache keys.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseDockerfile } from '../../../src/build/dockerfile.js';
import { expandVars, splitWords, unquote } from '../../../src/build/expand.js';
import { compileBuild, formatBuildPlan, stepKey } from '../../../src/build/plan.js';
import { UserError } from '../../../src/errors.js';

const F = '/ctx/Dockerfile';

test('instructions keep their line, flags, JSON form and properties', () => {
  const i = parseDockerfile('# c\nFROM alpine AS a\nRUN echo a \\\n  && echo b\nRUN ["/bin/sh", "-c", "echo exec form"]\nCOPY --from=a --chown=1:2 x y /d/\nENV A=1 B="two words"\n', F);
  assert.deepEqual(i.map((x) => [x.keyword, x.line]), [['FROM', 2], ['RUN', 3], ['RUN', 5], ['COPY', 6], ['ENV', 7]]);
  assert.deepEqual(i[2].json, ['/bin/sh', '-c', 'echo exec form']);
  assert.equal(i[1].json, undefined);
  assert.match(i[1].args, /^echo a\s+&& echo b$/);
  assert.deepEqual(i[3].flags, { from: 'a', chown: '1:2' });
  assert.deepEqual(i[4].props, [['A', '1'], ['B', 'two words']]);
});

test('what niwa cannot do is refused with file:line:col and a hint, all at once', () => {
  try {
    parseDockerfile('FROM x\nONBUILD RUN a\nRUN --mount=type=ssh b\nCOPY --bogus=1 a b\nRUN <<EOF\necho\nEOF\n', F);
    assert.fail('expected a UserError');
  } catch (e) {
    assert.ok(e instanceof UserError);
    assert.equal(e.code, 'E_DOCKERFILE');
    const d = e.details.map((x) => `${x.line}:${x.col} ${x.message}`);
    assert.ok(d.some((x) => x.startsWith('2:1 ONBUILD is not supported')), d.join('\n'));
    assert.ok(d.some((x) => x.startsWith('3:1 RUN --mount=type=ssh')), d.join('\n'));
    assert.ok(d.some((x) => x.startsWith('4:1 COPY does not take --bogus')), d.join('\n'));
    assert.ok(d.some((x) => /here-document/.test(x)), d.join('\n'));
    assert.ok(e.details.every((x) => x.file === F && x.hint !== undefined || /does not take/.test(x.message)));
  }
  assert.throws(() => parseDockerfile('RUN echo\n', F), /no FROM|before the first FROM/);
});

test('variables expand as in Docker: defaults, alternatives, escapes, single quotes', () => {
  const v = { A: 'a', EMPTY: '' };
  assert.equal(expandVars('$A-${A}-${NOPE:-d}-${EMPTY:-e}-${EMPTY-f}-${A:+alt}-${NOPE:+x}', v), 'a-a-d-e--alt-');
  assert.equal(expandVars('\\$A and \'$A\'', v), "$A and '$A'");
  assert.equal(expandVars('${A:-${NOPE:-deep}}', {}), 'deep');
  assert.deepEqual(splitWords('a "b c" d\\ e'), ['a', '"b c"', 'd\\ e']);
  assert.equal(unquote('"b c"'), 'b c');
  const used = new Set<string>();
  expandVars('$A ${B:-x}', v, used);
  assert.deepEqual([...used].sort(), ['A', 'B']);
});

test('ARGs before FROM are for FROM lines; stages, AS names, --target and what it needs', () => {
  const text = 'ARG TAG=1\nARG REG\nFROM ${REG:-docker.io}/base:${TAG} AS deps\nRUN x\nFROM scratch AS other\nFROM deps AS app\nCOPY --from=other /a /a\nFROM busybox\n';
  const p = compileBuild(parseDockerfile(text, F), F, { buildArgs: { TAG: '2', UNUSED: 'x' }, target: 'app' });
  assert.equal(p.stages.length, 4);
  assert.deepEqual(p.stages[0].base, { kind: 'image', ref: 'docker.io/base:2' });
  assert.deepEqual(p.stages[1].base, { kind: 'scratch' });
  assert.deepEqual(p.stages[2].base, { kind: 'stage', stage: 0 });
  assert.equal(p.target, 2);
  assert.deepEqual(p.order, [0, 1, 2], 'the target and the stages it reads, dependencies first; the last stage is not built');
  assert.deepEqual(p.unusedArgs, ['UNUSED']);
  assert.equal(compileBuild(parseDockerfile(text, F), F).order.join(','), '3', 'default target: the last stage alone');
  assert.throws(() => compileBuild(parseDockerfile(text, F), F, { target: 'nope' }), /no such stage/);
  assert.throws(() => compileBuild(parseDockerfile('FROM a AS x\nFROM b AS x\n', F), F), /used twice/);
  const lines = formatBuildPlan(p);
  assert.match(lines[0], /^stage deps: FROM docker\.io\/base:2/);
  assert.ok(lines.some((l) => /RUN x .*a container on the layers so far/.test(l)));
});

test('cache keys: the same parent, instruction and inputs give the same key; any change gives another', () => {
  const k = stepKey('sha256:p', 'RUN x', { a: '1', b: '2' });
  assert.equal(stepKey('sha256:p', 'RUN x', { b: '2', a: '1' }), k, 'input order does not matter');
  assert.notEqual(stepKey('sha256:q', 'RUN x', { a: '1', b: '2' }), k);
  assert.notEqual(stepKey('sha256:p', 'RUN y', { a: '1', b: '2' }), k);
  assert.notEqual(stepKey('sha256:p', 'RUN x', { a: '1', b: '3' }), k);
  assert.match(k, /^sha256:[a-f0-9]{64}$/);
});
