// The image config fills what a spec leaves out, as Docker does (pure): Entrypoint + Cmd combined
// with args/entrypoint, Env under the spec's, WorkingDir, User, Healthcheck, StopSignal, Labels, Volumes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyImageConfig, envList, imageHealthcheck } from '../../../src/image/apply.js';
import type { ContainerSpec } from '../../../src/spec/types.js';

const cfg = { Entrypoint: ['/entry.sh'], Cmd: ['serve', '--port', '80'] };
const argv = (spec: Partial<ContainerSpec>, config: object = cfg) => applyImageConfig({ name: 'x', ...spec } as ContainerSpec, { config }).spec.process.args;

test('Entrypoint + Cmd: args replaces Cmd, entrypoint replaces Entrypoint and drops Cmd', () => {
  assert.deepEqual(argv({}), ['/entry.sh', 'serve', '--port', '80']);
  assert.deepEqual(argv({ process: { args: ['shell'] } }), ['/entry.sh', 'shell']);
  assert.deepEqual(argv({ process: { entrypoint: ['/bin/sh', '-c'] } }), ['/bin/sh', '-c']);
  assert.deepEqual(argv({ process: { entrypoint: ['/bin/echo'], args: ['hi'] } }), ['/bin/echo', 'hi']);
  assert.deepEqual(argv({ process: { entrypoint: [], args: ['/bin/true'] } }), ['/bin/true']);
  assert.equal(argv({}, {}), undefined, 'an image with neither leaves args unset (the loader reports it)');
  assert.deepEqual(argv({}, { Cmd: ['sh'] }), ['sh']);
});

test('fromImage names what the image filled', () => {
  const a = applyImageConfig({ name: 'x', process: { env: { A: 'spec' } } }, { config: { ...cfg, Env: ['A=img', 'PATH=/img/bin', 'EMPTY'], WorkingDir: '/srv', User: 'app:staff' } });
  assert.equal(a.fromImage['process.args'], 'image Entrypoint + Cmd');
  assert.equal(a.fromImage['process.cwd'], 'image WorkingDir');
  assert.equal(a.fromImage['process.user'], 'image User');
  assert.equal(a.fromImage['process.env.PATH'], 'image Env');
  assert.equal(a.fromImage['process.env.A'], undefined, 'the spec set A');
  assert.deepEqual(a.env, { A: 'img', PATH: '/img/bin', EMPTY: '' });
  assert.equal(a.spec.process.cwd, '/srv');
  assert.equal(a.spec.process.user, 'app');
  assert.equal(a.spec.process.group, 'staff');
  const numeric = applyImageConfig({ name: 'x' }, { config: { User: '1000:1000' } });
  assert.equal(numeric.spec.process.user, 1000);
  assert.equal(numeric.spec.process.group, 1000);
  const kept = applyImageConfig({ name: 'x', process: { user: 0, cwd: '/' } }, { config: { User: 'app', WorkingDir: '/srv' } });
  assert.equal(kept.spec.process.user, 0);
  assert.equal(kept.spec.process.cwd, '/');
  assert.deepEqual(kept.fromImage, {});
});

test('Healthcheck, StopSignal, Labels, Volumes, ExposedPorts', () => {
  assert.deepEqual(imageHealthcheck({ Test: ['CMD-SHELL', 'pg_isready -U app'], Interval: 5e9, Timeout: 2e9, Retries: 3 }),
    { test: 'pg_isready -U app', interval: '5000ms', timeout: '2000ms', retries: 3 });
  assert.deepEqual(imageHealthcheck({ Test: ['CMD', '/bin/check', '-q'] }), { test: ['/bin/check', '-q'] });
  assert.equal(imageHealthcheck({ Test: ['NONE'] }), undefined);
  assert.equal(imageHealthcheck(undefined), undefined);
  const a = applyImageConfig({ name: 'x', annotations: { team: 'spec' }, mounts: [{ type: 'tmpfs', target: '/cache' }] },
    { config: { StopSignal: 'sigquit', Labels: { team: 'img', version: '1' }, Volumes: { '/data': {}, '/cache/': {}, 'relative': {} }, ExposedPorts: { '80/tcp': {}, '53/udp': {} }, Healthcheck: { Test: ['CMD', 'true'] } } });
  assert.equal(a.spec.stop_signal, 'SIGQUIT');
  assert.deepEqual(a.spec.annotations, { team: 'spec', version: '1' });
  assert.deepEqual(a.volumes, ['/data'], 'a volume the spec mounts over, or a relative one, is not created');
  assert.deepEqual(a.exposedPorts, ['53/udp', '80/tcp']);
  assert.deepEqual(a.spec.healthcheck, { test: ['true'] });
  const own = applyImageConfig({ name: 'x', healthcheck: { tcp: 80 }, stop_signal: 'SIGINT' }, { config: { Healthcheck: { Test: ['CMD', 'true'] }, StopSignal: 'SIGQUIT' } });
  assert.deepEqual(own.spec.healthcheck, { tcp: 80 });
  assert.equal(own.spec.stop_signal, 'SIGINT');
});

test('envList keeps values with = and drops empty names', () => {
  assert.deepEqual(envList(['A=b=c', '=x', 'B=']), { A: 'b=c', B: '' });
});
