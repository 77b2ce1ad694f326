import { loadSpec } from '../dist/src/spec/load/index.js';
import { formatError } from '../dist/src/errors.js';
const placeholder = { default_action: 'errno', syscalls: [{ names: ['read'], action: 'allow' }] };
for (const f of process.argv.slice(2)) {
  const t0 = performance.now();
  try { const s = await loadSpec(f, { defaultSeccompProfile: placeholder }); delete s.positions; console.log(JSON.stringify(s, null, 1).slice(0, 3000)); }
  catch (e) { console.log(formatError(e)); }
  console.log('ms', performance.now() - t0);
}
