// The daily compose verbs without a kernel: per-verb --help for every subcommand (from the one
// SUBCOMMANDS table), the project rebuilt from recorded state (`-p NAME` without a file) and the
// project list of `compose ls`, Docker-style event names, the logs window, run -v parsing, the
// images of `down --rmi`, and cp's path handling (always relative to the root fd, `..` clamped,
// resolved with RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { niwa } from '../../helpers.js';
import { SUBCOMMANDS, subcommandHelp } from '../../../src/cli/compose.js';
import { annotateServices, listComposeProjects, loadFromState, isFromState, SERVICE_KEY, CONFIG_FILES_KEY } from '../../../src/compose/project-state.js';
import { dockerEvents } from '../../../src/cli/compose/events.js';
import { logWindow, runVolume } from '../../../src/cli/compose/options.js';
import { imagesToRemove } from '../../../src/cli/compose/rmi.js';
import { ContainerRoot, containerPath, hostIdOfRoot } from '../../../src/runtime/copy.js';
import { FakeSys } from '../../../src/runtime/sys/fake.js';
import { RESOLVE_IN_ROOT, RESOLVE_NO_MAGICLINKS } from '../../../src/runtime/sys/types.js';
import type { ComposeLoad } from '../../../src/compose/index.js';
import type { ParsedArgs } from '../../../src/cli/args.js';

