// The project's lock (runtime/project/lock.ts) handed from the client that took it to the supervisor
// that carries out its operation, and back — or let go when the client went away meanwhile — so a
// killed client never frees the project while its operation still runs, and never blocks it after.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { handOverLock, lockPath, lockProject } from '../../../src/runtime/project/lock.js';

test('handOverLock: to the supervisor and back; let go when the client is gone; refused when not held', async () => {
  const root = mkdtempSync(join(tmpdir(), 'niwa-lock-'));
  try {
    const owner = () => JSON.parse(readFileSync(lockPath(root, 'p'), 'utf8')) as { pid: number; verb: string };
    const lock = await lockProject(root, 'p', 'compose up');
    const other = process.ppid; // a live process standing in for the supervisor
    assert.equal(handOverLock(root, 'p', process.pid, other), true);
    assert.deepEqual([owner().pid, owner().verb], [other, 'compose up'], 'the supervisor holds it, for the same verb');
    // while the supervisor holds it, another operation is refused (or waits)
    await assert.rejects(lockProject(root, 'p', 'compose down', { wait: false }), /busy/);
    assert.equal(handOverLock(root, 'p', 12345678, process.pid), false, 'only its holder hands it over');
    assert.equal(handOverLock(root, 'p', other, process.pid), true);
    assert.equal(owner().pid, process.pid);
    lock.release();
    assert.ok(!existsSync(lockPath(root, 'p')), 'the client released it');
    // the client went away: the supervisor lets it go
    await lockProject(root, 'p', 'compose up');
    handOverLock(root, 'p', process.pid, other);
    assert.equal(handOverLock(root, 'p', other, undefined), true);
    assert.ok(!existsSync(lockPath(root, 'p')));
  } finally { rmSync(root, { recursive: true, force: true }); }
});
