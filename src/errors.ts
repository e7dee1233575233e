/**
 * The one user-facing error type. Anything below the CLI throws it; only src/cli turns it into output
 * and an exit code. `message` says what happened, `hint` the exact command or config line that fixes it.
 */
export class MoatError extends Error {
  readonly hint: string | undefined;
  readonly exitCode: number;

  constructor(message: string, opts: { hint?: string; exitCode?: number; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'MoatError';
    this.hint = opts.hint;
    this.exitCode = opts.exitCode ?? 1;
  }
}

export function isMoatError(err: unknown): err is MoatError {
  return err instanceof MoatError;
}

/** Narrow an unknown thrown value to a Node system error with a code. */
export function errnoCode(err: unknown): string | undefined {
  if (err && typeof err === 'object' && 'code' in err && typeof (err as { code: unknown }).code === 'string') {
    return (err as { code: string }).code;
  }
  return undefined;
}
