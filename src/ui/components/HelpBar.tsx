// Owns the key help line at the bottom, or the quitting notice once a stop-all is under way.
import { Text } from 'ink';

export interface HelpBarProps { quitting: 'no' | 'graceful' | 'force'; interactive: boolean; leaves?: boolean }

export function HelpBar({ quitting, interactive, leaves }: HelpBarProps) {
  if (leaves) {
    if (quitting !== 'no') return <Text color="yellow">leaving the view… the containers keep running</Text>;
    if (!interactive) return <Text dimColor>Ctrl-C leave (the containers keep running)</Text>;
    return <Text dimColor>↑/↓ select · l logs · r restart · s stop · q quit (the containers keep running)</Text>;
  }
  if (quitting === 'graceful') return <Text color="yellow">stopping everything… (Ctrl-C again to force)</Text>;
  if (quitting === 'force') return <Text color="red">forcing: killing everything…</Text>;
  if (!interactive) return <Text dimColor>Ctrl-C stop all</Text>;
  return <Text dimColor>↑/↓ select · l logs · r restart · s stop · q quit (Ctrl-C twice forces)</Text>;
}
