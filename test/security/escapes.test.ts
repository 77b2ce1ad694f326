// Attack: a hostile rootfs (as an image or a build could bring) whose /proc, /dev, /sys, /tmp and
// /etc/hosts are symlinks to host paths, absolute or climbing out with `..` (the runc CVE-2019-19921
// and CVE-2021-30465 family): everything niwa mounts or creates there must land inside the rootfs.
// Plus `..` in mount targets, and the fds and cwd a container starts with.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { needsRoot, needsStage } from '../helpers.js';
import { securityBox } from './box.js';

const skip = needsRoot() || needsStage();
const PROJECT = 'sec-escapes';
const box = securityBox('niwa-sec-esc-', PROJECT, skip);
const run = (name: string, yaml: string) => box.run(name, yaml);

test('a rootfs whose /proc, /dev, /sys, /etc and a mount target are symlinks to host paths: every mount lands inside it', { skip }, () => {
  const host = join(box.dir, 'host');
  const targets = ['proc', 'dev', 'sys', 'etc'];
  for (const t of targets) { mkdirSync(join(host, t), { recursive: true }); writeFileSync(join(host, t, 'keep'), 'untouched'); }
  const rootfs = join(box.dir, 'rootfs');
  mkdirSync(join(rootfs, 'usr'), { recursive: true });
  for (const l of ['bin', 'lib', 'lib64', 'sbin']) symlinkSync(`usr/${l}`, join(rootfs, l));
  symlinkSync(join(host, 'proc'), join(rootfs, 'proc')); // absolute
  symlinkSync('../../../../../../../..' + join(host, 'dev'), join(rootfs, 'dev')); // relative, climbing out
  symlinkSync(join(host, 'sys'), join(rootfs, 'sys'));
  // (the links lead through the root's /tmp, so it stays a directory: a /tmp link to a host path below
  //  the host's /tmp would be a loop, which fails closed with ELOOP)
  mkdirSync(join(rootfs, 'tmp'));
  // a mount target through a link chain: /data -> /tmp/x -> the host's tmp dir
  const hostTmp = mkdtempSync('/var/tmp/niwa-sec-esc-');
  writeFileSync(join(hostTmp, 'keep'), 'untouched');
  symlinkSync('../../../..' + hostTmp, join(rootfs, 'data'));
  symlinkSync(join(host, 'etc'), join(rootfs, 'etc'));
  const script = 'echo pid=$$; head -c1 /dev/null && echo dev-ok; ls /sys/class >/dev/null && echo sys-ok; echo x > /data/file && echo tmp-ok; cat /etc/hostname 2>/dev/null; ls /proc/1/ns >/dev/null && echo proc-ok';
  const r = run('links', `rootfs: ${rootfs}\nnamespaces: [mount, uts, ipc, pid, net]\nhostname: links\nmounts:\n  - {type: bind, source: /usr, target: /usr, readonly: true}\n  - {type: tmpfs, target: /data}\nprocess:\n  args: [/bin/sh, -c, ${JSON.stringify(script)}]\n`);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /pid=1/);
  for (const ok of ['dev-ok', 'sys-ok', 'tmp-ok', 'proc-ok']) assert.match(r.stdout, new RegExp(ok), r.stdout + r.stderr);
  for (const t of targets) assert.deepEqual(readdirSync(join(host, t)), ['keep'], `host ${t} untouched`);
  assert.deepEqual(readdirSync(hostTmp), ['keep'], 'host /var/tmp dir untouched');
  rmSync(hostTmp, { recursive: true, force: true });
});

test('.. in a mount target: normalised to a path inside the root, or refused (run\'s 125) when the target is not absolute', { skip }, () => {
  const r = run('dotdot', 'mounts: [{type: tmpfs, target: /tmp/../../../etc}]\nprocess:\n  args: [/bin/true]\n');
  // normalised to /etc: inside the container, which is fine; a target that stays above / after normalising is an error
  assert.equal(r.status, 0, r.stderr);
  const bad = run('dotdot2', 'mounts: [{type: bind, source: /tmp, target: "../etc"}]\nprocess:\n  args: [/bin/true]\n');
  assert.equal(bad.status, 125, bad.stderr); // run passes statuses through: an invalid spec is Docker's 125
  assert.match(bad.stderr, /mounts\.0\.target: '\.\.\/etc' is not an absolute path/);
});

test('the program starts with its stdio only, cwd / and no fd, cwd or root on the host (×10)', { skip }, () => {
  for (let i = 0; i < 10; i++) {
    const r = run(`fds${i}`, 'process:\n  args: [/bin/sh, -c, "ls /proc/self/fd | tr \'\\\\n\' \' \'; echo; readlink /proc/self/cwd /proc/self/root; readlink /proc/1/cwd"]\n');
    assert.equal(r.status, 0, r.stderr);
    const [fds, cwd, root] = r.stdout.trim().split('\n');
    assert.equal(fds.trim(), '0 1 2 3', 'stdio and the fd ls opened');
    assert.equal(cwd, '/');
    assert.equal(root, '/');
  }
});
