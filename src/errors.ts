/**
 * What kind of failure an error is: a closed set, stable across versions, for scripts (`--json` error
 * documents, the daemon's answers) and for code that must tell failures apart without reading their text.
 * docs/json.md lists them with their meaning.
 */
export const ERROR_CODES = [
  /** Flags or arguments that do not fit together, or input the command refuses (a bad name, a missing terminal). */
  'E_USAGE',
  /** moat.yaml, ~/.moat/config.yaml, a flag that overrides them, a dependency or mount spec is invalid. */
  'E_CONFIG',
  /** A run, grant, session, dependency, provider or file named by the user does not exist. */
  'E_NOT_FOUND',
  /** A reference (name, id prefix) matches more than one thing. */
  'E_AMBIGUOUS',
  /** The thing exists but is in the wrong state (still running, not running, a name taken, a log held). */
  'E_CONFLICT',
  /** moat.yaml's host-reaching settings wait for approval (`--approve-config`, `moat trust approve`). */
  'E_NOT_APPROVED',
  /** moat refuses on safety grounds (a sensitive workspace, a path that changed under it, unsafe text). */
  'E_REFUSED',
  /** A stored credential is missing, expired, damaged or rejected by its service. */
  'E_CREDENTIAL',
  /** A host could not be reached (to check or refresh a credential). */
  'E_NETWORK',
  /** The container engine cannot be reached (not running, no permission, unsupported DOCKER_HOST). */
  'E_ENGINE_UNREACHABLE',
  /** The container engine answered with an error. */
  'E_ENGINE',
  /** The image build failed. */
  'E_BUILD',
  /** The per-home daemon is busy, did not start, or refused a run's gateway. */
  'E_DAEMON',
  /** An audit log, bundle, proof or key is damaged, missing or does not verify. */
  'E_AUDIT',
  /** An unexpected error: a bug (exit code 70). */
  'E_INTERNAL',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export function isErrorCode(v: unknown): v is ErrorCode {
  return typeof v === 'string' && (ERROR_CODES as readonly string[]).includes(v);
}

export interface MoatErrorOptions {
  code: ErrorCode;
  hint?: string | undefined;
  exitCode?: number;
  cause?: unknown;
}

/** An error as data: what `--json` prints on stderr and what the daemon answers. */
export interface ErrorDocument {
  code: ErrorCode;
  message: string;
  hint: string | null;
}

/**
 * The one user-facing error type. Anything below the CLI throws it; only src/cli turns it into output
 * and an exit code. `code` says what kind of failure it is, `message` what happened, `hint` the exact
 * command or config line that fixes it.
 */
export class MoatError extends Error {
  readonly code: ErrorCode;
  readonly hint: string | undefined;
  readonly exitCode: number;

  constructor(message: string, opts: MoatErrorOptions) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'MoatError';
    this.code = opts.code;
    this.hint = opts.hint;
    this.exitCode = opts.exitCode ?? 1;
  }

  toDocument(): ErrorDocument {
    return { code: this.code, message: this.message, hint: this.hint ?? null };
  }

  /** An error document read back (from the daemon): a MoatError again, or undefined when it is not one. */
  static fromDocument(v: unknown, exitCode?: number): MoatError | undefined {
    if (!v || typeof v !== 'object') return undefined;
    const d = v as Partial<Record<keyof ErrorDocument, unknown>>;
    if (!isErrorCode(d.code) || typeof d.message !== 'string') return undefined;
    return new MoatError(d.message, { code: d.code, ...(typeof d.hint === 'string' ? { hint: d.hint } : {}), ...(exitCode === undefined ? {} : { exitCode }) });
  }
}

export function isMoatError(err: unknown): err is MoatError {
  return err instanceof MoatError;
}

/** The error document of any thrown value: a MoatError's own, anything else as E_INTERNAL. */
export function errorDocument(err: unknown): ErrorDocument {
  if (isMoatError(err)) return err.toDocument();
  const message = err instanceof Error ? err.message : String(err);
  return { code: 'E_INTERNAL', message, hint: 'Run again with --verbose for details, and please report it.' };
}

/** Narrow an unknown thrown value to a Node system error with a code. */
export function errnoCode(err: unknown): string | undefined {
  if (err && typeof err === 'object' && 'code' in err && typeof (err as { code: unknown }).code === 'string') {
    return (err as { code: string }).code;
  }
  return undefined;
}

/**
 * An error shaped like Node's own system errors (`err.code`, e.g. ETIMEDOUT, ENOTFOUND), for places that
 * stand in for a system call and whose callers classify by that code.
 */
export class SystemLikeError extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
  }
}
