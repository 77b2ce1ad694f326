// Provisioned specs: the TS builder's .provision(), the schema accepting rootfs.provision, and the
// one-stage build a provision list stands for.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { container } from '../../../src/spec/define.js';
import { provisionInstructions, provisionedName } from '../../../src/build/provision.js';
import { compileBuild } from '../../../src/build/plan.js';
import { loadSpecObject } from '../../../src/spec/load/index.js';

test('.provision() on the builder appends steps to rootfs.provision, keeping the image', () => {
  const s = container('web').image('debian:bookworm-slim').provision({ run: 'apt-get update' }).provision({ copy: { source: './app', target: '/app' } }).toSpec();
  assert.deepEqual(s.rootfs, { image: 'debian:bookworm-slim', provision: [{ run: 'apt-get update' }, { copy: { source: './app', target: '/app' } }] });
});

test('a provision list is FROM + one RUN or COPY per step, a single stage to build', () => {
  const i = provisionInstructions('base:1', [{ run: 'echo a' }, { run: ['/bin/true'] }, { copy: { source: 'x', target: '/y/', chmod: '0755' } }]);
  assert.deepEqual(i.map((x) => x.keyword), ['FROM', 'RUN', 'RUN', 'COPY']);
  assert.equal(i[1].args, 'echo a');
  assert.deepEqual(i[2].json, ['/bin/true']);
  assert.deepEqual(i[3].json, ['x', '/y/']);
  assert.deepEqual(i[3].flags, { chmod: '0755' });
  const p = compileBuild(i, 'prov');
  assert.deepEqual(p.order, [0]);
  assert.deepEqual(p.stages[0].base, { kind: 'image', ref: 'base:1' });
  assert.match(provisionedName('Web App', 'base:1', [{ run: 'x' }]), /^localhost\/niwa-provisioned\/web-app:[a-f0-9]{16}$/);
  assert.notEqual(provisionedName('w', 'base:1', [{ run: 'x' }]), provisionedName('w', 'base:1', [{ run: 'y' }]));
});

test('the schema takes rootfs.provision, and refuses a step that is neither run nor copy, or provision without an image', async () => {
  await loadSpecObject({ name: 'p', rootfs: { image: 'busybox', provision: [{ run: 'true' }, { copy: { source: 'a', target: '/a' } }] }, process: { args: ['/bin/true'] } }, '<inline>', { skipConsistency: true });
  await assert.rejects(loadSpecObject({ name: 'p', rootfs: { image: 'busybox', provision: [{ shell: 'x' }] }, process: { args: ['/bin/true'] } }, '<inline>', { skipConsistency: true }), (e: { details?: { field?: string }[] }) => Boolean(e.details?.some((d) => d.field?.startsWith('rootfs.provision'))));
  await assert.rejects(loadSpecObject({ name: 'p', rootfs: { path: '/srv', provision: [{ run: 'x' }] }, process: { args: ['/bin/true'] } }, '<inline>', { skipConsistency: true }), (e: { details?: { message: string }[] }) => Boolean(e.details?.some((d) => /rootfs\.image is missing/.test(d.message))));
});
