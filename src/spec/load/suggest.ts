// "Did you mean …?": the closest known name to a misspelt one (edit distance, ignoring case and _/-).

const squash = (s: string) => s.toLowerCase().replace(/[-_\s]/g, '');

export function editDistance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0];
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = prev[j];
      prev[j] = Math.min(prev[j] + 1, prev[j - 1] + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = tmp;
    }
  }
  return prev[b.length];
}

/** The known name closest to `word`, or undefined when nothing is reasonably close. */
export function closest(word: string, known: readonly string[]): string | undefined {
  const w = squash(word);
  let best: string | undefined;
  let bestD = Infinity;
  for (const k of known) {
    const d = squash(k) === w ? 0 : editDistance(w, squash(k));
    if (d < bestD) { best = k; bestD = d; }
  }
  const limit = Math.max(2, Math.floor(w.length / 3));
  return bestD <= limit ? best : undefined;
}

/** " (did you mean 'x'?)"-style hint text, or a list of the known names. */
export function suggestHint(word: string, known: readonly string[], what = 'known names'): string {
  const c = closest(word, known);
  return c !== undefined ? `did you mean '${c}'?` : `${what}: ${known.join(', ')}`;
}
