/**
 * A fake OAuth token endpoint (plain HTTP on loopback) for host-side refreshes: `POST /oauth/token` with
 * a JSON or form `refresh_token` grant. Each accepted refresh rotates the pair: it answers with the next
 * tokens from `issue` and accepts only the refresh token it issued last (the first one is `initial`).
 * Every request is recorded with its parsed body.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface TokenSet {
  access_token: string;
  refresh_token: string;
  id_token?: string;
  expires_in?: number;
}

export interface FakeOAuth {
  url: string;
  requests: Array<{ method: string; path: string; body: Record<string, string> }>;
  /** Tokens issued so far, in order. */
  issued: TokenSet[];
  /** Resolves when the n-th (1-based) refresh has been answered. */
  refreshed(n: number): Promise<void>;
  close(): Promise<void>;
}

export async function startFakeOAuth(opts: { initial: string; issue: (n: number) => TokenSet }): Promise<FakeOAuth> {
  const requests: FakeOAuth['requests'] = [];
  const issued: TokenSet[] = [];
  let current = opts.initial;
  const waiters: Array<{ n: number; resolve: () => void }> = [];

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      let body: Record<string, string> = {};
      try {
        body = (req.headers['content-type'] ?? '').includes('json')
          ? (JSON.parse(text) as Record<string, string>)
          : Object.fromEntries(new URLSearchParams(text));
      } catch {
        body = {};
      }
      requests.push({ method: req.method ?? '', path: req.url ?? '', body });
      const reply = (status: number, value: unknown): void => {
        res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
        res.end(JSON.stringify(value));
      };
      if (req.method !== 'POST' || new URL(req.url ?? '/', 'http://x').pathname !== '/oauth/token') return reply(404, { error: 'not_found' });
      if (body.grant_type !== 'refresh_token' || body.refresh_token !== current) return reply(400, { error: 'invalid_grant' });
      const next = opts.issue(issued.length + 1);
      issued.push(next);
      current = next.refresh_token;
      reply(200, { token_type: 'Bearer', ...next });
      for (const w of waiters.filter((x) => x.n <= issued.length)) w.resolve();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/oauth/token`,
    requests,
    issued,
    refreshed: (n) => (issued.length >= n ? Promise.resolve() : new Promise((resolve) => waiters.push({ n, resolve }))),
    async close() {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}
