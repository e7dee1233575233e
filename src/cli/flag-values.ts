/**
 * Parsers for flag values, given to commander's `argParser`: a bad value is refused while the command
 * line is read, by commander, in a message that names the flag ("option '-n, --lines <N>' argument 'abc'
 * is invalid. …"), before any command runs. Never a NaN passed on to mean "no limit".
 */
import { InvalidArgumentError } from '@commander-js/extra-typings';

/** A whole number from `min` (to `max`), written in decimal digits only. */
export function wholeNumber(min = 0, max = Number.MAX_SAFE_INTEGER): (v: string) => number {
  return (v) => {
    const n = /^[0-9]+$/.test(v.trim()) ? Number(v.trim()) : Number.NaN;
    if (!Number.isSafeInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(
        max === Number.MAX_SAFE_INTEGER ? `Expected a whole number of ${min} or more.` : `Expected a whole number from ${min} to ${max}.`,
      );
    }
    return n;
  };
}

/** A decimal number ("1.5"), checked by `problem` (which says what is wrong, or undefined). */
export function decimalNumber(problem: (n: number) => string | undefined): (v: string) => number {
  return (v) => {
    const n = /^[0-9]+(\.[0-9]+)?$|^\.[0-9]+$/.test(v.trim()) ? Number(v.trim()) : Number.NaN;
    const p = Number.isFinite(n) ? problem(n) : 'expected a number, e.g. 1.5';
    if (p) throw new InvalidArgumentError(`${p.charAt(0).toUpperCase()}${p.slice(1)}.`);
    return n;
  };
}

/** `moat trace --status`: a status code, a class of them, or "blocked". */
export function traceStatus(v: string): string {
  if (/^[0-9]{1,3}$/.test(v)) return String(Number(v));
  if (/^[1-5]xx$/i.test(v) || v === 'blocked') return v.toLowerCase();
  throw new InvalidArgumentError('Expected a status code (200), a class of codes (4xx) or "blocked".');
}
