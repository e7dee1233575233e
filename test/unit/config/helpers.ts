import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect } from 'vitest';
import { isMoatError } from '../../../src/errors.js';

/** A fresh workspace directory holding the given files. */
export async function workspace(files: Record<string, string> = {}): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'moat-config-'));
  for (const [name, text] of Object.entries(files)) await writeFile(path.join(dir, name), text);
  return dir;
}

/** Awaits a rejection and returns the MoatError's message. */
export async function errorOf(promise: Promise<unknown>): Promise<string> {
  const err: unknown = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isMoatError(err), `expected a MoatError, got ${String(err)}`).toBe(true);
  return (err as Error).message;
}

/** The problem lines (`FILE:LINE:COL: ...`) of a config error message. */
export function problemLines(message: string): string[] {
  return message
    .split('\n')
    .slice(1)
    .map((l) => l.trim());
}
