// Phase 2 (plain.ts): function hooks lifted out, other functions reported, undefined dropped.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { newContext } from '../../../src/spec/load/context.js';
import { FUNCTION_HOOK_MARK, toPlain } from '../../../src/spec/load/plain.js';

test('function hooks become a marker and are kept by path', () => {
  const ctx = newContext('<inline>');
  const fn = () => {};
  const out = toPlain({ hooks: { before_start: fn, teardown: ['echo', fn] } }, ctx) as { hooks: Record<string, unknown> };
  assert.deepEqual(out.hooks, { before_start: FUNCTION_HOOK_MARK, teardown: ['echo', FUNCTION_HOOK_MARK] });
  assert.equal(ctx.functions.get('hooks.before_start'), fn);
  assert.equal(ctx.functions.get('hooks.teardown.1'), fn);
  assert.deepEqual(ctx.errors, []);
});

test('a function anywhere else is an error and is dropped', () => {
  const ctx = newContext('<inline>');
  const out = toPlain({ process: { args: ['/bin/true'], env: () => ({}) } }, ctx) as { process: Record<string, unknown> };
  assert.equal('env' in out.process, false);
  assert.equal(ctx.errors.length, 1);
  assert.equal(ctx.errors[0].field, 'process.env');
});

test('undefined values are dropped so optional fields can be written as undefined', () => {
  const ctx = newContext('<inline>');
  assert.deepEqual(toPlain({ a: undefined, b: 1 }, ctx), { b: 1 });
});
