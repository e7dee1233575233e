import { DEFAULT_CHECK_TIMEOUT_MS, type Check, type CheckResult, type DoctorContext } from './types.js';

/**
 * Run every check at once, each bounded by its own timeout, and return the results in the checks' order.
 * A check that throws or hangs becomes a result of its own: doctor always ends and always reports.
 */
export async function runChecks(checks: readonly Check[], ctx: DoctorContext): Promise<CheckResult[]> {
  const results = await Promise.all(checks.map((c) => runOne(c, ctx)));
  return results.flat();
}

async function runOne(check: Check, ctx: DoctorContext): Promise<CheckResult[]> {
  const ms = check.timeoutMs ?? DEFAULT_CHECK_TIMEOUT_MS;
  let timer: NodeJS.Timeout | undefined;
  const hung = new Promise<CheckResult>((resolve) => {
    timer = setTimeout(
      () =>
        resolve({
          name: check.name,
          status: check.onTimeout.status ?? 'fail',
          detail: `${check.onTimeout.detail} (no answer within ${Math.round(ms / 100) / 10} s)`,
          fix: check.onTimeout.fix,
        }),
      ms,
    );
    timer.unref();
  });
  try {
    const r = await Promise.race([check.run(ctx), hung]);
    return Array.isArray(r) ? r : [r];
  } catch (err) {
    const e = err as { message?: string; hint?: string; fix?: string };
    return [
      {
        name: check.name,
        status: 'fail',
        detail: e.message ?? String(err),
        fix: e.fix ?? e.hint ?? 'Run moat doctor again; if it persists, please report it.',
      },
    ];
  } finally {
    clearTimeout(timer);
  }
}

/** 1 when any check failed, else 0. */
export const exitCodeOf = (results: readonly CheckResult[]): number => (results.some((r) => r.status === 'fail') ? 1 : 0);
