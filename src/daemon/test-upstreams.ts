import { readFileSync } from 'node:fs';

/**
 * The test-only upstream override: MOAT_TEST_UPSTREAMS="api.github.com=127.0.0.1:PORT,…" and
 * MOAT_TEST_UPSTREAM_CA=<PEM file or PEM text>. Honoured only when MOAT_TESTING=1; otherwise ignored.
 */
export function parseTestUpstreams(env: NodeJS.ProcessEnv): { map: Map<string, { host: string; port: number }>; ca?: string } | undefined {
  if (env.MOAT_TESTING !== '1' || !env.MOAT_TEST_UPSTREAMS) return undefined;
  const map = new Map<string, { host: string; port: number }>();
  for (const part of env.MOAT_TEST_UPSTREAMS.split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const m = /^([^=]+)=([^:]+):(\d+)$/.exec(part);
    if (m?.[1] && m[2] && m[3]) map.set(m[1].toLowerCase(), { host: m[2], port: Number(m[3]) });
  }
  const caText = env.MOAT_TEST_UPSTREAM_CA;
  const ca = caText ? (caText.includes('BEGIN CERTIFICATE') ? caText : readFileSync(caText, 'utf8')) : undefined;
  return { map, ...(ca ? { ca } : {}) };
}

/**
 * Test-only: MOAT_TEST_REFRESH_WINDOW_MS shrinks the grant refresh window (default 5 minutes) so a test
 * can watch a refresh happen during a run. Honoured only when MOAT_TESTING=1.
 */
export function testRefreshWindowMs(env: NodeJS.ProcessEnv): number | undefined {
  if (env.MOAT_TESTING !== '1' || !env.MOAT_TEST_REFRESH_WINDOW_MS) return undefined;
  const ms = Number(env.MOAT_TEST_REFRESH_WINDOW_MS);
  return Number.isInteger(ms) && ms > 0 ? ms : undefined;
}
