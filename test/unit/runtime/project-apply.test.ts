// The project engine as the supervisor runs it (runtime/project/apply.ts) against a fake host: the
// example project with a failure injected at every step in turn. Each time, what the operation
// leaves is whole (every service it reports started runs, nothing of a failed one remains), and
// the teardown it stored in the project's state directory undoes everything that is left — as
// `down` does with no compose file. Also: the store merges by unit, and the engine's messages.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../../helpers.js';
import { genericHost } from '../../../src/validate/host.js';
import { loadCompose } from '../../../src/compose/index.js';
import { compileProject, type ProjectHostFacts } from '../../../src/plan/project/compile.js';
import type { ProjectPlan, ProjectStep } from '../../../src/plan/project/types.js';
import { applyPlan, ApplyFailure, type ApplyHost } from '../../../src/runtime/project/apply.js';
import { undoSteps } from '../../../src/runtime/project/exec.js';
import { mergeTeardown, readTeardown, takeTeardown, teardownPath } from '../../../src/runtime/project/teardown-store.js';
import { emptyDb, loadLeases } from '../../../src/runtime/net/ipam.js';
import { leasesPath } from '../../../src/runtime/net/names.js';
import type { RuntimeEvent } from '../../../src/events/types.js';
import { FakeNetHost } from '../net/fake-host.js';

const host = genericHost();
/** The example project, its volumes under `root`/data. */
const loadExample = (root: string) => loadCompose({ cwd: join(repoRoot, 'examples', 'compose'), env: {}, dataRoot: join(root, 'data'), load: { hostCgroupControllers: host.cgroup.v2Controllers } });
const facts = (stateRoot: string): ProjectHostFacts => ({ host, stateRoot, leases: emptyDb(), routes: [], links: [], netns: [], exists: [], containers: [] });

/** A fake supervisor: containers are names in a set; a service others wait on to complete exits 0 at once. */
function fakeHost(plan: ProjectPlan, failAt?: number) {
  const net = new FakeNetHost();
  const live = new Set<string>();
  const events: RuntimeEvent[] = [];
  const listeners = new Set<() => void>();
  const completes = new Set(plan.services.flatMap((e) => e.dependsOn.filter((d) => d.condition === 'service_completed_successfully').map((d) => plan.services.find((x) => x.service === d.service)?.container)));
  const changed = () => { for (const l of [...listeners]) l(); };
  const h: ApplyHost = {
    net,
    emit: (e) => events.push(e),
    beforeStep: (s) => { if (s.index === failAt) throw new Error(`injected failure at step ${s.index}`); },
    observe: (c) => (live.has(c) ? (completes.has(c) ? { status: 'exited', health: 'none', exitCode: 0 } : { status: 'running', health: 'healthy' }) : undefined),
    onChange: (cb) => { listeners.add(cb); return () => { listeners.delete(cb); }; },
    launch: async (s) => { live.add(s.container); setImmediate(changed); },
    remove: async (c) => { live.delete(c); setImmediate(changed); },
  };
  return { h, net, live, events };
}

function filesUnder(d: string): string[] {
  const out: string[] = [];
  const walk = (x: string) => { for (const f of readdirSync(x, { withFileTypes: true })) { const p = join(x, f.name); if (f.isDirectory()) walk(p); else out.push(p); } };
  if (existsSync(d)) walk(d);
  return out;
}

test('apply: a failure at any step leaves only whole services, and the stored teardown undoes everything', async () => {
  const root = mkdtempSync(join(tmpdir(), 'niwa-apply-'));
  const load = await loadExample(root);
  try {
    const n = compileProject(load, facts('/x'), { nonce: 'x' }).steps.length;
    for (let k = -1; k < n; k++) {
      const state = join(root, `s${k + 1}`);
      mkdirSync(state);
      const plan = compileProject(load, facts(state), { nonce: 'x' });
      const what = k < 0 ? 'no failure' : `failure at step ${k} (${plan.steps[k].op}${plan.steps[k].service ? ' of ' + plan.steps[k].service : ''})`;
      const f = fakeHost(plan, k < 0 ? undefined : k);
      let started: string[] = [];
      let error: Error | undefined;
      try { started = (await applyPlan(plan, f.h)).started; } catch (e) { error = e as Error; started = e instanceof ApplyFailure ? e.result.started : []; }
      assert.equal(Boolean(error), k >= 0, what);
      if (error) assert.match(error.message, new RegExp(`step ${k}\\b`), what);
      // whole: each container left runs with its lease; no lease of a container that is not there
      const containers = plan.services.filter((e) => started.includes(e.service)).map((e) => e.container).sort();
      assert.deepEqual([...f.live].sort(), containers, `${what}: containers`);
      const leases = loadLeases(leasesPath(state)).networks[`${plan.project}/default`]?.leases ?? {};
      assert.deepEqual(Object.keys(leases).sort(), containers, `${what}: leases`);
      if (k < 0) assert.deepEqual(started, ['seed', 'server', 'client']);
      // the stored teardown (as `down -v` runs it with no compose file) leaves nothing
      assert.ok(existsSync(teardownPath(state, plan.project)), `${what}: teardown stored`);
      await undoSteps(state, plan.project, takeTeardown(state, plan.project), f.h);
      assert.deepEqual([...f.live], [], `${what}: containers left after down`);
      assert.deepEqual([...f.net.links], [], `${what}: links left after down`);
      assert.deepEqual([...f.net.mounted], [], `${what}: namespaces left after down`);
      assert.deepEqual(loadLeases(leasesPath(state)).networks, {}, `${what}: leases left after down`);
      assert.deepEqual(filesUnder(state).filter((p) => !p.endsWith('leases.json')), [], `${what}: files left after down`);
      assert.deepEqual(filesUnder(join(root, 'data')), [], `${what}: data left after down`);
      rmSync(join(root, 'data'), { recursive: true, force: true });
    }
  } finally { rmSync(root, { recursive: true, force: true }); }
});

