// Attack (findings 1 and 2; CVE-2019-5736 class): a process in the container hunts niwa's own
// processes while niwa works next to it — the joining process of `niwa exec` (in the container's
// pid namespace before it is the program), and the shim and child of `niwa run` without a pid
// namespace. For every process whose name is niwa's, it tries to read /proc/PID/exe (the stage
// binary), open it for writing, open /proc/PID/mem, and list /proc/PID/fd. A tiny C hunter (built
// here, bound read-only into the container) scans /proc in a tight loop so that it sees the short
// windows; the test asserts it did see niwa processes (else it proves nothing) and got nothing.
// Also: the stage runs from a sealed memfd (writes to it fail even for root on the host), is not
// dumpable, and the program exec runs holds no fd beyond its stdio.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { needsRoot, needsStage } from '../helpers.js';
import { stagePath } from '../../src/runtime/launch/stage.js';
import { probeHost } from '../../src/validate/host.js';
import { execInContainer } from '../../src/runtime/exec.js';
import type { HostFacts } from '../../src/plan/types.js';
import { startContainer, cgroupsLeft, type Running } from '../integration/running.js';

const HUNTER_C = String.raw`
/* hunter SECONDS OUT STAGE: scan /proc for processes named niwa* run from STAGE (other than ourselves) for SECONDS; try
 * their exe (read, write, readlink), mem (read/write) and fd directory; write counts to OUT. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
/* Still niwa's process? Checked after each access: a process that became the program (execve) never
 * turns back into niwa-stage, so an access followed by "still niwa" happened while it was the stage. */
static int still_niwa(int pid) {
  char p[64], comm[32] = "";
  snprintf(p, sizeof p, "/proc/%d/comm", pid);
  int c = open(p, O_RDONLY);
  if (c < 0) return 0;
  ssize_t n = read(c, comm, sizeof comm - 1);
  close(c);
  return n > 0 && strncmp(comm, "niwa", 4) == 0;
}
int main(int argc, char **argv) {
  double secs = atof(argv[1]);
  long seen = 0, exe_r = 0, exe_w = 0, exe_link = 0, mem = 0, fds = 0, scans = 0;
  char detail[4096] = "";
  struct timespec t0, t;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  pid_t me = getpid();
  do {
    scans++;
    DIR *d = opendir("/proc");
    struct dirent *e;
    while (d && (e = readdir(d))) {
      int pid = atoi(e->d_name);
      if (pid <= 0 || pid == me) continue;
      char p[64], comm[32] = "";
      snprintf(p, sizeof p, "/proc/%d/comm", pid);
      int c = open(p, O_RDONLY);
      if (c < 0) continue;
      ssize_t n = read(c, comm, sizeof comm - 1);
      close(c);
      if (n <= 0 || strncmp(comm, "niwa", 4) != 0) continue;
      /* only this checkout's stage (other niwa processes on the host are not under test) */
      char cmd[512] = "";
      snprintf(p, sizeof p, "/proc/%d/cmdline", pid);
      c = open(p, O_RDONLY);
      if (c < 0) continue;
      n = read(c, cmd, sizeof cmd - 1);
      close(c);
      if (n <= 0 || strncmp(cmd, argv[3], strlen(argv[3])) != 0) continue;
      seen++;
      char l[256];
      snprintf(p, sizeof p, "/proc/%d/exe", pid);
      ssize_t ln = readlink(p, l, sizeof l - 1);
      if (ln > 0 && still_niwa(pid)) { exe_link++; l[ln] = 0; if (strlen(detail) < 3000) { strcat(detail, "link "); strcat(detail, l); strcat(detail, "\n"); } }
      int f = open(p, O_RDONLY);
      if (f >= 0) { if (still_niwa(pid)) exe_r++; close(f); }
      f = open(p, O_WRONLY);
      if (f >= 0) { if (still_niwa(pid)) exe_w++; close(f); }
      snprintf(p, sizeof p, "/proc/%d/mem", pid);
      f = open(p, O_RDWR);
      if (f < 0) f = open(p, O_RDONLY);
      if (f >= 0) { if (still_niwa(pid)) mem++; close(f); }
      snprintf(p, sizeof p, "/proc/%d/fd", pid);
      /* the fd numbers of a root process can be listed by root; what matters is reaching the files */
      DIR *fd = opendir(p);
      if (fd) {
        struct dirent *x;
        int got = 0;
        while ((x = readdir(fd))) {
          if (x->d_name[0] == '.') continue;
          char q[96];
          snprintf(q, sizeof q, "/proc/%d/fd/%s", pid, x->d_name);
          int g = open(q, O_RDONLY | O_NONBLOCK);
          if (g >= 0) { got = 1; close(g); }
          if (readlink(q, l, sizeof l - 1) > 0) got = 1;
        }
        fds += got && still_niwa(pid);
        closedir(fd);
      }
    }
    if (d) closedir(d);
    clock_gettime(CLOCK_MONOTONIC, &t);
  } while ((t.tv_sec - t0.tv_sec) + (t.tv_nsec - t0.tv_nsec) / 1e9 < secs);
  FILE *o = fopen(argv[2], "w");
  if (!o) return 1;
  fprintf(o, "scans=%ld seen=%ld exe_read=%ld exe_write=%ld exe_link=%ld mem=%ld fd_open=%ld\n%s", scans, seen, exe_r, exe_w, exe_link, mem, fds, detail);
  fclose(o);
  return 0;
}
`;

