// Plans of containers from images (pure, fake image resolver): the overlay root and where each
// process field came from; read-only, one-layer, copy and too-many-layers roots; cleanup.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadSpecObject } from '../../../src/spec/load/index.js';
import { compile } from '../../../src/plan/compile.js';
import { formatPlan } from '../../../src/plan/format.js';
import { genericHost } from '../../../src/validate/host.js';
import { MOUNT_DATA_MAX } from '../../../src/plan/steps/image.js';
import type { ImageView } from '../../../src/image/apply.js';
import type { ImageRuntimeConfig } from '../../../src/image/types.js';
import { UserError } from '../../../src/errors.js';
import type { Step } from '../../../src/plan/types.js';

const host = genericHost();
const passwd = 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n';
const group = 'root:x:0:\napp:x:1000:\nstaff:x:50:app\n';
function view(config: ImageRuntimeConfig, layers = ['/img/layers/sha256/aaa', '/img/layers/sha256/bbb']): ImageView {
  return { name: 'docker.io/library/demo:1', digest: 'sha256:' + 'd'.repeat(64), config, layers, readFile: (p) => (p === '/etc/passwd' ? passwd : p === '/etc/group' ? group : undefined) };
}
async function plan(spec: object, config: ImageRuntimeConfig = { Cmd: ['/bin/sh'] }, layers?: string[], h = host) {
  const asked: string[] = [];
  const s = await loadSpecObject({ name: 'demo', namespaces: ['mount', 'pid', 'uts'], ...spec }, '<inline>', {
    image: async (ref, pull) => { asked.push(`${ref} ${pull}`); return view(config, layers); },
  });
  return { spec: s, plan: compile(s, h, { id: 'demo-1', project: 'p' }), asked };
}
const find = (steps: Step[], pred: (s: Step) => boolean) => steps.filter(pred);

test('an image root is an overlay of the layers (top first) with a private upper dir, removed at cleanup', async () => {
  const { plan: p, asked, spec } = await plan({ rootfs: { image: 'demo:1' } }, { Entrypoint: ['/entry'], Cmd: ['run'], Env: ['PATH=/opt/bin:/bin'], WorkingDir: '/srv', User: 'app' });
  assert.deepEqual(asked, ['demo:1 missing']);
  const ov = find(p.steps, (s) => s.op === 'mount' && s.fstype === 'overlay');
  assert.equal(ov.length, 1);
  const m = ov[0] as Step & { op: 'mount' };
  assert.equal(m.phase, 'child');
  assert.equal(m.target, p.rootDir);
  assert.equal(m.data, 'lowerdir=/img/layers/sha256/bbb:/img/layers/sha256/aaa,upperdir=/var/lib/niwa/containers/p/demo-1/upper,workdir=/var/lib/niwa/containers/p/demo-1/work,volatile');
  const prep = p.steps.filter((s) => s.phase === 'prepare' && s.op === 'mkdir').map((s) => (s as { path: string }).path);
  for (const d of ['/var/lib/niwa/containers/p/demo-1', '/var/lib/niwa/containers/p/demo-1/upper', '/var/lib/niwa/containers/p/demo-1/work']) assert.ok(prep.includes(d), d);
  const clean = p.steps.filter((s) => s.phase === 'cleanup').map((s) => `${s.op} ${(s as { path?: string }).path}`);
  assert.ok(clean.includes('rmtree /var/lib/niwa/containers/p/demo-1'), clean.join('\n'));
  // process fields from the image, the user looked up in the image's /etc/passwd and /etc/group
  const exec = p.steps.find((s) => s.op === 'execve') as Step & { op: 'execve' };
  assert.deepEqual(exec.argv, ['/entry', 'run']);
  assert.ok(exec.env.includes('PATH=/opt/bin:/bin'));
  assert.ok(exec.env.includes('HOME=/home/app'));
  assert.match(exec.why, /image Entrypoint \+ Cmd/);
  assert.equal(spec.process.uid, 1000);
  assert.equal(spec.process.gid, 1000);
  assert.deepEqual(spec.process.groups, [50]);
  assert.equal(spec.process.cwd, '/srv');
  assert.ok(p.steps.some((s) => s.op === 'mkdir' && s.phase === 'child' && s.path === '/srv'), 'the WorkingDir is created');
  assert.deepEqual(p.image, { ref: 'demo:1', name: 'docker.io/library/demo:1', digest: 'sha256:' + 'd'.repeat(64), fromImage: spec.rootfs.kind === 'image' ? spec.rootfs.image!.fromImage : {} });
  const text = formatPlan(p);
  assert.match(text, /^image: docker\.io\/library\/demo:1@sha256:d{64}$/m);
  assert.match(text, /process\.args ← Entrypoint \+ Cmd/);
});