test('apply: the orchestrator\'s word is a message event; a prepare-only apply starts nothing', async () => {
  const root = mkdtempSync(join(tmpdir(), 'niwa-apply-'));
  try {
    const load = await loadExample(root);
    const plan = compileProject(load, facts(root), { nonce: 'm' });
    const f = fakeHost(plan);
    await applyPlan(plan, f.h, { wait: true });
    const texts = f.events.filter((e) => e.type === 'message').map((e) => e.type === 'message' && `${e.container ?? ''}: ${e.text}`);
    assert.ok(texts.some((t) => /^: network default created/.test(String(t))), texts.join('\n'));
    assert.ok(f.events.some((e) => e.type === 'project-step' && e.op === 'launch' && e.ok));
    await undoSteps(root, plan.project, takeTeardown(root, plan.project), f.h);
    const again = compileProject(load, facts(root), { nonce: 'n' });
    const g = fakeHost(again);
    assert.deepEqual(await applyPlan(again, g.h, { prepareOnly: true }), { started: [], failed: [] });
    assert.deepEqual([...g.live], []);
    assert.ok(g.net.links.size > 0, 'the network was made');
    await undoSteps(root, plan.project, takeTeardown(root, plan.project), g.h);
    assert.deepEqual([...g.net.links], []);
  } finally { rmSync(root, { recursive: true, force: true }); }
});

test('stored teardown: merged by unit (a later plan\'s steps replace a unit\'s), containers before networks before files', () => {
  const step = (unit: string, op: 'rm' | 'release', i: number): ProjectStep => (op === 'rm'
    ? { op, path: `/p/${unit}/${i}`, stage: 'teardown', unit, field: 'f', why: 'w', index: i }
    : { op, network: unit, stage: 'teardown', unit, field: 'f', why: 'w', index: i });
  const first = [step('container:a-1', 'rm', 0), step('network:default', 'release', 1), step('file:/s', 'rm', 2)];
  const second = [step('container:b-1', 'rm', 0), step('container:a-1', 'rm', 9)];
  const merged = mergeTeardown(first, second);
  assert.deepEqual(merged.map((s) => [s.unit, s.index]), [['container:b-1', 0], ['container:a-1', 9], ['network:default', 1], ['file:/s', 2]]);
  const root = mkdtempSync(join(tmpdir(), 'niwa-td-'));
  try {
    mkdirSync(join(root, 'p'));
    assert.deepEqual(readTeardown(root, 'p'), []);
    assert.deepEqual(takeTeardown(root, 'p', ['container:a-1']), []);
  } finally { rmSync(root, { recursive: true, force: true }); }
});

test('apply: a dependency outside the plan (start SERVICE, --no-deps) is waited for by the container name sent with it', async () => {
  const root = mkdtempSync(join(tmpdir(), 'niwa-apply-'));
  try {
    const load = await loadExample(root);
    const plan = compileProject(load, facts(root), { nonce: 'd', services: ['client'], noDeps: true });
    assert.deepEqual(plan.services.map((e) => e.service), ['client']);
    assert.ok(plan.services[0].dependsOn.some((d) => d.service === 'server'), 'client waits for server');
    const f = fakeHost(plan);
    // server-1 runs (healthy) but is not in the plan: without its name the wait would never end
    const observe = f.h.observe;
    f.h.observe = (c) => (c === 'server-1' ? { status: 'running', health: 'healthy' } : observe(c));
    const names = Object.fromEntries([...load.services.keys()].map((s) => [s, [`${s}-1`]]));
    assert.deepEqual((await applyPlan(plan, f.h, { names, timeoutMs: 2000 })).started, ['client']);
    await undoSteps(root, plan.project, takeTeardown(root, plan.project), f.h);
  } finally { rmSync(root, { recursive: true, force: true }); }
});

test('apply: a cancelled operation (Ctrl-C of its client) starts nothing more and ends its waits', async () => {
  const root = mkdtempSync(join(tmpdir(), 'niwa-apply-'));
  try {
    const load = await loadExample(root);
    const plan = compileProject(load, facts(root), { nonce: 'c' });
    const f = fakeHost(plan);
    // server never becomes healthy: client waits for it until the operation is cancelled
    const observe = f.h.observe;
    f.h.observe = (c) => (c === 'server-1' && f.live.has(c) ? { status: 'running', health: 'starting' } : observe(c));
    const abort = new AbortController();
    setTimeout(() => abort.abort(), 100);
    await assert.rejects(applyPlan(plan, f.h, { signal: abort.signal }), (e: Error & { code?: string }) => e instanceof ApplyFailure && e.code === 'E_CANCELLED' && !e.result.started.includes('client'));
    assert.ok(!f.live.has('client-1'), 'client was not started');
    await undoSteps(root, plan.project, takeTeardown(root, plan.project), f.h);
    assert.deepEqual([...f.live], []);
  } finally { rmSync(root, { recursive: true, force: true }); }
});
