/**
 * A run's own processes against its egress relay (moat-init's Perl, 127.0.0.1:43128 in the container),
 * under the default sandbox: one process opens more connections than the relay's cap and holds them.
 * The relay stops at its cap, says so on the run's stderr (the wedge is never silent), and serves the
 * run again as soon as the connections close. The relay's mechanics (queue full, out of descriptors)
 * are attacked one by one in test/unit/image/egress-relay.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeUpstream, type FakeUpstream } from '../fakes/upstream.js';
import { cleanupHome, moat, tempDir, upstreamOverrideEnv } from './helpers.js';
import { makeWorkspace, warmImage } from './fixtures/gateway-kit.js';

const HOST = 'relay.moat.test';

let home: string;
let root: string;
let cwd: string;
let fake: FakeUpstream;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  home = await tempDir('relay-home');
  root = await tempDir('relay-ws');
  fake = await startFakeUpstream();
  env = await upstreamOverrideEnv(root, { [HOST]: fake.httpsPort }, [fake.ca.certPem]);
  cwd = await makeWorkspace(root, 'ws');
  await warmImage(home, cwd, env);
}, 900_000);

afterAll(async () => {
  await fake?.close();
  await cleanupHome(home, root, [root]);
});

describe('hostile run: its egress relay', () => {
  it('holding 600 connections to the relay: it stops at 500, says so on stderr, and relays again once they close', async () => {
    const hold = [
      'use IO::Socket::INET; my @h;',
      'for (1 .. 600) { my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1", PeerPort => $ENV{MOAT_PROXY_PORT} || 43128) or last; push @h, $s }',
      'print "HELD=", scalar(@h), "\\n"; sleep 5; close $_ for @h;',
    ].join(' ');
    const script = [`perl -e '${hold}'`, `curl -sS -o /dev/null -w "code=%{http_code}\\n" https://${HOST}/after-the-flood`].join('\n');
    const r = await moat(['run', '--approve-config', '--', 'sh', '-c', script], { home, cwd, env, timeoutMs: 120_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('HELD=600');
    expect(r.stderr).toContain('moat: the proxy relay holds 500 connections; new ones wait until some close');
    expect(r.stdout).toContain('code=200');
    expect(fake.requests.some((q) => q.path === '/after-the-flood')).toBe(true);
  }, 180_000);
});
