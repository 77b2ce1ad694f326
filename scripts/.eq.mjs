import { loadSpec } from '../dist/src/spec/load/index.js';
import { isDeepStrictEqual } from 'node:util';
const a = await loadSpec('haconiwa.example.ts'); const b = await loadSpec('examples/haconiwa.container.yaml');
for (const s of [a,b]) { delete s.file; delete s.positions; }
console.log(isDeepStrictEqual(a,b));
for (const k of Object.keys(a)) if (!isDeepStrictEqual(a[k], b[k])) console.log(k, JSON.stringify(a[k]), JSON.stringify(b[k]));
console.log(JSON.stringify({...a, seccomp: undefined, maskedPaths: undefined}).slice(0, 2500));
