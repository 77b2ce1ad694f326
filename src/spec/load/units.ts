// Unit parsing: sizes ("32M", "1.5G", "2GiB", bytes) → bytes, octal modes, CPU counts.

const UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };
const SIZE_RE = /^([0-9]+(?:\.[0-9]+)?)\s*([kmgt]?)(i?b)?$/i;

/** Bytes from a number or a size string (binary units: K = 1024); undefined if malformed. */
export function parseSize(v: string | number): number | undefined {
  if (typeof v === 'number') return Number.isSafeInteger(v) && v >= 0 ? v : undefined;
  const m = SIZE_RE.exec(v.trim());
  if (!m) return undefined;
  const unit = m[2].toLowerCase() || (m[3] ? 'b' : '');
  const n = Math.floor(Number(m[1]) * UNITS[unit]);
  return Number.isSafeInteger(n) ? n : undefined; // (a size past 8 PiB is a typo, not a limit)
}

/** Like parseSize, and -1 / 'unlimited' → -1. */
export function parseSizeOrUnlimited(v: string | number): number | undefined {
  if (v === -1 || v === '-1' || v === 'unlimited') return -1;
  return parseSize(v);
}

/** A mode: an octal string ("1777", "0755", "0o755") or a number (taken as is, e.g. 0o1777). */
export function parseMode(v: string | number): number | undefined {
  if (typeof v === 'number') return Number.isInteger(v) && v >= 0 && v <= 0o7777 ? v : undefined;
  const m = /^(?:0o?)?([0-7]{1,4})$/.exec(v.trim());
  return m ? parseInt(m[1], 8) : undefined;
}

/** CPUs as a positive number from 0.5 or "0.5". */
export function parseCpus(v: string | number): number | undefined {
  const n = typeof v === 'number' ? v : /^[0-9]+(\.[0-9]+)?$/.test(v.trim()) ? Number(v) : NaN;
  return Number.isFinite(n) && n > 0 ? n : undefined;
}
