/**
 * The one JSON voice of the CLI (docs/json.md): one document per command on stdout, JSON lines for
 * streams, and on failure one error document `{"error":{"code","message","hint"}}` on stderr.
 */
import type { Writable } from 'node:stream';
import pc from 'picocolors';
import { errorDocument, isMoatError } from '../errors.js';
import { jsonFor, textFor } from '../term/sanitize.js';

/** `--json` among moat's own arguments (what follows `--` belongs to the container command). */
export function jsonRequested(head: readonly string[]): boolean {
  return head.slice(2).includes('--json');
}

/** Where writeOut writes: stdout, or a pager's input while a command pages (cli/pager.ts). */
let output: Writable = process.stdout;

/** Send writeOut's text to `s` (a pager), or back to stdout. */
export function setOutput(s: Writable = process.stdout): void {
  output = s;
}

/** Write to stdout (or the pager), waiting for it to drain when its buffer is full (memory stays bounded on a slow pipe). */
export async function writeOut(s: string): Promise<void> {
  await writeTo(output, s);
}

/**
 * Write `s` to `out`, waiting for it to drain when its buffer is full. A stream that is closed (a pager the
 * user quit, a reader that went away) takes nothing more and holds nothing up: its end ends the command.
 */
export async function writeTo(out: Writable, s: string): Promise<void> {
  if (out.destroyed) return;
  if (!out.write(s)) {
    await new Promise<void>((r) => {
      const done = (): void => {
        out.off('drain', done);
        out.off('close', done);
        r();
      };
      out.on('drain', done);
      out.on('close', done);
    });
  }
}

/** One value as one line of JSON for stdout (C1 and bidi characters escaped on a terminal; the parsed value is the same). */
export function jsonLine(v: unknown): string {
  return `${jsonFor(process.stdout)(JSON.stringify(v))}\n`;
}

/** A command's one JSON document (or one line of a JSON-lines stream) on stdout. */
export function printJson(v: unknown): Promise<void> {
  return writeOut(jsonLine(v));
}

/**
 * A commander error in moat's words ("moat: unknown option '--x'", then perhaps "  did you mean: …") as
 * one E_USAGE document: the first line is the message, the suggestion (or `hint`) the hint.
 */
export function usageDocument(worded: string, hint?: string): string {
  const lines = worded
    .trim()
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && l !== '(add --help for usage)');
  const message = (lines[0] ?? '').replace(/^(moat|error):\s*/, '');
  const suggestion = lines.slice(1).find((l) => l.startsWith('did you mean'));
  return `${JSON.stringify({ error: { code: 'E_USAGE', message, hint: hint ?? suggestion ?? 'Add --help for usage.' } })}\n`;
}

/**
 * Report a failure on stderr and return the exit code: the error document with `--json`, otherwise
 * `moat: message` and the hint (a stack with --verbose for unexpected errors).
 */
export function reportError(err: unknown, opts: { json: boolean; verbose: boolean }): number {
  const exitCode = isMoatError(err) ? err.exitCode : 70;
  if (opts.json) {
    process.stderr.write(`${jsonFor(process.stderr)(JSON.stringify({ error: errorDocument(err) }))}\n`);
    return exitCode;
  }
  const forErr = textFor(process.stderr);
  if (isMoatError(err)) {
    process.stderr.write(`${pc.red('moat:')} ${forErr(err.message)}\n`);
    if (err.hint) process.stderr.write(`  ${forErr(err.hint)}\n`);
    if (opts.verbose && err.cause) process.stderr.write(`${String((err.cause as Error).stack ?? err.cause)}\n`);
    return exitCode;
  }
  const e = err as Error;
  process.stderr.write(`${pc.red('moat: unexpected error:')} ${forErr(e?.message ?? String(err))}\n`);
  process.stderr.write(opts.verbose ? `${e?.stack ?? ''}\n` : '  Run again with --verbose for details, and please report it.\n');
  return exitCode;
}