const hasCc = spawnSync('cc', ['--version']).status === 0;
const skip = needsRoot() || needsStage() || (!hasCc && 'no C compiler (cc) to build the hunter');
const project = `sec-stage-${randomBytes(3).toString('hex')}`;
let dir = '';
let host: HostFacts;
const ROUNDS = Number(process.env.NIWA_SEC_ROUNDS ?? 60);

type Result = Record<'scans' | 'seen' | 'exe_read' | 'exe_write' | 'exe_link' | 'mem' | 'fd_open', number> & { detail: string };
function parse(text: string): Result {
  const [head, ...rest] = text.split('\n');
  const r = Object.fromEntries(head.split(' ').map((kv) => kv.split('=')).map(([k, v]) => [k, Number(v)])) as unknown as Result;
  r.detail = rest.join('\n');
  return r;
}
function assertNothing(r: Result, label: string) {
  console.log(`# ${label}: the hunter scanned /proc ${r.scans} times and saw niwa processes ${r.seen} times`);
  assert.ok(r.seen > 0, `${label}: the hunter never saw a niwa process, so the test proves nothing (${JSON.stringify(r)})`);
  assert.deepEqual({ exe_read: r.exe_read, exe_write: r.exe_write, exe_link: r.exe_link, mem: r.mem, fd_open: r.fd_open }, { exe_read: 0, exe_write: 0, exe_link: 0, mem: 0, fd_open: 0 }, `${label}: ${JSON.stringify(r)}\n${r.detail}`);
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('the stage is out of the container\'s reach', { skip }, () => {
  const running: Running[] = [];
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'niwa-sec-stage-'));
    chmodSync(dir, 0o755);
    const state = join(dir, 'state');
    mkdirSync(state, { mode: 0o755 });
    host = probeHost({ stateRoot: state });
    mkdirSync(join(dir, 'bin'), { mode: 0o755 });
    writeFileSync(join(dir, 'hunter.c'), HUNTER_C);
    const cc = spawnSync('cc', ['-O2', '-o', join(dir, 'bin', 'hunter'), join(dir, 'hunter.c')], { encoding: 'utf8' });
    assert.equal(cc.status, 0, cc.stderr);
  });
  after(async () => {
    for (const c of running.splice(0)) await c.stop();
    assert.deepEqual(cgroupsLeft(project), []);
    assert.equal(readFileSync('/proc/self/mountinfo', 'utf8').includes(dir), false, 'no mount left');
    rmSync(dir, { recursive: true, force: true });
  });

  /** The hunter's binary read-only at /hunt, and a host directory for its result at /out. */
  const hunterMount = (name: string) => {
    mkdirSync(join(dir, `out-${name}`), { mode: 0o777 });
    return `mounts: [{type: bind, source: ${join(dir, 'bin')}, target: /hunt, readonly: true}, {type: bind, source: ${join(dir, `out-${name}`)}, target: /out}]\n`;
  };
  const result = (name: string) => parse(readFileSync(join(dir, `out-${name}`, 'result'), 'utf8'));

  test(`niwa exec ×${ROUNDS} while the container hunts /proc/*/exe, /proc/*/mem and fds`, async () => {
    const c = await startContainer(dir, host, project, 'execbox', `namespaces: [mount, uts, ipc, pid, net]\n${hunterMount('execbox')}process:\n  args: [/bin/sh, -c, 'sleep 1000']\n`);
    running.push(c);
    const secs = 8;
    const h = execInContainer({ pid: c.pid, cgroups: c.plan.cgroups }, { args: ['/hunt/hunter', String(secs), '/out/result', stagePath()] }, { spec: c.spec, host, timeoutMs: 30_000 });
    await sleep(200);
    let n = 0;
    const t0 = Date.now();
    while (Date.now() - t0 < (secs - 1.5) * 1000 && n < ROUNDS * 10) {
      const r = await execInContainer({ pid: c.pid, cgroups: c.plan.cgroups }, { args: ['/bin/true'] }, { spec: c.spec, host, timeoutMs: 10_000 });
      assert.equal(r.status, 0);
      n++;
    }
    assert.ok(n >= Math.min(ROUNDS, 20), `only ${n} execs ran`);
    assert.equal((await h).status, 0);
    assertNothing(result('execbox'), `exec ×${n}`);
  });

  test('the program exec runs holds only its stdio; the container\'s PID 1 sees no niwa fd either', async () => {
    const c = await startContainer(dir, host, project, 'fdbox', 'namespaces: [mount, uts, ipc, pid, net]\nprocess:\n  args: [/bin/sh, -c, \'sleep 1000\']\n');
    running.push(c);
    for (let i = 0; i < 5; i++) {
      const r = await execInContainer({ pid: c.pid, cgroups: c.plan.cgroups }, { args: ['/bin/sh', '-c', 'ls /proc/self/fd | tr "\\n" " "; readlink /proc/self/cwd'] }, { spec: c.spec, host, timeoutMs: 10_000 });
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout ?? '', /^0 1 2 3 \/\n?$/, 'fds 0-2 and the one ls opens; cwd /');
    }
    const fds = spawnSync('ls', [`/proc/${c.pid}/fd`], { encoding: 'utf8' }).stdout.trim().split('\n');
    assert.deepEqual(fds.sort(), ['0', '1', '2'], 'PID 1 of the container holds stdio only');
  });

  test(`niwa run without a pid namespace ×${ROUNDS}: a hunter in the host pid namespace's view gets nothing from the shims and children`, async () => {
    // The hunter runs in a long-lived container without a pid namespace (it sees the host's processes),
    // with the default capabilities; meanwhile short containers without a pid namespace start and end.
    const hunter = await startContainer(dir, host, project, 'hunter', `namespaces: [mount, uts, ipc, net]\n${hunterMount('hunter')}process:\n  args: [/hunt/hunter, '8', /out/result, ${stagePath()}]\n`);
    running.push(hunter);
    const t0 = Date.now();
    let n = 0;
    while (Date.now() - t0 < 6500 && n < ROUNDS * 10) {
      const c = await startContainer(dir, host, project, `short${n}`, 'namespaces: [mount, uts, ipc, net]\nprocess:\n  args: [/bin/sh, -c, \'sleep 0.02\']\n');
      assert.equal((await c.done).status, 0);
      n++;
    }
    await hunter.done;
    running.splice(running.indexOf(hunter), 1);
    assert.ok(n >= Math.min(ROUNDS, 20), `only ${n} runs`);
    assertNothing(result('hunter'), `run without a pid namespace ×${n}`);
  });
});

