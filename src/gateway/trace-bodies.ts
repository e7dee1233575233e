import type { IncomingHttpHeaders } from 'node:http';

/** Headers whose values are credentials or session state: never recorded, whatever their value. */
const SENSITIVE = new Set(['authorization', 'proxy-authorization', 'x-api-key', 'cookie', 'set-cookie', 'chatgpt-account-id', 'x-auth-token', 'private-token']);

/** Header values for the trace, sensitive ones masked. */
export function traceHeaders(headers: IncomingHttpHeaders | Record<string, string | string[] | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) {
    if (v === undefined) continue;
    out[k] = SENSITIVE.has(k.toLowerCase()) ? '[REDACTED]' : Array.isArray(v) ? v.join(', ') : v;
  }
  return out;
}

/** Keeps the first `limit` bytes of a body as text, marking what was cut. */
export class BodySample {
  private readonly chunks: Buffer[] = [];
  private size = 0;
  private total = 0;

  constructor(private readonly limit: number) {}

  add(chunk: Buffer): void {
    this.total += chunk.length;
    if (this.size >= this.limit) return;
    const part = chunk.subarray(0, this.limit - this.size);
    this.chunks.push(part);
    this.size += part.length;
  }

  text(): string | undefined {
    if (this.total === 0) return undefined;
    const t = Buffer.concat(this.chunks).toString('utf8');
    return this.total > this.size ? `${t}…[${this.total - this.size} more bytes]` : t;
  }
}
