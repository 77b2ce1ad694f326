// Hostile images against the running root: an image whose /etc, /proc, /dev, WorkingDir or VOLUME
// lead outside through absolute or `..` symlinks, and a container that writes over files of its
// layers. niwa writes /etc/hosts, mounts /proc /dev /sys and the volumes, and creates the WorkingDir
// inside the root (openat2 RESOLVE_IN_ROOT): a sentinel directory on the host must stay untouched,
// and the shared layer directories must be byte-for-byte what they were, with nothing left behind.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { niwa, needsRoot, needsStage } from '../helpers.js';
import { shellImageEntries, hostFiles, writeOciLayout, type FixtureEntry } from '../image-fixtures.js';

const skip = needsRoot() || needsStage();
let work = '';
let sentinel = '';
let data = '';
let state = '';
const env = () => ({ ...process.env, NIWA_DATA_ROOT: data, NIWA_STATE_ROOT: state });

/** Every path under dir with its type and content hash (symlinks as their target). */
function tree(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const f of readdirSync(d).sort()) {
      const p = join(d, f);
      const st = lstatSync(p);
      if (st.isSymbolicLink()) out.push(`${p} -> ${readlinkSync(p)}`);
      else if (st.isDirectory()) { out.push(`${p}/ ${st.mode.toString(8)}`); walk(p); }
      else out.push(`${p} ${st.mode.toString(8)} ${st.isFile() ? createHash('sha256').update(readFileSync(p)).digest('hex').slice(0, 16) : `dev ${st.rdev}`}`);
    }
  };
  walk(dir);
  return out;
}

before(async () => {
  if (skip) return;
  work = mkdtempSync(join(tmpdir(), 'niwa-imgsec-'));
  sentinel = join(work, 'host-sentinel');
  data = join(work, 'data');
  state = join(work, 'state');
  for (const d of [sentinel, join(sentinel, 'etc'), state]) mkdirSync(d, { recursive: true });
  writeFileSync(join(sentinel, 'etc', 'hosts'), 'the host sentinel\n');
  const hostile: FixtureEntry[] = [
    ...shellImageEntries().filter((e) => !e.name.startsWith('etc/') && e.name !== 'etc/'),
    ...hostFiles(['/bin/touch', '/bin/grep'].filter((p) => existsSync(p))),
    { name: 'etc', type: 'symlink', linkname: join(sentinel, 'etc') },
    { name: 'proc', type: 'symlink', linkname: `../../../../../../..${sentinel}/proc` },
    { name: 'dev', type: 'symlink', linkname: `${sentinel}/dev` },
    { name: 'sys', type: 'symlink', linkname: `/../../..${sentinel}/sys` },
    { name: 'data', type: 'symlink', linkname: `${sentinel}/vol` },
    { name: 'wd', type: 'symlink', linkname: `${sentinel}/wd` },
    { name: 'lower-file', content: 'from the layer\n' },
  ];
  const layout = await writeOciLayout(join(work, 'hostile'), {
    layers: [hostile],
    config: { Cmd: ['/bin/sh', '-c', 'echo x > /lower-file; echo y >> /etc/hosts; touch /proc/../escaped 2>/dev/null; ls /wd >/dev/null; echo ran'], WorkingDir: '/wd/deeper', Volumes: { '/data': {} } },
    tag: '1',
  });
  const r = niwa(['image', 'import', layout.dir, 'test/hostile:1'], { env: env() });
  assert.equal(r.status, 0, r.stderr);
});

after(() => { if (work) rmSync(work, { recursive: true, force: true }); });

test('symlinks of an image never lead niwa\'s setup, or the container\'s writes, out of its root', { skip }, () => {
  const spec = join(work, 'hostile.container.yaml');
  writeFileSync(spec, 'name: hostile\nnamespaces: [mount, pid, uts, ipc, net]\nrootfs: {image: test/hostile:1}\n');
  const hostBefore = tree(sentinel);
  const layers = join(data, 'images', 'layers');
  const layersBefore = tree(layers);
  for (let i = 0; i < 3; i++) {
    const r = niwa(['run', spec], { env: env(), timeout: 60_000 });
    assert.equal(r.status, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /^ran$/m);
    assert.deepEqual(tree(sentinel), hostBefore, 'the host sentinel is untouched');
    assert.deepEqual(tree(layers), layersBefore, 'the shared layers are untouched');
    assert.equal(readFileSync(join(sentinel, 'etc', 'hosts'), 'utf8'), 'the host sentinel\n');
  }
  assert.deepEqual(existsSync(join(data, 'containers')) ? readdirSync(join(data, 'containers'), { recursive: true }) : [], [], 'no container dir left');
  assert.equal(readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes(work)).length, 0, 'no mount left');
});