test('the stage runs from a sealed memfd: not the file on disk, and not writable even by host root', { skip: needsRoot() || needsStage() }, async () => {
  // A container without a pid namespace shows its shim's exe to the host: look at it from here.
  const d = mkdtempSync(join(tmpdir(), 'niwa-sec-memfd-'));
  chmodSync(d, 0o755);
  try {
    const h = probeHost({ stateRoot: join(d, 'state') });
    const c = await startContainer(d, h, `${project}-m`, 'sealed', 'namespaces: [mount, uts, ipc, net]\nprocess:\n  args: [/bin/sh, -c, \'sleep 1000\']\n');
    try {
      const shim = c.handle.process.pid!;
      const exe = readlinkSync(`/proc/${shim}/exe`);
      assert.match(exe, /^\/memfd:niwa-stage/, `the shim runs from a memfd, not ${exe}`);
      assert.throws(() => closeSync(openSync(`/proc/${shim}/exe`, 'r+')), /EPERM|ETXTBSY|EACCES/, 'the sealed copy cannot be opened for writing');
      const status = readFileSync(`/proc/${shim}/status`, 'utf8');
      assert.ok(existsSync(`/proc/${shim}`));
      assert.match(status, /^Name:\s+niwa-stage/m);
      // not dumpable: /proc/PID files of a non-dumpable process belong to root:root and ptrace needs CAP_SYS_PTRACE
      const r = spawnSync('setpriv', ['--reuid=0', '--regid=0', '--inh-caps=-all', '--bounding-set=-all', '--', 'cat', `/proc/${shim}/environ`], { encoding: 'utf8' });
      assert.notEqual(r.status, 0, 'root without capabilities cannot read the stage\'s environ (not dumpable)');
    } finally { await c.stop(); }
  } finally { rmSync(d, { recursive: true, force: true }); }
});