const dir = mkdtempSync(join(tmpdir(), 'niwa-compose-verbs-unit-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const args = (flags: ParsedArgs['flags'] = {}, positionals: string[] = []): ParsedArgs => ({ flags, positionals, rest: [] });

test('every compose subcommand answers --help with its usage, summary and flags, exit 0', () => {
  for (const [name, sub] of Object.entries(SUBCOMMANDS)) {
    const text = subcommandHelp(name, sub);
    assert.match(text, new RegExp(`^usage: niwa compose ${name}\\b`), name);
    assert.ok(text.includes(sub.summary), name);
    for (const k of [...Object.keys(sub.args?.booleans ?? {}), ...Object.keys(sub.args?.values ?? {})]) assert.ok(text.includes(`--${k}`), `${name} --${k}`);
    assert.match(text, /-p, --project-name VALUE/);
  }
  for (const name of ['ls', 'cp', 'logs', 'run', 'exec', 'down']) {
    const r = niwa(['compose', name, '--help']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^usage: niwa compose ${name}`), name);
  }
  // after the service, the command's own --help is the command's (exec/run)
  assert.doesNotMatch(subcommandHelp('exec', SUBCOMMANDS.exec), /CMD --help/);
  const r = niwa(['compose', '-p', 'x', 'ls', '-h']);
  assert.equal(r.status, 0);
  // with no subcommand, --help after the project flags is the compose verb's own help
  const top = niwa(['compose', '-p', 'x', '--help']);
  assert.equal(top.status, 0, top.stderr);
  assert.match(top.stdout, /^usage: niwa compose .*COMMAND/);
  assert.match(top.stdout, /^ {2}cp +copy files/m);
});

/** A project recorded under a state root, as up leaves it (state.json + spec.json with annotations). */
function record(root: string, project: string, name: string, status: string, annotations: Record<string, string>, extra: object = {}) {
  const d = join(root, project, name);
  mkdirSync(d, { recursive: true });
  writeFileSync(join(d, 'state.json'), JSON.stringify({ version: 1, id: `${name}-1`, name, project, status, createdAt: '2026-01-01T00:00:00Z', oomKilled: false, restarts: 0, health: 'none', specFile: 'x', cgroups: [], restart: { policy: 'no' }, ...extra }));
  writeFileSync(join(d, 'spec.json'), JSON.stringify({ name, annotations }));
}

test('loadFromState: services from the recorded containers, one-offs left out; ls summarises projects', () => {
  const root = join(dir, 'state');
  const a = (s: string) => ({ [SERVICE_KEY]: s, [CONFIG_FILES_KEY]: '/p/compose.yaml' });
  record(root, 'shop', 'web-1', 'exited', a('web'), { exitCode: 0 });
  record(root, 'shop', 'db', 'exited', a('database'), { exitCode: 1 });
  record(root, 'shop', 'web-run-0a1b2c', 'exited', a('web'));
  record(root, 'old', 'api-1', 'stopped', { 'niwa.compose.config-hash': 'abc' }); // before the service annotation existed
  record(root, 'plain', 'box', 'exited', {}); // niwa run -d: not a compose project
  const load = loadFromState(root, 'shop');
  assert.equal(isFromState(load), true);
  assert.deepEqual(load.plan.order, ['database', 'web']);
  assert.equal(load.services.get('database')!.compose.containerName, 'db');
  assert.equal(load.services.get('web')!.compose.containerName, 'web-1');
  assert.deepEqual(load.project.files, ['/p/compose.yaml']);
  assert.deepEqual([...loadFromState(root, 'old').services.keys()], ['api']);
  assert.throws(() => loadFromState(root, 'plain'), (e: Error & { code?: string }) => e.code === 'E_NO_PROJECT' && /no compose file found/.test(e.message));
  assert.throws(() => loadFromState(root, 'nothing'), { code: 'E_NO_PROJECT' } as object);
  const ls = listComposeProjects(root);
  assert.deepEqual(ls.map((p) => [p.name, p.status, p.running, p.configFiles]), [
    ['old', 'stopped(1)', false, []],
    ['shop', 'exited(3)', false, ['/p/compose.yaml']],
  ]);
});

test('annotateServices: each service spec says its service, files and directory', () => {
  const canonical = { annotations: { keep: '1' } };
  const load = { project: { files: ['/a/compose.yaml', '/a/compose.override.yaml'], workingDir: '/a' }, services: new Map([['web', { canonical }], ['built', {}]]) } as unknown as ComposeLoad;
  annotateServices(load);
  assert.deepEqual(canonical.annotations, { keep: '1', [SERVICE_KEY]: 'web', [CONFIG_FILES_KEY]: '/a/compose.yaml,/a/compose.override.yaml', 'niwa.compose.working-dir': '/a' });
});

test('events: supervisor events named as Docker names them', () => {
  const st = (status: string, x: object = {}) => ({ type: 'status', container: 'c', state: 'running', status, ...x }) as never;
  assert.deepEqual(dockerEvents(st('running'), 'created'), [{ action: 'start' }]);
  assert.deepEqual(dockerEvents(st('running'), 'paused'), [{ action: 'unpause' }]);
  assert.deepEqual(dockerEvents(st('paused'), 'running'), [{ action: 'pause' }]);
  assert.deepEqual(dockerEvents(st('exited', { exitCode: 3, signal: null }), 'running'), [{ action: 'die', attributes: { exitCode: '3' } }]);
  assert.deepEqual(dockerEvents(st('stopped', { exitCode: null, signal: 9 }), 'running'), [{ action: 'die', attributes: { exitCode: '137' } }]);
  assert.deepEqual(dockerEvents(st('oom-killed', { exitCode: null, signal: 9 }), 'running').map((e) => e.action), ['oom', 'die']);
  assert.deepEqual(dockerEvents(st('removed'), 'exited'), [{ action: 'destroy' }]);
  assert.deepEqual(dockerEvents(st('removed'), 'removed'), [], 'told twice, shown once');
  assert.deepEqual(dockerEvents({ type: 'health', container: 'c', status: 'healthy' } as never, 'running'), [{ action: 'health_status: healthy' }]);
  assert.deepEqual(dockerEvents({ type: 'log', container: 'c', stream: 'stdout', line: 'x' } as never, 'running'), []);
});

test('logs --since/--until: RFC 3339, Unix seconds or a duration before now; anything else is a usage error', () => {
  const now = Date.parse('2026-06-01T12:00:00Z');
  assert.deepEqual(logWindow(args({ since: '10m', until: '2026-06-01T11:59:00Z' }), now), { since: new Date(now - 600_000), until: new Date('2026-06-01T11:59:00Z') });
  assert.deepEqual(logWindow(args({ since: '1h' }), now), { since: new Date(now - 3_600_000) });
  assert.deepEqual(logWindow(args({ until: '1767225600' }), now), { until: new Date(1767225600_000) });
  assert.deepEqual(logWindow(args(), now), {});
  assert.throws(() => logWindow(args({ until: 'soon' }), now), /--until expects a time or a duration, got 'soon'/);
});

test('run -v: paths (absolute or relative to the project), named volumes of the project, :ro; bad forms refused', () => {
  mkdirSync(join(dir, 'proj', 'data'), { recursive: true });
  writeFileSync(join(dir, 'proj', 'one.txt'), '1');
  const load = {
    project: { workingDir: join(dir, 'proj'), name: 'p' },
    services: new Map([['web', { compose: { volumes: [{ name: 'site', fullName: 'p_site', hostPath: join(dir, 'volumes', 'p_site'), anonymous: false }] } }]]),
  } as unknown as ComposeLoad;
  assert.deepEqual(runVolume('./data:/data:ro', load), { type: 'bind', source: join(dir, 'proj', 'data'), target: '/data', readonly: true, recursive: true, options: [], field: 'run -v', sourceKind: 'dir' });
  assert.equal(runVolume(`${join(dir, 'proj', 'one.txt')}:/one`, load).sourceKind, 'file');
  assert.deepEqual(runVolume('site:/srv', load), { type: 'bind', source: join(dir, 'volumes', 'p_site'), target: '/srv', readonly: false, recursive: true, options: [], field: 'run -v', sourceKind: 'dir' }); // created on first use
  for (const [bad, msg] of [['nocolon', /-v expects SRC:DST/], ['./data:rel', /must be an absolute path/], ['./data:/d:rx', /-v expects/], ['./missing:/m', /does not exist/], ['other:/o', /not a volume of the project/]] as const) {
    assert.throws(() => runVolume(bad, load), msg, bad);
  }
});

test('down --rmi: all = every service image; local = only images named for the project; others refused', () => {
  const svc = (image: string | undefined, ref?: string): object => ({ spec: ref ? { rootfs: { image: ref } } : {}, compose: { image } });
  const load = { project: { name: 'shop' }, services: new Map<string, object>([['web', svc('nginx:1', 'nginx:1')], ['api', svc(undefined, 'shop-api')], ['cache', svc('nginx:1', 'nginx:1')], ['host', svc(undefined)]]) } as unknown as ComposeLoad;
  assert.deepEqual(imagesToRemove(load, args({ rmi: 'all' })), ['nginx:1', 'shop-api']);
  assert.deepEqual(imagesToRemove(load, args({ rmi: 'local' })), ['shop-api']);
  assert.deepEqual(imagesToRemove(load, args()), []);
  assert.throws(() => imagesToRemove(load, args({ rmi: 'some' })), /--rmi expects all or local/);
});

test('cp paths: made absolute, `..` clamped at the container root, resolved by openat2 inside the root with no magic links', () => {
  assert.equal(containerPath('etc/hosts'), '/etc/hosts');
  assert.equal(containerPath('../../../etc/shadow'), '/etc/shadow');
  assert.equal(containerPath('/tmp/a/../../..//x/./y'), '/x/y');
  // what cp creates inside belongs to the container's root: the host id its user namespace maps 0 to
  assert.equal(hostIdOfRoot('         0          0 4294967295\n'), 0);
  assert.equal(hostIdOfRoot('         0     100000      65536\n'), 100000);
  assert.equal(hostIdOfRoot('      1000       1000          1\n'), 0);
  const sys = new FakeSys();
  const root = ContainerRoot.open(sys, process.pid);
  assert.deepEqual(root.owner, { uid: 0, gid: 0 });
  try {
    root.open('/../../etc/passwd', 0);
    root.open('/', 0);
  } finally { root.close(); }
  const calls = sys.calls.filter((c) => c.call === 'openat2');
  assert.deepEqual(calls.map((c) => c.args[1]), ['etc/passwd', '.']);
  for (const c of calls) {
    assert.equal(c.args[0], root.fd);
    assert.equal((c.args[4] as number) & (RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS), RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
  }
});
