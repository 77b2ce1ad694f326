// Owns the finished lines written once above the live rows (Ink <Static>): step results, errors, logs.
import { Static, Text } from 'ink';
import type { FinishedLine, LineLevel } from '../model.js';
import { formatClock } from '../format.js';

const LEVEL_COLOR: Record<LineLevel, string | undefined> = { info: undefined, ok: 'green', warn: 'yellow', error: 'red', log: undefined };

export interface FinishedLinesProps {
  /** The lines of this batch; a new batch number makes <Static> write the new lines (older batches are already on screen). */
  lines: FinishedLine[];
  batch: number;
  nameWidth: number;
}

export function FinishedLine({ line, nameWidth }: { line: FinishedLine; nameWidth: number }) {
  return (
    <Text>
      <Text dimColor>{formatClock(line.at)} </Text>
      <Text color="cyan">{(line.container ?? 'niwa').padEnd(nameWidth)}</Text>
      {line.level === 'log' ? <Text dimColor>{line.stream === 'stderr' ? ' ! ' : ' | '}</Text> : '  '}
      <Text color={LEVEL_COLOR[line.level]}>{line.text}</Text>
    </Text>
  );
}

export function FinishedLines({ lines, batch, nameWidth }: FinishedLinesProps) {
  return (
    <Static key={batch} items={lines}>
      {(l) => <FinishedLine key={l.id} line={l} nameWidth={nameWidth} />}
    </Static>
  );
}
