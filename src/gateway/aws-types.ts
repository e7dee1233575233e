/**
 * The gateway's AWS contract, free of AWS code: the proxy asks an `AwsResigner` (built by the daemon,
 * which loads AWS's signing library only for a run with an aws grant) to check and re-sign a request.
 */

/** One credential set: the container's placeholder, or the real one only the daemon holds. */
export interface AwsKeys {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  /** ISO-8601; absent for long-term keys. */
  expiration?: string;
}

/** What the gateway hands over: the request as the client sent it, its body not read yet. */
export interface AwsRequestIn {
  method: string;
  /** The target host and port (already checked against the Host header, SNI and CONNECT). */
  host: string;
  port: number;
  /** The Host header as the client sent (and signed) it. */
  hostHeader: string;
  /** Origin-form target as the client sent it (what it signed). */
  rawTarget: string;
  /** Origin-form target as the gateway forwards it (normalised path, query as sent). */
  target: string;
  /** Lower-case headers as forwarded (hop-by-hop and host removed). */
  headers: Record<string, string | string[] | undefined>;
  body: AsyncIterable<Buffer> | null;
}

export interface AwsRequestOut {
  /** Origin-form target to send (a presigned URL's query is signed anew). */
  target: string;
  headers: Record<string, string | string[] | undefined>;
  body: AsyncIterable<Buffer> | Buffer | null;
  /** The service and region the client signed for (from its credential scope), for the trace. */
  service: string;
  region: string;
}

export interface AwsResigner {
  readonly grant: string;
  /** Host patterns the grant makes usable under a strict policy, like other grants' hosts (aws-hosts.ts). */
  readonly hosts: readonly string[];
  /** Whether requests to this host and port are AWS requests this grant signs. */
  matches(host: string, port: number): boolean;
  /**
   * Check the placeholder signature and sign anew with the real credentials; rejects with AwsRefusal.
   * Resolves undefined for an unsigned request (forwarded as it is, no credential added).
   */
  resign(req: AwsRequestIn): Promise<AwsRequestOut | undefined>;
}

/** A request the gateway refuses to re-sign: answered `status` with `message`, never forwarded. */
export class AwsRefusal extends Error {
  readonly awsRefusal = true;
  constructor(
    readonly status: 400 | 403 | 413 | 502 | 503,
    message: string,
  ) {
    super(message);
    this.name = 'AwsRefusal';
  }
}

export function isAwsRefusal(err: unknown): err is AwsRefusal {
  return err instanceof Error && (err as Partial<AwsRefusal>).awsRefusal === true;
}

/** AWS's public endpoints: `*.amazonaws.com` and `*.amazonaws.com.cn` at any depth, on port 443. */
export function isAwsHost(host: string, port: number, custom: readonly string[] = []): boolean {
  const h = host.toLowerCase();
  if (custom.includes(port === 443 ? h : `${h}:${port}`)) return true;
  return port === 443 && (h.endsWith('.amazonaws.com') || h.endsWith('.amazonaws.com.cn'));
}
