/** One window's refusals of one host (and status) that were counted rather than recorded one by one. */
export interface RefusalSummary {
  type: 'refusals';
  /** End of the window (ISO-8601). */
  ts: string;
  host: string;
  status: number;
  /** The latest refusal reason of the window (reasons can carry the path, so they are not part of the key). */
  reason: string;
  count: number;
  /** First and last suppressed refusal of the window. */
  since: string;
  until: string;
}

interface Bucket {
  host: string;
  status: number;
  reason: string;
  recorded: number;
  count: number;
  since: string;
  until: string;
}

export interface RefusalAggregatorOptions {
  /** Refusals of one host+status recorded one by one before counting starts (default 20). */
  perKey?: number;
  /** Distinct hosts tracked; refusals of further hosts go to one "*" bucket (default 256). */
  maxKeys?: number;
}

const OTHER_HOSTS = '*';

/**
 * Aggregates repeated refusals: the first `perKey` refusals of a host+status pass (recorded in full),
 * later ones are counted, and drain() turns each window's counts into one summary per host+status.
 * Host names a container varies (random subdomains) share one bucket beyond `maxKeys`.
 */
export class RefusalAggregator {
  private readonly buckets = new Map<string, Bucket>();
  private readonly perKey: number;
  private readonly maxKeys: number;

  constructor(opts: RefusalAggregatorOptions = {}) {
    this.perKey = opts.perKey ?? 20;
    this.maxKeys = opts.maxKeys ?? 256;
  }

  /** True: record this refusal in full. False: it was counted into its host's summary. */
  admit(host: string, status: number, reason: string, ts: string): boolean {
    let key = `${status} ${host}`;
    let b = this.buckets.get(key);
    if (!b) {
      if (this.buckets.size >= this.maxKeys) {
        key = `${status} ${OTHER_HOSTS}`;
        b = this.buckets.get(key);
        if (!b) {
          b = { host: OTHER_HOSTS, status, reason: '', recorded: this.perKey, count: 0, since: ts, until: ts };
          this.buckets.set(key, b);
        }
      } else {
        b = { host, status, reason: '', recorded: 0, count: 0, since: ts, until: ts };
        this.buckets.set(key, b);
      }
    }
    if (b.recorded < this.perKey) {
      b.recorded += 1;
      return true;
    }
    if (b.count === 0) b.since = ts;
    b.count += 1;
    b.until = ts;
    b.reason = reason;
    return false;
  }

  /** One summary per host+status with refusals counted since the last drain; resets those counts. */
  drain(now: string): RefusalSummary[] {
    const out: RefusalSummary[] = [];
    for (const b of this.buckets.values()) {
      if (b.count === 0) continue;
      out.push({ type: 'refusals', ts: now, host: b.host, status: b.status, reason: b.reason, count: b.count, since: b.since, until: b.until });
      b.count = 0;
    }
    return out;
  }
}
