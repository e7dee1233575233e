import { loadGlobalConfig } from '../config/load.js';
import type { MoatHome } from '../home/paths.js';

// The caps of each recorded field live beside the events they cap (the image build records with them too).
export { RECORD_LIMITS, TRUNCATED, capText, capRequestEvent } from '../gateway/record-caps.js';
import { RECORD_LIMITS } from '../gateway/record-caps.js';

export type Priority = 'event' | 'summary' | 'final';

/**
 * A file's byte budget. Single events stop at `limit - reserve`, so the summaries that replace them
 * still fit; summaries stop at `limit - finalReserve`, which keeps room for the closing record.
 */
export class ByteBudget {
  readonly reserve: number;
  readonly finalReserve: number;
  constructor(
    readonly limit: number,
    public used = 0,
  ) {
    this.reserve = Math.min(1024 * 1024, Math.floor(limit / 8));
    this.finalReserve = Math.min(16 * 1024, Math.floor(limit / 64));
  }

  fits(bytes: number, p: Priority): boolean {
    const cap = p === 'event' ? this.limit - this.reserve : p === 'summary' ? this.limit - this.finalReserve : this.limit;
    return this.used + bytes <= cap;
  }

  /** Take `bytes` if they fit at priority `p`. */
  take(bytes: number, p: Priority): boolean {
    if (!this.fits(bytes, p)) return false;
    this.used += bytes;
    return true;
  }
}

/** The byte budgets of a run's network.jsonl and audit.jsonl: `records` in ~/.moat/config.yaml, or the defaults. */
export async function recordBudgets(home: MoatHome): Promise<{ traceBytes: number; auditBytes: number }> {
  const records = (await loadGlobalConfig(home.globalConfig).catch(() => undefined))?.records;
  const mib = (n: number | undefined): number => (n === undefined ? RECORD_LIMITS.budgetBytes : Math.floor(n * 1024 * 1024));
  return { traceBytes: mib(records?.trace_max_mib), auditBytes: mib(records?.audit_max_mib) };
}
