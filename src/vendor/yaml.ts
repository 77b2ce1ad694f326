// The `yaml` package, loaded as one pre-bundled file when the build made it (scripts/build.mjs:
// dist/vendor/yaml.cjs, ~10 ms to load instead of ~30 ms for its many ESM modules), else as is.
import { createRequire } from 'node:module';
import type * as Y from 'yaml';

const require = createRequire(import.meta.url);
function load(): typeof Y {
  try {
    return require('../../vendor/yaml.cjs') as typeof Y;
  } catch {
    return require('yaml') as typeof Y;
  }
}
const yaml = load();
export const isAlias: typeof Y.isAlias = yaml.isAlias;
export const isMap: typeof Y.isMap = yaml.isMap;
export const isPair: typeof Y.isPair = yaml.isPair;
export const isScalar: typeof Y.isScalar = yaml.isScalar;
export const isSeq: typeof Y.isSeq = yaml.isSeq;
export const parseDocument: typeof Y.parseDocument = yaml.parseDocument;
export const stringify: typeof Y.stringify = yaml.stringify;
export const LineCounter: typeof Y.LineCounter = yaml.LineCounter;
export type LineCounter = Y.LineCounter;
export type { Document, Node } from 'yaml';