test('the overlay is mounted before /proc and the root switch, after MS_PRIVATE', async () => {
  const { plan: p } = await plan({ rootfs: { image: 'demo:1' } });
  const idx = (pred: (s: Step) => boolean) => p.steps.findIndex(pred);
  const priv = idx((s) => s.op === 'mount' && s.flags.includes('MS_PRIVATE'));
  const ov = idx((s) => s.op === 'mount' && s.fstype === 'overlay');
  const proc = idx((s) => s.op === 'mount' && s.fstype === 'proc');
  const pivot = idx((s) => s.op === 'pivot_root');
  assert.ok(priv < ov && ov < proc && proc < pivot, `${priv} ${ov} ${proc} ${pivot}`);
});

test('read-only: set up with an upper dir (mount points, /etc/hosts), then the root is remounted read-only', async () => {
  const { plan: ro } = await plan({ rootfs: { image: 'demo:1', readonly: true } });
  const i = ro.steps.findIndex((s) => s.op === 'mount' && s.fstype === 'overlay');
  assert.match((ro.steps[i] as Step & { op: 'mount' }).data!, /upperdir=/);
  const hosts = ro.steps.findIndex((s) => s.op === 'write' && s.path === '/etc/hosts');
  const remount = ro.steps.findIndex((s) => s.op === 'mount' && s.target === ro.rootDir && s.flags.includes('MS_RDONLY'));
  const pivot = ro.steps.findIndex((s) => s.op === 'pivot_root');
  assert.ok(i < hosts && hosts < remount && remount < pivot, `${i} ${hosts} ${remount} ${pivot}`);
});

test('too many layers for one mount page: relative names from the layers dir, then a copied root', async () => {
  const many = Array.from({ length: 50 }, (_, i) => `/var/lib/niwa/images/layers/sha256/${i.toString(16).padStart(64, '0')}`);
  const { plan: rel } = await plan({ rootfs: { image: 'demo:1' } }, undefined, many);
  const i = rel.steps.findIndex((s) => s.op === 'mount' && s.fstype === 'overlay');
  const m = rel.steps[i] as Step & { op: 'mount' };
  assert.ok(m.data!.length <= MOUNT_DATA_MAX);
  assert.ok(m.data!.startsWith(`lowerdir=${(49).toString(16).padStart(64, '0')}:`), m.data!.slice(0, 80));
  assert.deepEqual(rel.steps[i - 1], { ...rel.steps[i - 1], op: 'chdir', path: '/var/lib/niwa/images/layers/sha256' });
  const huge = Array.from({ length: 80 }, (_, i) => `/var/lib/niwa/images/layers/sha256/${i.toString(16).padStart(64, '0')}`);
  const { plan: cp } = await plan({ rootfs: { image: 'demo:1' } }, undefined, huge);
  const c = cp.steps.find((s) => s.op === 'copyroot') as Step & { op: 'copyroot' };
  assert.equal(c.phase, 'prepare');
  assert.equal(c.layers.length, 80);
  assert.match(c.why, /do not fit/);
  assert.ok(cp.steps.some((s) => s.op === 'mount' && s.source === c.path && s.target === cp.rootDir));
});

test('no overlayfs on the host: the copy snapshotter, said in the plan', async () => {
  const { plan: p } = await plan({ rootfs: { image: 'demo:1' } }, undefined, undefined, { ...host, snapshotter: 'copy' });
  const c = p.steps.find((s) => s.op === 'copyroot')!;
  assert.match(c.why, /overlayfs is not available/);
  assert.ok(!p.steps.some((s) => s.op === 'mount' && s.fstype === 'overlay'));
});

test('image volumes: an anonymous volume per container, bound at the path', async () => {
  const { plan: p } = await plan({ rootfs: { image: 'demo:1' } }, { Cmd: ['x'], Volumes: { '/data': {} } });
  assert.ok(p.steps.some((s) => s.phase === 'prepare' && s.op === 'mkdir' && s.path === '/var/lib/niwa/containers/p/demo-1/volumes/0'));
  assert.ok(p.steps.some((s) => s.phase === 'child' && s.op === 'mount' && s.source === '/var/lib/niwa/containers/p/demo-1/volumes/0' && s.target === '/data'));
});

