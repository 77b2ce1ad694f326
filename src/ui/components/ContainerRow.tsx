// Owns one container's row: name, state (coloured), step or health, pid, uptime, CPU %, memory, restarts, ports.
import { Text } from 'ink';
import type { ContainerView } from '../model.js';
import { formatCpu, formatDuration, formatMemory, formatPorts } from '../format.js';

export const STATE_COLOR: Record<ContainerView['state'], string> = {
  created: 'gray', starting: 'yellow', running: 'green', stopping: 'yellow', restarting: 'magenta', exited: 'gray', failed: 'red',
};
const HEALTH_COLOR: Record<ContainerView['health'], string | undefined> = {
  none: undefined, starting: 'yellow', healthy: 'green', unhealthy: 'red',
};

/** Column widths after the name column; the header uses the same table. */
export const COLS = { state: 15, detail: 20, pid: 8, uptime: 8, cpu: 7, mem: 16, restarts: 4 };

const fit = (s: string, w: number) => (s.length >= w ? s.slice(0, w - 2) + '… ' : s.padEnd(w));
const right = (s: string, w: number) => s.padStart(w - 1) + ' ';

export interface ContainerRowProps { c: ContainerView; selected: boolean; now: number; nameWidth: number }

export function ContainerRow({ c, selected, now, nameWidth }: ContainerRowProps) {
  const live = c.state === 'running' || c.state === 'stopping';
  const failedExit = c.state === 'exited' && c.exit && (c.exit.code !== 0 || c.exit.signal !== null);
  const detail = c.state === 'starting' ? (c.step ?? '') : c.state === 'exited' && c.exit
    ? (c.exit.signal !== null ? `signal ${c.exit.signal}` : `code ${c.exit.code}`) + (c.exit.oomKilled ? ' OOM' : '')
    : c.health === 'none' ? '' : c.health;
  const detailColor = c.state === 'starting' ? 'cyan' : failedExit ? 'red' : HEALTH_COLOR[c.health];
  return (
    <Text wrap="truncate-end">
      <Text color="cyan">{selected ? '› ' : '  '}</Text>
      <Text bold={selected}>{fit(c.name, nameWidth + 2)}</Text>
      <Text color={failedExit ? 'red' : c.stoppingSince !== undefined && live ? STATE_COLOR.stopping : STATE_COLOR[c.state]}>{fit(stateText(c, now), COLS.state)}</Text>
      <Text color={detailColor}>{fit(detail, COLS.detail)}</Text>
      {right(c.pid !== undefined && live ? String(c.pid) : '-', COLS.pid)}
      {right(live && c.startedAt !== undefined ? formatDuration(now - c.startedAt) : '-', COLS.uptime)}
      {right(live ? formatCpu(c.cpuPercent) : '-', COLS.cpu)}
      {right(live ? formatMemory(c.memCurrent, c.memLimit) : '-', COLS.mem)}
      <Text color={c.restarts ? 'magenta' : undefined}>{right(String(c.restarts), COLS.restarts)}</Text>
      {formatPorts(c.ports)}
    </Text>
  );
}

/** The state column: "stopping (Ns)" from the stop request (or report) on, else the precise status or state. */
export function stateText(c: ContainerView, now: number): string {
  const live = c.state === 'running' || c.state === 'stopping';
  if (c.stoppingSince !== undefined && live) return `stopping (${Math.max(0, Math.floor((now - c.stoppingSince) / 1000))}s)`;
  return c.status ?? c.state;
}

export function HeaderRow({ nameWidth }: { nameWidth: number }) {
  return (
    <Text dimColor wrap="truncate-end">
      {'  ' + 'NAME'.padEnd(nameWidth + 2) + 'STATE'.padEnd(COLS.state) + 'STEP/HEALTH'.padEnd(COLS.detail)
        + right('PID', COLS.pid) + right('UPTIME', COLS.uptime) + right('CPU', COLS.cpu) + right('MEM', COLS.mem)
        + right('RST', COLS.restarts) + 'PORTS'}
    </Text>
  );
}
