import { afterEach, describe, expect, it } from 'vitest';
import { fetchVia, startHarness, type Harness } from './helpers.js';
import { startFakeUpstream } from '../../fakes/upstream.js';
import { trustContext } from '../../../src/gateway/upstream.js';

// The upstream's certificate must verify against the system store plus configured CAs: a proxy that
// accepted any certificate would hand a granted credential to whoever answers for the host.
describe('upstream TLS verification', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  it('refuses an upstream whose certificate no trusted CA signed, and never sends it the credential', async () => {
    h = await startHarness({
      upstreamOverrideCA: undefined as unknown as string, // trust only the system store: the fake's own CA is unknown
      injections: [{ grant: 'github', hosts: ['api.example.test'], set: { authorization: 'Bearer REAL-SECRET-TOKEN' } }],
    });
    const res = await fetchVia(h, 'api.example.test', { path: '/user' });
    expect(res.status).toBe(502);
    expect(h.fake.requests.some((r) => r.headers.authorization === 'Bearer REAL-SECRET-TOKEN')).toBe(false);
    expect(h.requestEvents().at(-1)?.error ?? '').toMatch(/CERT|SIGNED|ISSUER|UNABLE/i);
  });

  it('accepts the same upstream once its CA is configured as an extra CA', async () => {
    const fake = await startFakeUpstream();
    try {
      h = await startHarness({ upstreamOverrideCA: undefined as unknown as string, extraCAs: [fake.ca.certPem] }, fake);
      const res = await fetchVia(h, 'api.example.test', { path: '/user' });
      expect(res.status).toBe(200);
    } finally {
      await h?.close();
      h = undefined;
      await fake.close();
    }
  });

  it('keeps trust sets apart: gateways of one process share contexts only for the same CAs', async () => {
    const fake = await startFakeUpstream();
    let trusting: Harness | undefined;
    try {
      trusting = await startHarness({ upstreamOverrideCA: undefined as unknown as string, extraCAs: [fake.ca.certPem] }, fake);
      expect((await fetchVia(trusting, 'api.example.test', { path: '/user' })).status).toBe(200);
      // A second gateway in the same process without that extra CA must still refuse the upstream.
      h = await startHarness({ upstreamOverrideCA: undefined as unknown as string }, fake);
      expect((await fetchVia(h, 'api.example.test', { path: '/user' })).status).toBe(502);
      expect(trustContext([fake.ca.certPem])).toBe(trustContext([fake.ca.certPem]));
      expect(trustContext([fake.ca.certPem])).not.toBe(trustContext([]));
    } finally {
      await trusting?.close();
      await h?.close();
      h = undefined;
      await fake.close();
    }
  });
});
