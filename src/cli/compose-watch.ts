// `niwa compose watch [SERVICE...]` (and `up --watch`): bring the project up (building what is missing), then follow
// each service's develop.watch rules until Ctrl-C: a changed file under a `sync` path is copied into
// the running container (through `niwa compose exec`, so it needs sh, mkdir and cat in the image, as docker
// compose watch needs tar), `sync+restart` also restarts the service, and a change under a `rebuild`
// path rebuilds the image (cached) and recreates the service's container — one plan with the build
// step, carried out by the project's engine as `up --build SERVICE` does. Each action is one line.
import * as fs from 'node:fs';
import { spawn } from 'node:child_process';
import { posix } from 'node:path';
import type { ParsedArgs } from './args.js';
import { UserError } from '../errors.js';
import type { LoadComposeOptions } from '../compose/index.js';
import type { WatchRule } from '../build/watch.js';
import { currentScale } from './compose/project.js';

/** The compose flags that name this project again, for the `compose exec` a sync runs. */
function projectArgv(p: LoadComposeOptions, name: string): string[] {
  return [...(p.files ?? []).flatMap((f) => ['-f', f]), ...(p.envFiles ?? []).flatMap((f) => ['--env-file', f]), ...(p.profiles ?? []).flatMap((f) => ['--profile', f]), ...(p.projectDirectory ? ['--project-directory', p.projectDirectory] : []), '-p', name];
}

const say = (s: string) => process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${s}\n`);

export async function composeWatch(a: ParsedArgs, project: LoadComposeOptions): Promise<number> {
  const [{ loadProject, ComposeEngine }, { watchRules, matchChange }, { plainBuildReporter }] = await Promise.all([
    import('../compose/up.js'), import('../build/watch.js'), import('./build.js'),
  ]);
  const onBuild = (s: string, e: Parameters<ReturnType<typeof plainBuildReporter>>[0]) => plainBuildReporter((l) => process.stderr.write(`${s}: ${l}`))(e);
  const opts = { ...project, build: project.build ?? 'missing', onBuild };
  let load = await loadProject(opts);
  const only = a.positionals;
  const rules = watchRules(load.project.services as Record<string, { develop?: unknown; build?: unknown }>, load.project.workingDir).filter((r) => !only.length || only.includes(r.service));
  if (!rules.length) throw new UserError('E_COMPOSE_WATCH', 'no service of the project has develop.watch', [], 'add develop: {watch: [{action: sync, path: ./src, target: /app/src}]} to a service');
  const engine0 = new ComposeEngine(load, { onMessage: (m) => say(`${m.container ? m.container + ': ' : ''}${m.text}`) });
  await engine0.up(only.length ? { services: only } : {});
  engine0.close();
  const niwaBin = process.argv[1];
  const execIn = (service: string, script: string, input?: string) => new Promise<void>((resolve, reject) => {
    const c = spawn(process.execPath, [niwaBin, 'compose', ...projectArgv(project, load.project.name), 'exec', '-T', ...(input ? ['-i'] : []), service, '/bin/sh', '-c', script], { cwd: project.cwd, stdio: [input ? 'pipe' : 'ignore', 'ignore', 'pipe'] });
    let err = '';
    c.stderr!.on('data', (d) => (err += d));
    if (input) fs.createReadStream(input).on('error', reject).pipe(c.stdin!);
    c.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`exec in ${service} failed (${code}): ${err.trim()}`))));
  });
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const pending = new Map<string, Set<string>>(); // rule key → changed paths
  let timer: NodeJS.Timeout | undefined;
  let busy = Promise.resolve();
  const act = async (rule: WatchRule, changed: string[]) => {
    try {
      if (rule.action === 'rebuild') {
        say(`${rule.service}: rebuild (${changed.length} change${changed.length === 1 ? '' : 's'} under ${rule.path})`);
        // as `up --build SERVICE --no-deps`: the service's plan with its build step (build always), carried
        // out by the project's engine; the build reports as the plan's build events
        load = await loadProject({ ...opts, build: 'always' });
        const engine = new ComposeEngine(load, { onMessage: (m) => say(`${m.container ? m.container + ': ' : ''}${m.text}`) });
        let digest = '';
        const off = engine.bus.on((e) => {
          if (e.type !== 'build' || e.service !== rule.service) return;
          onBuild(e.service, e.event);
          if (e.event.type === 'done') digest = e.event.digest;
        });
        try { await engine.up({ services: [rule.service], noDeps: true, forceRecreate: true, scale: await currentScale(engine, [rule.service]) }); } finally { off(); engine.close(); }
        load = await loadProject(opts);
        say(`${rule.service}: recreated${digest ? ` on ${digest.slice(0, 19)}` : ''}`);
        return;
      }
      for (const p of changed) {
        for (const m of matchChange([rule], p)) {
          const target = m.containerPath!;
          const st = fs.statSync(p, { throwIfNoEntry: false });
          if (st?.isDirectory()) continue;
          if (st) await execIn(rule.service, `mkdir -p ${q(posix.dirname(target))} && cat > ${q(target)}`, p);
          else await execIn(rule.service, `rm -f ${q(target)}`);
          say(`${rule.service}: sync ${p} → ${target}${st ? '' : ' (removed)'}`);
        }
      }
      if (rule.action === 'sync+restart') {
        const engine = new ComposeEngine(load, { onMessage: (m) => say(`${m.container ? m.container + ': ' : ''}${m.text}`) });
        try { await engine.stop({ services: [rule.service] }); await engine.up({ services: [rule.service], noDeps: true, scale: await currentScale(engine, [rule.service]) }); } finally { engine.close(); }
        say(`${rule.service}: restarted`);
      }
    } catch (e) {
      say(`${rule.service}: ${rule.action} failed: ${(e as Error).message}`);
    }
  };
  const flush = () => {
    const batch = [...pending.entries()];
    pending.clear();
    busy = busy.then(async () => { for (const [k, paths] of batch) await act(rules[Number(k)], [...paths]); });
  };
  const watchers = rules.map((rule, k) => fs.watch(rule.path, { recursive: fs.statSync(rule.path, { throwIfNoEntry: false })?.isDirectory() ?? false }, (_ev, file) => {
    const changed = file && fs.statSync(rule.path, { throwIfNoEntry: false })?.isDirectory() ? `${rule.path}/${file}` : rule.path;
    if (!matchChange([rule], changed).length) return;
    const set = pending.get(String(k)) ?? new Set<string>();
    set.add(changed);
    pending.set(String(k), set);
    clearTimeout(timer);
    timer = setTimeout(flush, 300); // editors write in bursts
  }));
  for (const r of rules) say(`watching ${r.path} for ${r.service} (${r.action}${r.target ? ` → ${r.target}` : ''})`);
  await new Promise<void>((resolve) => { process.once('SIGINT', resolve); process.once('SIGTERM', resolve); });
  for (const w of watchers) w.close();
  clearTimeout(timer);
  await busy;
  say('stopped watching; the project keeps running (niwa compose down stops it)');
  return 0;
}
