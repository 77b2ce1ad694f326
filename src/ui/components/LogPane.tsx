// Owns the log pane under the table: the latest log lines of the services whose logs are toggled on (`l`).
import { Box, Text } from 'ink';
import type { LogLine } from '../model.js';

export interface LogPaneProps { services: string[]; lines: LogLine[]; nameWidth: number; height: number }

export function LogPane({ services, lines, nameWidth, height }: LogPaneProps) {
  if (!services.length || height <= 0) return null;
  return (
    <Box flexDirection="column">
      <Text dimColor>{`── logs: ${services.join(', ')} ${'─'.repeat(20)}`}</Text>
      {lines.length === 0 && <Text dimColor>  (no output yet)</Text>}
      {lines.map((l, i) => (
        <Text key={i} wrap="truncate-end">
          <Text color="cyan">{l.container.padEnd(nameWidth)}</Text>
          <Text color={l.stream === 'stderr' ? 'red' : undefined}>{l.stream === 'stderr' ? ' ! ' : ' | '}</Text>
          {l.line}
        </Text>
      ))}
    </Box>
  );
}
