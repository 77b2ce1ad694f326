// Owns turning a signal as a user writes it (TERM, SIGTERM, 15) into Node's signal name.
import { constants } from 'node:os';
import { UserError } from '../errors.js';

/** "HUP", "SIGHUP" or "1" → "SIGHUP"; a UserError for anything else. */
export function parseSignal(s: string): NodeJS.Signals {
  const t = s.trim().toUpperCase();
  if (/^\d+$/.test(t)) {
    const name = Object.entries(constants.signals).find(([, n]) => n === Number(t))?.[0];
    if (name) return name as NodeJS.Signals;
  } else {
    const name = t.startsWith('SIG') ? t : 'SIG' + t;
    if (name in constants.signals) return name as NodeJS.Signals;
  }
  throw new UserError('E_SIGNAL', `unknown signal '${s}'`, [], 'use a name like TERM, SIGHUP, KILL or a number');
}
