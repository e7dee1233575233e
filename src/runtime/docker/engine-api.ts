import { request, type IncomingMessage, type RequestOptions } from 'node:http';
import type { Duplex, Readable } from 'node:stream';
import { MoatError, SystemLikeError } from '../../errors.js';

/** Where the engine listens, from DOCKER_HOST (unix:// or tcp://) or the default socket. */
export function engineEndpoint(env: NodeJS.ProcessEnv = process.env): { socketPath?: string; host?: string; port?: number } {
  const dh = env.DOCKER_HOST;
  if (!dh) return { socketPath: '/var/run/docker.sock' };
  if (dh.startsWith('unix://')) return { socketPath: dh.slice('unix://'.length) };
  if (dh.startsWith('tcp://')) {
    if (env.DOCKER_TLS_VERIFY) {
      throw new MoatError('DOCKER_HOST with DOCKER_TLS_VERIFY (TLS to the engine) is not supported yet.', {
        code: 'E_ENGINE_UNREACHABLE',
        hint: 'Use a unix socket, or an ssh tunnel to one, and point DOCKER_HOST at it.',
      });
    }
    const u = new URL(dh.replace(/^tcp:/, 'http:'));
    return { host: u.hostname, port: Number(u.port || 2375) };
  }
  throw new MoatError(`DOCKER_HOST=${dh} is not supported (only unix:// and tcp://).`, { code: 'E_ENGINE_UNREACHABLE', hint: 'Unset DOCKER_HOST or point it at a unix socket.' });
}

export class EngineError extends Error {
  constructor(readonly statusCode: number, message: string) {
    super(message);
  }
}

type Query = Record<string, string | number | boolean | undefined>;

function path(p: string, q?: Query): string {
  if (!q) return p;
  const s = Object.entries(q).filter(([, v]) => v !== undefined).map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`);
  return s.length > 0 ? `${p}?${s.join('&')}` : p;
}

/**
 * A small Docker Engine API client on node:http: the run hot path (create, attach, start, wait) without
 * the start-up cost of a full SDK. Builds, which need a tar context, go through dockerode, loaded lazily.
 */
export class EngineApi {
  private readonly base: RequestOptions;

  constructor(env: NodeJS.ProcessEnv = process.env) {
    this.base = engineEndpoint(env);
  }

  raw(method: string, p: string, opts: { query?: Query; body?: unknown; headers?: Record<string, string>; timeoutMs?: number } = {}): Promise<IncomingMessage> {
    const body = opts.body === undefined ? undefined : JSON.stringify(opts.body);
    return new Promise((resolve, reject) => {
      const req = request({
        ...this.base,
        method,
        path: path(p, opts.query),
        headers: {
          ...(body !== undefined ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } : {}),
          ...opts.headers,
        },
      }, resolve);
      req.on('error', reject);
      if (opts.timeoutMs) req.setTimeout(opts.timeoutMs, () => req.destroy(new SystemLikeError('the engine did not answer in time', 'ETIMEDOUT')));
      req.end(body);
    });
  }

  async json<T>(method: string, p: string, opts: { query?: Query; body?: unknown; timeoutMs?: number } = {}): Promise<T> {
    const res = await this.raw(method, p, opts);
    const text = await readAll(res);
    const status = res.statusCode ?? 500;
    if (status >= 300) {
      let message = text.trim();
      try { message = (JSON.parse(text) as { message?: string }).message ?? message; } catch { /* plain text */ }
      throw new EngineError(status, message);
    }
    return (text.length > 0 ? JSON.parse(text) : undefined) as T;
  }

  async stream(method: string, p: string, query?: Query): Promise<Readable> {
    const res = await this.raw(method, p, { ...(query ? { query } : {}) });
    if ((res.statusCode ?? 500) >= 300) throw new EngineError(res.statusCode ?? 500, (await readAll(res)).trim());
    return res;
  }

  /** An upgraded (hijacked) connection: stdin goes in, the output stream comes out. */
  upgrade(p: string, query: Query): Promise<Duplex> {
    return new Promise((resolve, reject) => {
      const req = request({ ...this.base, method: 'POST', path: path(p, query), headers: { Connection: 'Upgrade', Upgrade: 'tcp' } });
      req.on('upgrade', (_res, socket, head) => {
        if (head.length > 0) socket.unshift(head);
        resolve(socket);
      });
      req.on('response', (res: IncomingMessage) => {
        void readAll(res).then((t) => reject(new EngineError(res.statusCode ?? 500, t.trim())));
      });
      req.on('error', reject);
      req.end();
    });
  }
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
