import { request, type IncomingMessage, type RequestOptions } from 'node:http';
import type { Duplex, Readable } from 'node:stream';
import { SystemLikeError, errnoCode } from '../../errors.js';
import { chooseApi } from './api-version.js';
import { engineEndpoint } from './endpoint.js';
import { engineFromPing, engineMismatch, podmanSocket, type EngineName } from '../engine.js';

class EngineError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
  ) {
    super(message);
  }
}

type Query = Record<string, string | number | boolean | undefined>;

function path(p: string, q?: Query): string {
  if (!q) return p;
  const s = Object.entries(q)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`);
  return s.length > 0 ? `${p}?${s.join('&')}` : p;
}

interface RawOptions {
  query?: Query;
  /** A JSON body; or raw bytes with their content type. */
  body?: unknown;
  upload?: { data: Buffer; contentType: string };
  headers?: Record<string, string>;
  timeoutMs?: number;
}

/**
 * A small Docker Engine API client on node:http, without the start-up cost (and the 60-odd packages) of a
 * full SDK. Every request names the API version (see api-version.ts), learnt from the engine once per
 * client: from the ping a run makes first anyway, or from one made before the first request otherwise.
 */
/** Node's agent reads `servername` (for TLS) on plain HTTP requests too; typed ClientRequestArgs omit it. */
export const NO_SERVERNAME = { servername: '' };

/** Connection errors that mean the engine dropped it before answering. */
const DROPPED = new Set(['ECONNRESET', 'EPIPE']);

export class EngineApi {
  /** The engine as DOCKER_HOST (or `engine: podman`) names it, for messages. */
  address: string;
  private base: RequestOptions;
  private version: Promise<string> | undefined;
  private setup: Promise<void> | undefined;
  /** The engine ~/.moat/config.yaml expects (engine-settings), once read; the engine that answered, once pinged. */
  private expected: EngineName | undefined;
  private found: EngineName | undefined;

  /**
   * `expected` reads the engine the user's global config names (undefined: whichever answers); with
   * `podman` and no DOCKER_HOST, Podman's own socket is used.
   */
  constructor(
    private readonly env: NodeJS.ProcessEnv = process.env,
    private readonly expectedEngine?: () => Promise<EngineName | undefined>,
  ) {
    const ep = engineEndpoint(env);
    this.address = ep.address;
    // servername is TLS's (none here): an empty one spares Node's agent its IP check of the host, whose
    // first call compiles a large regular expression (tens of ms on every command's critical path).
    this.base = 'socketPath' in ep ? { socketPath: ep.socketPath, ...NO_SERVERNAME } : { host: ep.host, port: ep.port, ...NO_SERVERNAME };
  }

  /** The engine named by the global config, and its socket, read once before the first request. */
  private prepare(): Promise<void> {
    this.setup ??= (async () => {
      this.expected = await this.expectedEngine?.();
      if (this.expected === 'podman' && !this.env.DOCKER_HOST) {
        const socketPath = podmanSocket(this.env);
        this.base = { socketPath };
        this.address = `unix://${socketPath}`;
      }
    })();
    return this.setup;
  }

  /** The engine that answers (pinging it first if need be): Docker, or Podman. */
  async engine(): Promise<EngineName> {
    await this.prefix();
    return this.found ?? 'docker';
  }

  /** Whether the engine is reached over a unix socket, so that it runs on this machine (not tcp://). */
  get local(): boolean {
    return 'socketPath' in this.base;
  }

  /** The engine as known so far (expected, else seen), for wording a message; undefined before either. */
  get knownEngine(): EngineName | undefined {
    return this.found ?? this.expected;
  }

  /** GET /_ping: the engine answers, and (the first time) says which API version to speak. */
  async ping(timeoutMs = 5000): Promise<void> {
    const header = await this.pingHeader(timeoutMs);
    await (this.version ?? this.remember(this.fromHeader(header)));
  }

  /** The version prefix for this engine, learnt on first use; a failed attempt is tried again next time. */
  private async prefix(): Promise<string> {
    const v = await (this.version ?? this.remember(this.pingHeader(5000).then((h) => this.fromHeader(h))));
    return `/v${v}`;
  }

  private remember(p: Promise<string>): Promise<string> {
    this.version = p;
    p.catch(() => {
      if (this.version === p) this.version = undefined;
    });
    return p;
  }

  private async pingHeader(timeoutMs: number): Promise<string | undefined> {
    await this.prepare();
    const res = await this.send('GET', '/_ping', { timeoutMs });
    const text = await readAll(res);
    if ((res.statusCode ?? 500) >= 300) throw new EngineError(res.statusCode ?? 500, engineMessage(text));
    this.found = engineFromPing(res.headers);
    if (this.expected && this.found !== this.expected) throw engineMismatch(this.expected, this.found, this.address);
    const h = res.headers['api-version'];
    return typeof h === 'string' ? h : undefined;
  }

  /** The ping's Api-Version header; an engine that sends none is asked with GET /version (unversioned). */
  private async fromHeader(header: string | undefined): Promise<string> {
    if (header !== undefined) return chooseApi(header, this.address);
    const res = await this.send('GET', '/version', { timeoutMs: 5000 });
    const text = await readAll(res);
    if ((res.statusCode ?? 500) >= 300) throw new EngineError(res.statusCode ?? 500, engineMessage(text));
    let v: unknown;
    try {
      v = (JSON.parse(text) as { ApiVersion?: unknown }).ApiVersion;
    } catch {
      v = undefined;
    }
    return chooseApi(typeof v === 'string' ? v : '', this.address);
  }

  /** One request to a versioned path. */
  async raw(method: string, p: string, opts: RawOptions = {}): Promise<IncomingMessage> {
    const versioned = `${await this.prefix()}${p}`;
    try {
      return await this.send(method, versioned, opts);
    } catch (err) {
      // A GET or HEAD whose connection dropped before any answer (a kept-alive socket the engine closed
      // meanwhile, an engine under load) is asked again once rather than failing with "socket hang up".
      if ((method !== 'GET' && method !== 'HEAD') || !DROPPED.has(errnoCode(err) ?? '')) throw err;
      return this.send(method, versioned, opts);
    }
  }

  private send(method: string, p: string, opts: RawOptions): Promise<IncomingMessage> {
    const json = opts.body === undefined ? undefined : JSON.stringify(opts.body);
    const body = opts.upload ? opts.upload.data : json;
    const type = opts.upload ? opts.upload.contentType : 'application/json';
    return new Promise((resolve, reject) => {
      const req = request(
        {
          ...this.base,
          method,
          path: path(p, opts.query),
          headers: {
            ...(body !== undefined ? { 'content-type': type, 'content-length': Buffer.byteLength(body) } : {}),
            ...opts.headers,
          },
        },
        resolve,
      );
      req.on('error', reject);
      if (opts.timeoutMs) req.setTimeout(opts.timeoutMs, () => req.destroy(new SystemLikeError('the engine did not answer in time', 'ETIMEDOUT')));
      req.end(body);
    });
  }

  /** A request whose answer is JSON. */
  async json<T>(method: string, p: string, opts: RawOptions = {}): Promise<T> {
    const text = await this.ok(await this.raw(method, p, opts));
    return JSON.parse(text) as T;
  }

  /** A request whose answer (if any) is not needed. */
  async call(method: string, p: string, opts: RawOptions = {}): Promise<void> {
    await this.ok(await this.raw(method, p, opts));
  }

  /** The body of a successful answer; the engine's message as an EngineError otherwise. */
  private async ok(res: IncomingMessage): Promise<string> {
    const text = await readAll(res);
    const status = res.statusCode ?? 500;
    if (status >= 300) throw new EngineError(status, engineMessage(text));
    return text;
  }

  /** A streamed answer (logs, build progress); an error status is read whole and thrown. */
  async stream(method: string, p: string, opts: RawOptions = {}): Promise<IncomingMessage> {
    const res = await this.raw(method, p, opts);
    if ((res.statusCode ?? 500) >= 300) throw new EngineError(res.statusCode ?? 500, engineMessage(await readAll(res)));
    return res;
  }

  /** An upgraded (hijacked) connection: stdin goes in, the output stream comes out. */
  async upgrade(p: string, query: Query): Promise<Duplex> {
    const versioned = `${await this.prefix()}${p}`;
    return new Promise((resolve, reject) => {
      const req = request({ ...this.base, method: 'POST', path: path(versioned, query), headers: { Connection: 'Upgrade', Upgrade: 'tcp' } });
      req.on('upgrade', (_res, socket, head) => {
        if (head.length > 0) socket.unshift(head);
        resolve(socket);
      });
      req.on('response', (res: IncomingMessage) => {
        void readAll(res).then((t) => reject(new EngineError(res.statusCode ?? 500, engineMessage(t))));
      });
      req.on('error', reject);
      req.end();
    });
  }
}

