// Canonicalise cgroup limits: snake_case → camelCase, sizes → bytes, cpus → a number, raw → strings.
import type { CanonicalSpec, ContainerSpec } from '../types.js';
import { report, type LoadContext } from './context.js';
import { parseCpus, parseSize, parseSizeOrUnlimited } from './units.js';

type Canon = CanonicalSpec['cgroup'];
type Conv = (v: never) => number | string | undefined;

/** Spec key → canonical key and converter (per-path table). */
const KEYS: Record<string, { to: keyof Canon; conv: Conv; expected: string }> = {
  memory: { to: 'memory', conv: parseSize as Conv, expected: 'a size like 64M' },
  memory_reservation: { to: 'memoryReservation', conv: parseSize as Conv, expected: 'a size like 32M' },
  memory_swap: { to: 'memorySwap', conv: parseSizeOrUnlimited as Conv, expected: "a size like 1G or -1" },
  cpus: { to: 'cpus', conv: parseCpus as Conv, expected: 'a number of CPUs like 0.5' },
  cpu_period: { to: 'cpuPeriod', conv: ((v: number) => v) as Conv, expected: 'microseconds' },
  cpu_shares: { to: 'cpuShares', conv: ((v: number) => v) as Conv, expected: 'a number' },
  cpu_weight: { to: 'cpuWeight', conv: ((v: number) => v) as Conv, expected: 'a number' },
  cpuset_cpus: { to: 'cpusetCpus', conv: ((v: string) => v) as Conv, expected: 'a CPU list' },
  cpuset_mems: { to: 'cpusetMems', conv: ((v: string) => v) as Conv, expected: 'a node list' },
  pids: { to: 'pids', conv: ((v: number) => v) as Conv, expected: 'a number' },
  io_weight: { to: 'ioWeight', conv: ((v: number) => v) as Conv, expected: 'a number' },
};

export function canonCgroup(spec: ContainerSpec, ctx: LoadContext): Canon {
  const c = spec.cgroup ?? {};
  const out: Canon = { raw: {} };
  for (const [k, rule] of Object.entries(KEYS)) {
    const v = (c as Record<string, unknown>)[k];
    if (v === undefined) continue;
    const r = rule.conv(v as never);
    if (r === undefined) report(ctx, `cgroup.${k}`, `${JSON.stringify(v)} is not ${rule.expected}`);
    else (out as unknown as Record<string, unknown>)[rule.to] = r;
  }
  if (c.io_max) {
    out.ioMax = {};
    for (const [dev, lim] of Object.entries(c.io_max)) {
      const d: NonNullable<Canon['ioMax']>[string] = {};
      const size = (key: 'read_bps' | 'write_bps') => {
        const v = lim[key];
        if (v === undefined) return undefined;
        const n = parseSize(v);
        if (n === undefined) report(ctx, `cgroup.io_max.${dev}.${key}`, `${JSON.stringify(v)} is not a size`);
        return n;
      };
      const rb = size('read_bps'), wb = size('write_bps');
      if (rb !== undefined) d.readBps = rb;
      if (wb !== undefined) d.writeBps = wb;
      if (lim.read_iops !== undefined) d.readIops = lim.read_iops;
      if (lim.write_iops !== undefined) d.writeIops = lim.write_iops;
      out.ioMax[dev] = d;
    }
  }
  if (c.hugetlb) {
    out.hugetlb = {};
    for (const [page, v] of Object.entries(c.hugetlb)) {
      const n = parseSize(v);
      if (n === undefined) report(ctx, `cgroup.hugetlb.${page}`, `${JSON.stringify(v)} is not a size`);
      else out.hugetlb[page] = n;
    }
  }
  for (const [k, v] of Object.entries(c.raw ?? {})) out.raw[k] = String(v);
  return out;
}
