// Owns the rows of images being pulled (above the container table): one line per image with a bar,
// layers done of all and bytes so far. Props in, text out.
import { Box, Text } from 'ink';
import { pullSummary, type PullView } from '../model.js';

const mb = (n: number) => `${(n / 1e6).toFixed(1)}MB`;

export function pullLine(p: PullView, width = 24): string {
  const s = pullSummary(p);
  const f = s.total ? Math.min(1, s.current / s.total) : s.layers ? s.done / s.layers : 0;
  const n = Math.round(f * width);
  return `pulling ${p.ref}  [${'='.repeat(Math.max(0, n - 1))}${n ? '>' : ''}${' '.repeat(width - n)}] ${s.done}/${s.layers} layers  ${mb(s.current)}/${mb(s.total)}`;
}

export function PullRows({ pulls }: { pulls: PullView[] }) {
  if (!pulls.length) return null;
  return (
    <Box flexDirection="column">
      {pulls.map((p) => <Text key={p.ref} color="cyan">{pullLine(p)}</Text>)}
    </Box>
  );
}
