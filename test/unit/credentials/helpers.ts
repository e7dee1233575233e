import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MoatHome } from '../../../src/home/paths.js';
import { CredentialStore } from '../../../src/credentials/store.js';
import type { GrantContext, StoredCredential } from '../../../src/credentials/types.js';

export const FILE_ENV = { MOAT_KEYRING_BACKEND: 'file' } as NodeJS.ProcessEnv;

export interface TempHome {
  dir: string;
  home: MoatHome;
  store: CredentialStore;
  cleanup(): Promise<void>;
}

export async function tempHome(): Promise<TempHome> {
  const dir = await mkdtemp(join(tmpdir(), 'moat-cred-'));
  const home = new MoatHome(join(dir, 'moat'));
  return { dir, home, store: new CredentialStore(home, { env: FILE_ENV }), cleanup: () => rm(dir, { recursive: true, force: true }) };
}

export function cred(over: Partial<StoredCredential> = {}): StoredCredential {
  return {
    provider: 'github',
    kind: 'token',
    secret: { token: 'ghp_REALSECRETREALSECRETREALSECRET1234' },
    scopes: [],
    createdAt: '2025-01-01T00:00:00.000Z',
    source: 'stdin',
    ...over,
  };
}

/** A GrantContext with no terminal, no commands and no stdin unless given. */
export function fakeContext(over: Partial<GrantContext> = {}): GrantContext & { logs: string[] } {
  const logs: string[] = [];
  return {
    env: {},
    hostHome: '/nonexistent-home',
    isTTY: false,
    tokenStdin: false,
    import: false,
    readStdin: () => Promise.resolve(''),
    promptSecret: () => Promise.reject(new Error('no prompt expected')),
    choose: () => Promise.reject(new Error('no choice expected')),
    capture: () => Promise.resolve(undefined),
    runAttached: () => Promise.resolve(undefined),
    log: (m) => void logs.push(m),
    now: () => new Date('2025-06-01T00:00:00Z'),
    ...over,
    logs,
  };
}

export interface FakeServer {
  url: string;
  requests: { method: string; url: string; headers: IncomingMessage['headers']; body: string }[];
  close(): Promise<void>;
}

/** A fake provider API on 127.0.0.1. */
export async function fakeServer(handler: (req: IncomingMessage, res: ServerResponse, body: string) => void): Promise<FakeServer> {
  const requests: FakeServer['requests'] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      handler(req, res, body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

export function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

/** A JWT-shaped token with the given claims (unsigned; tests only). */
export function jwt(claims: Record<string, unknown>): string {
  const b = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url');
  return `${b({ alg: 'RS256', typ: 'JWT' })}.${b(claims)}.c2lnbmF0dXJl`;
}
