import type { AwsGrantConfig } from '../credentials/types.js';
import type { AwsIdentity } from '../credentials/aws-credentials.js';
import type { AwsKeys, AwsResigner } from '../gateway/aws-types.js';

/**
 * A run's aws grant inside the daemon: the real credentials are obtained here (AWS's SDK loaded only
 * now), held in memory only, and renewed before they expire — at 80 % of their lifetime (12 minutes
 * before the end of an hour's session) — so the container never notices. A failed renewal is retried (30 s, doubling,
 * at most 5 min) while the old credentials still hold.
 */

export interface AwsSigning {
  resigner: AwsResigner;
  stop(): void;
}

export interface AwsSigningOptions {
  env: NodeJS.ProcessEnv;
  runId: string;
  log(message: string): void;
  /** Every real secret obtained (for the run's log maskers). */
  onSecrets(secrets: string[]): void;
  /** Test seam: how credentials are obtained (default: fetchAwsCredentials). */
  fetch?: (cfg: AwsGrantConfig) => Promise<AwsIdentity>;
}

const MAX_DELAY_MS = 2 ** 31 - 1;
const MIN_DELAY_MS = 5_000;

/** When to renew credentials expiring at `expiration`, obtained at `obtained` (ms epoch). */
export function renewDelay(obtained: number, expiration: string | undefined, now = Date.now()): number | undefined {
  if (!expiration) return undefined;
  const end = Date.parse(expiration);
  if (Number.isNaN(end)) return undefined;
  const lifetime = Math.max(0, end - obtained);
  const at = obtained + lifetime * 0.8;
  // Never a tight loop, even for credentials that arrive (nearly) expired.
  return Math.max(MIN_DELAY_MS, Math.min(at - now, MAX_DELAY_MS));
}

export async function startAwsSigning(cfg: AwsGrantConfig, opts: AwsSigningOptions): Promise<AwsSigning> {
  const [{ createAwsResigner }, { fetchAwsCredentials }] = await Promise.all([import('../gateway/aws-resign.js'), import('../credentials/aws-credentials.js')]);
  const stsEndpoint = opts.env.MOAT_AWS_STS_URL || undefined;
  const sessionName = `moat-${opts.runId}`.slice(0, 64);
  const fetch = opts.fetch ?? ((c: AwsGrantConfig) => fetchAwsCredentials(c.credentials, { ...(stsEndpoint ? { stsEndpoint } : {}), sessionName }));
  const obtain = async (): Promise<AwsKeys> => {
    const { arn: _arn, ...keys } = await fetch(cfg);
    opts.onSecrets([keys.accessKeyId, keys.secretAccessKey, ...(keys.sessionToken ? [keys.sessionToken] : [])]);
    return keys;
  };
  let current = await obtain();
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  let failures = 0;
  const schedule = (delay: number | undefined): void => {
    if (stopped || delay === undefined) return;
    timer = setTimeout(() => void renew(), delay);
    timer.unref();
  };
  const renew = async (): Promise<void> => {
    timer = undefined;
    try {
      const next = await obtain();
      if (stopped) return;
      current = next;
      failures = 0;
      opts.log(`aws credentials renewed${next.expiration ? ` (expire ${next.expiration})` : ''}`);
      schedule(renewDelay(Date.now(), next.expiration));
    } catch (err) {
      if (stopped) return;
      opts.log(`aws credential renewal failed: ${err instanceof Error ? err.message : String(err)}`);
      schedule(Math.min(30_000 * 2 ** failures++, 5 * 60_000));
    }
  };
  schedule(renewDelay(Date.now(), current.expiration));
  return {
    resigner: createAwsResigner({
      grant: cfg.grant,
      placeholder: cfg.placeholder,
      real: () => Promise.resolve(current),
      endpoints: cfg.endpoints,
      region: cfg.credentials.region,
    }),
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
    },
  };
}
