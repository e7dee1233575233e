import { type HostPattern, credentialPattern, matchHost } from './hosts.js';

/**
 * `secrets:` at the gateway. The container holds placeholders; in a request to one of a secret's hosts
 * (over TLS, to the exact host the client named everywhere) the gateway replaces its placeholder with the
 * real value wherever it appears: any header (Basic credentials decoded and re-encoded), the path and
 * query, and bodies of up to 1 MiB of JSON, form or text. A placeholder in a request to any other host,
 * or over plain HTTP, is sent as it is and recorded as a refused substitution. Events carry names only.
 */

/** Plain data, produced by the credentials layer from a run's resolved secrets. */
export interface SecretSubstitution {
  name: string;
  placeholder: string;
  value: string;
  hosts: string[];
}

interface CompiledSecret {
  name: string;
  placeholder: string;
  value: string;
  hosts: HostPattern[];
}

/** The largest request body searched and rewritten (larger bodies stream through untouched). */
const MAX_SUBSTITUTED_BODY = 1024 * 1024;

type Headers = Record<string, string | string[] | undefined>;
type BodyKind = 'json' | 'form' | 'text';

const has = (text: string, s: CompiledSecret): boolean => text.includes(s.placeholder);
const swap = (text: string, s: CompiledSecret, value: string): string => text.split(s.placeholder).join(value);
// eslint-disable-next-line no-control-regex
const HEADER_SAFE = /^[^\r\n\x00]*$/;

/** How a value is written where it replaces a placeholder, so the request means what the real value means. */
function encoded(value: string, where: 'header' | 'url' | BodyKind): string | undefined {
  switch (where) {
    case 'header':
      return HEADER_SAFE.test(value) ? value : undefined;
    case 'url':
    case 'form':
      return encodeURIComponent(value);
    case 'json':
      return JSON.stringify(value).slice(1, -1);
    case 'text':
      return value;
  }
}

export function bodyKind(headers: Headers): BodyKind | undefined {
  const encoding = String(headers['content-encoding'] ?? 'identity').toLowerCase();
  if (encoding !== 'identity') return undefined;
  const type = String(headers['content-type'] ?? '')
    .split(';')[0]!
    .trim()
    .toLowerCase();
  if (type === 'application/json' || /^application\/[a-z0-9.+-]+\+json$/.test(type) || type === 'application/x-ndjson') return 'json';
  if (type === 'application/x-www-form-urlencoded') return 'form';
  if (type.startsWith('text/')) return 'text';
  return undefined;
}

/** One request's substitutions: what may be replaced here, and what was replaced or refused. */
export class RequestSubstitution {
  readonly applied = new Set<string>();
  readonly refused = new Set<string>();
  private tail = '';

  constructor(
    private readonly allowed: CompiledSecret[],
    private readonly others: CompiledSecret[],
  ) {}

  /** Whether the body must be read whole before it is sent (a secret may be substituted in it). */
  get rewritesBody(): boolean {
    return this.allowed.length > 0;
  }

  private text(text: string, where: 'header' | 'url' | BodyKind): string {
    let out = text;
    for (const s of this.allowed) {
      if (!has(out, s)) continue;
      const value = encoded(s.value, where);
      if (value === undefined) {
        this.refused.add(s.name);
        continue;
      }
      out = swap(out, s, value);
      this.applied.add(s.name);
    }
    for (const s of this.others) if (has(out, s)) this.refused.add(s.name);
    return out;
  }

  /** `Basic base64(user:password)`: the placeholder is inside the encoding. */
  private basic(value: string): string | undefined {
    const m = /^(Basic\s+)([A-Za-z0-9+/=_-]+)\s*$/i.exec(value);
    if (!m?.[2]) return undefined;
    const decoded = Buffer.from(m[2], 'base64').toString('utf8');
    if (![...this.allowed, ...this.others].some((s) => has(decoded, s))) return undefined;
    const replaced = this.text(decoded, 'header');
    return `${m[1] ?? 'Basic '}${Buffer.from(replaced, 'utf8').toString('base64')}`;
  }

  /** Rewrite header values in place. */
  headers(headers: Headers): void {
    for (const [k, v] of Object.entries(headers)) {
      if (v === undefined) continue;
      const one = (x: string): string => this.basic(x) ?? this.text(x, 'header');
      headers[k] = Array.isArray(v) ? v.map(one) : one(v);
    }
  }

  /** The request target (path and query). */
  path(p: string): string {
    return this.text(p, 'url');
  }

  /** A whole body of the given kind (read by the caller, at most MAX_SUBSTITUTED_BODY bytes). */
  body(buf: Buffer, kind: BodyKind | undefined): Buffer {
    const text = buf.toString('utf8');
    // Only text that round-trips: binary bytes are never rewritten (nor searched beyond what watch does).
    if (!kind || !Buffer.from(text, 'utf8').equals(buf)) {
      this.watch(buf);
      return buf;
    }
    const out = this.text(text, kind);
    return out === text ? buf : Buffer.from(out, 'utf8');
  }

  /** A streamed body that is not rewritten: placeholders in it are recorded as refused (across chunk ends). */
  watch(chunk: Buffer): void {
    const all = [...this.allowed, ...this.others];
    if (all.length === 0) return;
    const text = this.tail + chunk.toString('latin1');
    for (const s of all) if (has(text, s)) this.refused.add(s.name);
    const keep = Math.max(...all.map((s) => s.placeholder.length)) - 1;
    this.tail = text.slice(Math.max(0, text.length - keep));
  }
}

export interface Substituter {
  /** Every host pattern a secret may be sent to (allowed under a strict policy, like a grant's). */
  readonly hosts: string[];
  /** Whether some secret may be sent to this host (it gets a credentialed host's care). */
  covers(host: string, port?: number): boolean;
  /** The substitutions for one request; undefined when the run has no secrets. */
  plan(host: string, port: number, secure: boolean): RequestSubstitution | undefined;
}

export function compileSubstitutions(list: readonly SecretSubstitution[]): Substituter {
  const compiled: CompiledSecret[] = list.map((s) => ({ name: s.name, placeholder: s.placeholder, value: s.value, hosts: s.hosts.map(credentialPattern) }));
  const matches = (s: CompiledSecret, host: string, port?: number): boolean => s.hosts.some((p) => matchHost(p, host, port));
  return {
    hosts: [...new Set(compiled.flatMap((s) => s.hosts.map((p) => p.source)))],
    covers: (host, port) => compiled.some((s) => matches(s, host, port)),
    plan(host, port, secure) {
      if (compiled.length === 0) return undefined;
      // Over plain HTTP a real value would cross the wire in clear text: never substituted there.
      const allowed = secure ? compiled.filter((s) => matches(s, host, port)) : [];
      return new RequestSubstitution(
        allowed,
        compiled.filter((s) => !allowed.includes(s)),
      );
    },
  };
}

/**
 * Read a request body up to MAX_SUBSTITUTED_BODY bytes. `whole` when it all fit; otherwise the bytes read
 * so far and the rest of the stream, to be sent on untouched.
 */
export async function readBounded(source: AsyncIterable<Buffer>): Promise<{ whole: Buffer } | { head: Buffer; rest: AsyncIterator<Buffer> }> {
  const it = source[Symbol.asyncIterator]();
  const chunks: Buffer[] = [];
  let n = 0;
  for (;;) {
    const r = await it.next();
    if (r.done) return { whole: Buffer.concat(chunks) };
    chunks.push(r.value);
    n += r.value.length;
    if (n > MAX_SUBSTITUTED_BODY) return { head: Buffer.concat(chunks), rest: it };
  }
}
