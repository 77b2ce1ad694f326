// Owns the table of container rows: a header, the visible window of rows, and "n more" markers.
import { Box, Text } from 'ink';
import type { ContainerView } from '../model.js';
import { ContainerRow, HeaderRow } from './ContainerRow.js';

export interface ContainerTableProps {
  /** The rows to show (already windowed to fit the terminal). */
  rows: ContainerView[];
  selected?: string;
  now: number;
  /** Rows scrolled out of view above and below the window. */
  hiddenAbove?: number;
  hiddenBelow?: number;
  nameWidth: number;
}

export function ContainerTable({ rows, selected, now, hiddenAbove = 0, hiddenBelow = 0, nameWidth }: ContainerTableProps) {
  if (!rows.length) return <Text dimColor>  waiting for containers…</Text>;
  return (
    <Box flexDirection="column">
      <HeaderRow nameWidth={nameWidth} />
      {hiddenAbove > 0 && <Text dimColor>{`  ↑ ${hiddenAbove} more`}</Text>}
      {rows.map((c) => <ContainerRow key={c.name} c={c} selected={c.name === selected} now={now} nameWidth={nameWidth} />)}
      {hiddenBelow > 0 && <Text dimColor>{`  ↓ ${hiddenBelow} more`}</Text>}
    </Box>
  );
}