test('errors: no command anywhere, entrypoint without an image, a user the image lacks, image without a mount namespace', async () => {
  await assert.rejects(loadSpecObject({ name: 'x' }), (e: UserError) => e.details.some((d) => d.field === 'process.args' && /required/.test(d.message)));
  await assert.rejects(loadSpecObject({ name: 'x', process: { args: ['/bin/true'], entrypoint: ['/x'] } }), (e: UserError) => e.details.some((d) => d.field === 'process.entrypoint'));
  await assert.rejects(plan({ rootfs: { image: 'demo:1' } }, {}), (e: UserError) => e.details.some((d) => d.field === 'rootfs.image' && /neither Entrypoint nor Cmd/.test(d.message)));
  await assert.rejects(plan({ rootfs: { image: 'demo:1' }, process: { user: 'nobody2' } }), (e: UserError) => e.details.some((d) => d.field === 'process.user' && /no user 'nobody2' in image docker.io\/library\/demo:1/.test(d.message)));
  await assert.rejects(plan({ rootfs: { image: 'demo:1' }, namespaces: ['pid'], root: 'chroot' }), (e: UserError) => e.details.some((d) => d.field === 'rootfs.image' && /mount namespace/.test(d.message)));
  // without a resolver (plain validate), an image spec with no command is accepted unread
  const s = await loadSpecObject({ name: 'x', namespaces: ['mount'], rootfs: { image: 'demo:1' } });
  assert.equal(s.rootfs.kind, 'image');
  assert.throws(() => compile(s, host, { id: 'x', project: 'p' }), (e: UserError) => e.code === 'E_IMAGE_UNRESOLVED');
  // a bad reference from the resolver is a spec error at rootfs.image
  await assert.rejects(loadSpecObject({ name: 'x', namespaces: ['mount'], rootfs: { image: 'UPPER' } }, '<inline>', {
    image: async () => { throw new UserError('E_IMAGE_REF', "invalid reference 'UPPER'", [], 'repository names are lowercase'); },
  }), (e: UserError) => e.details.some((d) => d.field === 'rootfs.image' && /invalid reference/.test(d.message) && d.hint === 'repository names are lowercase'));
});

test('a user namespace that moves ids: a copied root with owners shifted into the map, its directories searchable', async () => {
  const map = [{ container_id: 0, host_id: 100000, size: 65536 }];
  const { plan: p } = await plan({ rootfs: { image: 'demo:1' }, namespaces: ['user', 'mount', 'pid'], uid_map: map, gid_map: map });
  const c = p.steps.find((s) => s.op === 'copyroot') as Step & { op: 'copyroot' };
  assert.deepEqual(c.uidMap, map);
  assert.match(c.why, /shifted into the map/);
  const dirs = p.steps.filter((s) => s.phase === 'prepare' && s.op === 'mkdir' && s.path.startsWith('/var/lib/niwa/containers')) as (Step & { op: 'mkdir' })[];
  assert.deepEqual(dirs.map((d) => [d.path, d.mode]), [['/var/lib/niwa/containers', 0o711], ['/var/lib/niwa/containers/p', 0o711], ['/var/lib/niwa/containers/p/demo-1', 0o711]]);
  // the identity map (the default: root to the invoking root) keeps the shared overlay
  const { plan: id } = await plan({ rootfs: { image: 'demo:1' }, namespaces: ['user', 'mount', 'pid'] });
  assert.ok(id.steps.some((s) => s.op === 'mount' && s.fstype === 'overlay'));
});

test('validate without reading the image still checks its reference', async () => {
  await assert.rejects(loadSpecObject({ name: 'x', namespaces: ['mount'], rootfs: { image: 'Bad/Name:1' } }), (e: UserError) => e.details.some((d) => d.field === 'rootfs.image' && /must be lowercase/.test(d.message)));
  const ok = await loadSpecObject({ name: 'x', namespaces: ['mount'], rootfs: { image: '127.0.0.1:5000/app@sha256:' + 'a'.repeat(64) } });
  assert.equal(ok.rootfs.kind, 'image');
});
