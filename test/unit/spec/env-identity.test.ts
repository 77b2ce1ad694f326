// Canonicalise the environment (load/env.ts) and user/group lookup (load/identity.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseEnvFile } from '../../../src/spec/load/env.js';
import { loadYaml, problems, tempTree } from './spec-helpers.js';
import { loadSpecObject } from '../../../src/spec/load/index.js';
import { join } from 'node:path';

test('env files: KEY=VALUE, comments, export, quotes; bad lines reported', () => {
  const r = parseEnvFile('# c\nA=1\n\nexport B="two words"\nC=\'x=y\'\nnot a line\n');
  assert.deepEqual(r.env, { A: '1', B: 'two words', C: 'x=y' });
  assert.deepEqual(r.bad, [{ line: 6, text: 'not a line' }]);
});

test('env_files come first, process.env wins, PATH/HOME/TERM defaults fill the rest', async () => {
  const s = await loadYaml(`name: x
env_files: [a.env, sub/b.env]
process:
  args: [/bin/true]
  tty: true
  env: {B: from-spec}
`, {}, { 'a.env': 'A=1\nB=from-a\n', 'sub/b.env': 'C=3\nPATH=/opt/bin\n' });
  assert.deepEqual(s.process.env, { A: '1', B: 'from-spec', C: '3', PATH: '/opt/bin', HOME: '/root', TERM: 'xterm' });
});

test('default PATH, and no TERM without a tty', async () => {
  const s = await loadYaml('name: x\nprocess: {args: [/bin/true]}\n');
  assert.equal(s.process.env.PATH, '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin');
  assert.equal(s.process.env.TERM, undefined);
});

test('a bad env file line is reported at the env file\'s line', async () => {
  const d = await problems(loadYaml('name: x\nenv_files: [e.env]\nprocess: {args: [/bin/true]}\n', {}, { 'e.env': 'A=1\nB\n' }));
  assert.equal(d.length, 1);
  assert.match(d[0].file ?? '', /e\.env$/);
  assert.equal(d[0].line, 2);
});

const rootfs = {
  'rootfs/etc/passwd': 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1001:App:/home/app:/bin/sh\n',
  'rootfs/etc/group': 'root:x:0:\napp:x:1001:\nwheel:x:10:app,other\naudio:x:29:\n',
};

test('user and group names are looked up in the rootfs\'s passwd and group', async () => {
  const s = await loadYaml('name: x\nrootfs: ./rootfs\nprocess: {args: [/bin/true], user: app, groups: [audio]}\n', {}, rootfs);
  assert.equal(s.process.uid, 1000);
  assert.equal(s.process.gid, 1001);
  assert.deepEqual(s.process.groups, [29, 10]);
  assert.equal(s.process.env.HOME, '/home/app');
  assert.equal(s.process.user, 'app');
});

test('numeric ids need no lookup; group overrides the user\'s primary group', async () => {
  const s = await loadYaml('name: x\nrootfs: ./rootfs\nprocess: {args: [/bin/true], user: 1000, group: wheel}\n', {}, rootfs);
  assert.deepEqual([s.process.uid, s.process.gid], [1000, 10]);
});

test('unknown names are errors with a suggestion', async () => {
  const d = await problems(loadYaml('name: x\nrootfs: ./rootfs\nprocess: {args: [/bin/true], user: ap, group: whel}\n', {}, rootfs));
  assert.deepEqual(d.map((x) => [x.field, x.hint]), [['process.user', "did you mean 'app'?"], ['process.group', "did you mean 'wheel'?"]]);
});

test('the default rootfs uses the host root given in the options', async () => {
  const d = tempTree(rootfs);
  const s = await loadSpecObject({ name: 'x', process: { args: ['/bin/true'], user: 'app' } }, '<inline>', { hostRoot: join(d, 'rootfs') });
  assert.equal(s.process.uid, 1000);
});
