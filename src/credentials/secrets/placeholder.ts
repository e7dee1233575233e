import { randomFrom } from '../providers/shared.js';

/**
 * A placeholder shaped like the secret it stands for, so a tool's local format checks pass: the same
 * recognisable prefix (`sk_test_`, `ghp_`, `xoxb-`, `sk-ant-api03-`), the same length, characters of the
 * same kind. Random every time and never derived from the value beyond that shape. Its random part is at
 * least 20 characters, so it never turns up in a request by chance.
 */

const DIGITS = '0123456789';
const HEX = '0123456789abcdef';
const HEX_UPPER = '0123456789ABCDEF';
const BASE62 = `${DIGITS}ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz`;
const MIN_RANDOM = 20;

/**
 * The secret's public prefix: up to three short lower-case word segments each ending in `_` or `-`
 * (`sk_test_`, `lin_api_`, `sk-ant-api03-`), taking at most half of the value. Anything else is treated
 * as secret material and not copied.
 */
export function recognisablePrefix(value: string): string {
  const m = /^(?:[a-z]{2,8}[0-9]{0,2}[_-]){1,3}/.exec(value);
  const prefix = m?.[0] ?? '';
  return prefix.length * 2 <= value.length && prefix.length <= 16 ? prefix : '';
}

function alphabetOf(rest: string): string {
  if (/^[0-9]+$/.test(rest)) return DIGITS;
  if (/^[0-9a-f]+$/.test(rest)) return HEX;
  if (/^[0-9A-F]+$/.test(rest)) return HEX_UPPER;
  return BASE62;
}

export function shapedPlaceholder(value: string): string {
  const prefix = recognisablePrefix(value);
  const rest = value.slice(prefix.length);
  const alphabet = alphabetOf(rest);
  // Short or digit-only secrets get a longer random part: the placeholder must be unmistakable.
  const length = Math.max(rest.length, alphabet === DIGITS ? 32 : MIN_RANDOM);
  let out: string;
  do out = prefix + randomFrom(alphabet, length);
  while (out === value || value.includes(out) || out.includes(value));
  return out;
}
