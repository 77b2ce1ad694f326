// Shared by the attack tests: a private state root per test file (removed afterwards) and `niwa run`
// of a YAML spec in it, checking that the run left no cgroup and no mount on the host.
import { before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { niwa, type CliResult } from '../helpers.js';
import { cgroupsLeft } from '../integration/running.js';

export interface Box {
  /** The test's directory (0755, like /run: an unprivileged user may pass through it). */
  dir: string;
  /** NIWA_STATE_ROOT of the test, inside `dir`. */
  state: string;
  env(): NodeJS.ProcessEnv;
  /** Writes `name.container.yaml` (name: + yaml) and runs it in `project`; asserts the host is clean after. */
  run(name: string, yaml: string): CliResult;
}

/** Registers before/after hooks (unless `skip`) that create and remove the box. */
export function securityBox(prefix: string, project: string, skip: string | false): Box {
  const box: Box = {
    dir: '',
    state: '',
    env: () => ({ ...process.env, NIWA_STATE_ROOT: box.state }),
    run(name, yaml) {
      const f = join(box.dir, `${name}.container.yaml`);
      writeFileSync(f, `name: ${name}\n${yaml}`);
      const r = niwa(['run', '--project', project, f], { env: box.env() });
      assert.deepEqual(cgroupsLeft(project), [], 'no cgroup left');
      assert.equal(readFileSync('/proc/self/mountinfo', 'utf8').includes(box.dir), false, 'no mount left on the host');
      return r;
    },
  };
  before(() => {
    if (skip) return;
    box.dir = mkdtempSync(join(tmpdir(), prefix));
    chmodSync(box.dir, 0o755);
    box.state = join(box.dir, 'state');
  });
  after(() => {
    if (box.dir) rmSync(box.dir, { recursive: true, force: true });
  });
  return box;
}
