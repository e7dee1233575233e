/**
 * POSIX shell quoting: command lines moat prints for a user to type (`cd '/my dir' && moat claude …`) and
 * the shell lines it writes into Dockerfiles. Single quotes keep every byte as it is; a `'` inside is
 * spelled `'\''`.
 */

/** Characters no POSIX shell gives a meaning to in a word. */
const PLAIN = /^[\w@%+=:,./-]+$/;

/** `text` as one single-quoted shell word, whatever it holds. */
export function shellQuote(text: string): string {
  return `'${text.replaceAll("'", `'\\''`)}'`;
}

/** `text` as one shell word: as it is when nothing in it needs quoting, else single-quoted. */
export function shellWord(text: string): string {
  return PLAIN.test(text) ? text : shellQuote(text);
}

/** Words as one command line that a POSIX shell splits back into the same words. */
export function shellJoin(words: readonly string[]): string {
  return words.map(shellWord).join(' ');
}