/** The engine's error body is {"message": "..."} (or plain text from an older engine or a proxy). */
function engineMessage(text: string): string {
  try {
    const m = (JSON.parse(text) as { message?: unknown }).message;
    if (typeof m === 'string') return m.trim();
  } catch {
    /* plain text */
  }
  return text.trim();
}

async function readAll(res: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of res) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** Demultiplex Docker's stdout/stderr frame stream (8-byte headers) into two writables. */
export function demux(src: Readable, onFrame: (stream: 'stdout' | 'stderr', data: Buffer) => void): void {
  const r = new FrameReader(onFrame);
  src.on('data', (chunk: Buffer) => r.write(chunk));
}

/**
 * Reads Docker's frame stream in linear time: chunks are only joined once a whole frame has arrived,
 * so a large frame delivered in many small chunks is not copied again for each one.
 */
export class FrameReader {
  private chunks: Buffer[] = [];
  private len = 0;
  private need = 8;

  constructor(private readonly onFrame: (stream: 'stdout' | 'stderr', data: Buffer) => void) {}

  write(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.len += chunk.length;
    if (this.len < this.need) return;
    const buf = this.chunks.length === 1 ? (this.chunks[0] as Buffer) : Buffer.concat(this.chunks, this.len);
    let off = 0;
    while (buf.length - off >= 8) {
      const size = buf.readUInt32BE(off + 4);
      if (buf.length - off < 8 + size) break;
      const kind = buf[off];
      const data = buf.subarray(off + 8, off + 8 + size);
      off += 8 + size;
      if (kind === 1 || kind === 2) this.onFrame(kind === 2 ? 'stderr' : 'stdout', data);
    }
    const rest = buf.subarray(off);
    this.chunks = rest.length > 0 ? [rest] : [];
    this.len = rest.length;
    this.need = rest.length >= 8 ? 8 + rest.readUInt32BE(4) : 8;
  }
}
