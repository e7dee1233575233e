import { resolveGrants, type ResolvedGrants } from '../credentials/resolve.js';
import type { CredentialStore } from '../credentials/store.js';

/**
 * Keeps a live run's refreshable grants fresh on the host: shortly before the earliest expiry it
 * re-resolves the grants (resolveGrants refreshes what is within the window and saves rotated tokens)
 * and hands the result to `apply` (new injections, answers and strings to redact for the gateway).
 */

export interface GrantRefreshOptions {
  names: string[];
  store: CredentialStore;
  env: NodeJS.ProcessEnv;
  /** What the run's gateway started with. Nothing is scheduled unless it has a `refreshAt`. */
  first: ResolvedGrants;
  apply(grants: ResolvedGrants): void;
  log(message: string): void;
  /** Credentials expiring within this are refreshed (default 5 minutes, resolveGrants' own default). */
  windowMs?: number;
  /** After a failed or ineffective attempt, try again after this (doubling, at most 15 min). Default 60 s. */
  retryMs?: number;
}

export interface GrantRefresher {
  stop(): void;
}

const DEFAULT_WINDOW_MS = 5 * 60_000;
const MAX_RETRY_MS = 15 * 60_000;
/** setTimeout's limit (~24.8 days); later expiries are re-checked then. */
const MAX_DELAY_MS = 2 ** 31 - 1;

/**
 * One re-resolve at a time in this process: two runs sharing a grant must not both spend the same
 * (rotating) refresh token; the second one reads the renewed credential and finds nothing to do.
 */
let chain: Promise<unknown> = Promise.resolve();
function serialized<T>(fn: () => Promise<T>): Promise<T> {
  const p = chain.then(fn, fn);
  chain = p.catch(() => undefined);
  return p;
}

/** resolveGrants, one at a time with every other refresh of this process (a run's start included). */
export function resolveGrantsSerialized(...args: Parameters<typeof resolveGrants>): Promise<ResolvedGrants> {
  return serialized(() => resolveGrants(...args));
}

export function startGrantRefresh(opts: GrantRefreshOptions): GrantRefresher {
  const windowMs = opts.windowMs ?? DEFAULT_WINDOW_MS;
  const retryMs = opts.retryMs ?? 60_000;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  let failures = 0;

  const retry = (): void => {
    schedule(Math.min(retryMs * 2 ** failures, MAX_RETRY_MS));
    failures++;
  };
  const schedule = (delay: number): void => {
    if (stopped) return;
    timer = setTimeout(() => void tick(), Math.max(0, Math.min(delay, MAX_DELAY_MS)));
    timer.unref();
  };
  /** Fire inside the refresh window (at 80% of it before expiry), never in a tight loop. */
  const scheduleFor = (refreshAt: string | undefined): void => {
    if (refreshAt === undefined) return;
    const due = Date.parse(refreshAt) - Math.floor(windowMs * 0.8) - Date.now();
    if (due > 0) {
      failures = 0;
      schedule(due);
    } else retry(); // still inside the window after an attempt: the refresh did not happen
  };

  const tick = async (): Promise<void> => {
    timer = undefined;
    let grants: ResolvedGrants;
    try {
      grants = await resolveGrantsSerialized(opts.names, opts.store, { env: opts.env, refreshWithinMs: windowMs });
    } catch (err) {
      if (stopped) return;
      opts.log(`grant refresh failed: ${err instanceof Error ? err.message : String(err)}`);
      retry();
      return;
    }
    if (stopped) return;
    opts.apply(grants);
    scheduleFor(grants.refreshAt);
  };

  const first = opts.first.refreshAt;
  if (first !== undefined) {
    const due = Date.parse(first) - Math.floor(windowMs * 0.8) - Date.now();
    schedule(due);
  }
  return {
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      timer = undefined;
    },
  };
}
