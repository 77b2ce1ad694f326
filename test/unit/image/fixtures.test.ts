// The test image builders themselves: tars hold exactly the entries asked for, and skopeo/umoci accept
// the OCI layouts, OCI archives and docker-save archives they write (so they can be pushed to a registry).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tar, { type Header } from 'tar-stream';
import { layerTar, hostFiles, writeOciLayout, writeOciArchive, dockerSaveArchive, shellImageEntries, sha256 } from '../../image-fixtures.js';
import { hostPlatform } from '../../../src/image/platform.js';
import { needsRoot } from '../../helpers.js';

const has = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
const noSkopeo = has('skopeo') ? false : 'skopeo not installed';
const noUmoci = has('umoci') ? false : 'umoci not installed';

function withTmp<T>(f: (dir: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'niwa-fixtures-test-'));
  return f(dir).finally(() => rmSync(dir, { recursive: true, force: true }));
}

function run(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

async function readTar(buf: Buffer): Promise<Header[]> {
  const ex = tar.extract();
  const out: Header[] = [];
  const done = (async () => { for await (const e of ex) { out.push(e.header); e.resume(); } })();
  ex.end(buf);
  await done;
  return out;
}

test('layerTar writes hostile names, whiteouts, links, devices and PAX xattrs verbatim', async () => {
  const buf = await layerTar([
    { name: '../evil', content: 'x' },
    { name: '/abs', content: 'y', mode: 0o4755, uid: 1000, gid: 1000 },
    { name: 'l', type: 'symlink', linkname: '/tmp/x' },
    { name: 'l/f', content: 'z' },
    { name: 'dir/', type: 'dir' },
    { name: 'dir/.wh.gone', content: '' },
    { name: 'dir/.wh..wh..opq', content: '' },
    { name: 'hard', type: 'link', linkname: 'abs' },
    { name: 'null', type: 'char', devmajor: 1, devminor: 3 },
    { name: 'pipe', type: 'fifo' },
    { name: 'x', content: 'v', pax: { 'SCHILY.xattr.user.test': 'hello' } },
  ]);
  const h = await readTar(buf);
  assert.deepEqual(h.map((x) => x.name), ['../evil', '/abs', 'l', 'l/f', 'dir/', 'dir/.wh.gone', 'dir/.wh..wh..opq', 'hard', 'null', 'pipe', 'x']);
  assert.equal(h[1].mode, 0o4755);
  assert.equal(h[1].uid, 1000);
  assert.equal(h[2].linkname, '/tmp/x');
  assert.equal(h[7].type, 'link');
  assert.equal(h[8].type, 'character-device');
  assert.equal(h[8].devmajor, 1);
  assert.equal((h[10].pax as Record<string, string>)['SCHILY.xattr.user.test'], 'hello');
  // the same entries give the same bytes (fixed mtime), so digests are stable across runs
  assert.equal(sha256(await layerTar([{ name: 'a', content: '1' }])), sha256(await layerTar([{ name: 'a', content: '1' }])));
});

test('hostFiles brings /bin/sh with its libraries; the result runs under chroot', { skip: needsRoot() }, async () => {
  const entries = hostFiles(['/bin/sh']);
  const names = entries.map((e) => e.name);
  assert.ok(names.includes('bin/sh'));
  assert.ok(names.some((n) => /libc\.so/.test(n)), names.join(' '));
  await withTmp(async (dir) => {
    const root = join(dir, 'root');
    const file = join(dir, 'l.tar');
    const { writeFileSync, mkdirSync } = await import('node:fs');
    mkdirSync(root);
    writeFileSync(file, await layerTar(shellImageEntries()));
    run('tar', ['-xf', file, '-C', root]);
    const out = run('chroot', [root, '/bin/sh', '-c', 'echo hi; /bin/cat /etc/passwd | /usr/bin/env head -c 4 2>/dev/null || /bin/cat /etc/group; /usr/bin/id -u']);
    assert.match(out, /^hi\n/);
    assert.match(out, /0\n$/);
  });
});

test('writeOciLayout: skopeo inspects it and copies it (verifying every digest); umoci reads it', { skip: noSkopeo || noUmoci }, async () => {
  await withTmp(async (dir) => {
    const layout = join(dir, 'layout');
    for (const compression of ['gzip', 'zstd', 'none'] as const) {
      const tag = `t-${compression}`;
      const l = await writeOciLayout(layout, { layers: [[{ name: 'a', content: 'A' }], [{ name: 'b/', type: 'dir' }, { name: 'b/.wh.c', content: '' }]], compression, tag, config: { Cmd: ['/bin/true'], Env: ['A=1'] } });
      const info = JSON.parse(run('skopeo', ['inspect', `oci:${layout}:${tag}`]));
      assert.equal(info.Digest, l.digest);
      assert.equal(info.Architecture, hostPlatform().architecture);
      assert.equal(info.Os, 'linux');
      assert.deepEqual(info.Layers, l.images[0].layers.map((x) => x.digest));
      const cfg = JSON.parse(run('skopeo', ['inspect', '--config', `oci:${layout}:${tag}`]));
      assert.deepEqual(cfg.rootfs.diff_ids, l.images[0].tars.map(sha256));
      run('skopeo', ['copy', '-q', `oci:${layout}:${tag}`, `dir:${join(dir, 'copy-' + compression)}`]);
      assert.ok(existsSync(join(dir, 'copy-' + compression, 'manifest.json')));
      assert.match(run('umoci', ['stat', '--image', `${layout}:${tag}`]), /niwa test fixture layer 1/);
    }
    const index = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8'));
    assert.deepEqual(index.manifests.map((m: { annotations: Record<string, string> }) => m.annotations['org.opencontainers.image.ref.name']), ['t-gzip', 't-zstd', 't-none']);
  });
});

test('writeOciLayout with platforms writes a nested index skopeo resolves to this host', { skip: noSkopeo }, async () => {
  await withTmp(async (dir) => {
    const host = hostPlatform();
    const other = host.architecture === 'amd64' ? { os: 'linux', architecture: 'arm64', variant: 'v8' } : { os: 'linux', architecture: 'amd64' };
    const l = await writeOciLayout(dir, { layers: [[{ name: 'a', content: 'A' }]], platforms: [other, host] });
    assert.ok(l.indexDigest);
    assert.equal(l.digest, l.indexDigest);
    const raw = JSON.parse(run('skopeo', ['inspect', '--raw', `oci:${dir}:latest`]));
    assert.equal(raw.manifests.length, 2);
    const info = JSON.parse(run('skopeo', ['inspect', `oci:${dir}:latest`]));
    assert.equal(info.Digest, l.indexDigest); // skopeo names the list, and shows the instance it chose:
    assert.equal(info.Architecture, host.architecture);
    assert.notEqual(l.images[0].configDigest, l.images[1].configDigest);
    run('skopeo', ['copy', '-q', '--all', `oci:${dir}:latest`, `dir:${join(dir, 'copy')}`]);
  });
});

test('writeOciArchive and dockerSaveArchive: skopeo reads both', { skip: noSkopeo }, async () => {
  await withTmp(async (dir) => {
    const oci = await writeOciArchive(join(dir, 'img.oci.tar'), { layers: [[{ name: 'a', content: 'A' }]], tag: 'v1' });
    assert.equal(JSON.parse(run('skopeo', ['inspect', `oci-archive:${join(dir, 'img.oci.tar')}:v1`])).Digest, oci.digest);
    const ds = await dockerSaveArchive(join(dir, 'img.docker.tar'), { layers: [[{ name: 'a', content: 'A' }], [{ name: 'b', content: 'B' }]], repoTags: ['busybox:latest'], config: { Cmd: ['sh'] } });
    // docker-archive:FILE:REF finds the image by its RepoTags entry
    run('skopeo', ['inspect', `docker-archive:${ds.file}:busybox:latest`]);
    const cfg = JSON.parse(run('skopeo', ['inspect', '--config', `docker-archive:${ds.file}`]));
    assert.deepEqual(cfg.rootfs.diff_ids, ds.diffIds);
    run('skopeo', ['copy', '-q', `docker-archive:${ds.file}`, `oci:${join(dir, 'from-docker')}:x`]);
  });
});
