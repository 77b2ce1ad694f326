// Text from a container shown on the user's terminal: escape sequences in it could retitle the
// window, move the cursor, rewrite earlier lines, set the clipboard (OSC 52) or, on some terminals,
// answer queries into the shell's input. So control characters are shown, not sent: ESC as ^[,
// other C0 controls as ^X, DEL as ^?, C1 controls (U+0080–U+009F) as \u009b. Tabs stay.
// `niwa logs --raw` (or output that is not a terminal) gets the bytes as they were.

/** `text` with every control character except tab made visible. */
export function harmless(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\x00-\x08\x0a-\x1f\x7f\x80-\x9f]/g, (c) => {
    const n = c.charCodeAt(0);
    if (n < 0x20) return '^' + String.fromCharCode(n + 0x40);
    if (n === 0x7f) return '^?';
    return `\\u${n.toString(16).padStart(4, '0')}`;
  });
}
