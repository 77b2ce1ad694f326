// Unit parsing (load/units.ts): sizes, modes, CPU counts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCpus, parseMode, parseSize, parseSizeOrUnlimited } from '../../../src/spec/load/units.js';

test('sizes use binary units, with or without iB, and plain numbers are bytes', () => {
  const cases: [string | number, number | undefined][] = [
    ['32M', 32 * 1024 ** 2], ['1.5G', 1.5 * 1024 ** 3], ['512k', 512 * 1024], ['2GiB', 2 * 1024 ** 3], ['3MB', 3 * 1024 ** 2],
    ['1T', 1024 ** 4], ['100', 100], ['100b', 100], [4096, 4096], ['8 M', 8 * 1024 ** 2],
    ['lots', undefined], ['-1', undefined], [-5, undefined], [1.5, undefined], ['1.5.2M', undefined], ['8Q', undefined],
  ];
  for (const [input, want] of cases) assert.equal(parseSize(input), want, `parseSize(${JSON.stringify(input)})`);
});

test('memory_swap sizes accept -1 and unlimited', () => {
  assert.equal(parseSizeOrUnlimited(-1), -1);
  assert.equal(parseSizeOrUnlimited('unlimited'), -1);
  assert.equal(parseSizeOrUnlimited('1G'), 1024 ** 3);
});

test('modes: strings are octal, numbers are taken as they are', () => {
  assert.equal(parseMode('1777'), 0o1777);
  assert.equal(parseMode('0755'), 0o755);
  assert.equal(parseMode('0o700'), 0o700);
  assert.equal(parseMode(0o1777), 0o1777);
  assert.equal(parseMode('1789'), undefined);
  assert.equal(parseMode(0o17777), undefined);
});

test('cpus: positive numbers from numbers or strings', () => {
  assert.equal(parseCpus(0.5), 0.5);
  assert.equal(parseCpus('2'), 2);
  assert.equal(parseCpus(0), undefined);
  assert.equal(parseCpus('half'), undefined);
});
