import { afterEach, describe, expect, it } from 'vitest';
import { describeUpstreamError, upstreamFailureMessage } from '../../../src/gateway/upstream-errors.js';
import { fetchVia, startHarness, type Harness } from './helpers.js';
import { closedPort } from '../../fakes/closed-port.js';

describe('upstream failures in words', () => {
  it('names the cause of network, TLS and timeout failures', () => {
    expect(describeUpstreamError('ECONNREFUSED')).toEqual({ kind: 'network', cause: 'connection refused' });
    expect(describeUpstreamError('ENOTFOUND')).toEqual({ kind: 'network', cause: 'DNS lookup failed' });
    expect(describeUpstreamError('EAI_AGAIN')).toEqual({ kind: 'network', cause: 'DNS lookup failed' });
    expect(describeUpstreamError('UND_ERR_CONNECT_TIMEOUT')).toEqual({ kind: 'network', cause: 'connection timed out' });
    expect(describeUpstreamError('UNABLE_TO_VERIFY_LEAF_SIGNATURE')).toEqual({ kind: 'tls', cause: 'TLS certificate not trusted' });
    expect(describeUpstreamError('SELF_SIGNED_CERT_IN_CHAIN')?.kind).toBe('tls');
    expect(describeUpstreamError('ERR_TLS_CERT_ALTNAME_INVALID')?.kind).toBe('tls');
    expect(describeUpstreamError('ERR_SSL_WRONG_VERSION_NUMBER')).toEqual({ kind: 'tls', cause: 'TLS handshake failed' });
    expect(describeUpstreamError('UND_ERR_HEADERS_TIMEOUT')).toEqual({ kind: 'slow', cause: 'no answer in time' });
  });
  it('says nothing for codes that are not upstream failures', () => {
    expect(describeUpstreamError('client closed')).toBeUndefined();
    expect(describeUpstreamError('ERR_STREAM_PREMATURE_CLOSE')).toBeUndefined();
  });
  it('the 502/504 body is one sentence naming the host and the cause', () => {
    expect(upstreamFailureMessage('api.anthropic.com', 'ECONNREFUSED')).toBe(
      'Moat could not reach api.anthropic.com from this machine: connection refused (ECONNREFUSED).',
    );
    expect(upstreamFailureMessage('api.openai.com', 'UND_ERR_HEADERS_TIMEOUT')).toBe(
      'Moat reached api.openai.com but got no answer in time (UND_ERR_HEADERS_TIMEOUT).',
    );
    expect(upstreamFailureMessage('x.example', 'WEIRD')).toBe('Moat could not complete the request to x.example (WEIRD).');
  });
});

describe('the gateway answers an unreachable upstream with that sentence', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  it('connection refused: 502 naming the host and the cause, recorded as ECONNREFUSED', async () => {
    const port = await closedPort();
    h = await startHarness({ upstreamOverride: new Map([['api.example.test:443', { host: '127.0.0.1', port }]]) });
    const res = await fetchVia(h, 'api.example.test', { path: '/v1/messages' });
    expect(res.status).toBe(502);
    expect(res.body.trim()).toBe('Moat could not reach api.example.test from this machine: connection refused (ECONNREFUSED).');
    expect(h.requestEvents().at(-1)).toMatchObject({ host: 'api.example.test', status: 502, error: 'ECONNREFUSED' });
  });

  it('a WebSocket upgrade to it gets the same 502 sentence', async () => {
    const port = await closedPort();
    h = await startHarness({ upstreamOverride: new Map([['api.example.test:443', { host: '127.0.0.1', port }]]) });
    const res = await fetchVia(h, 'api.example.test', {
      path: '/v1/responses',
      headers: { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==' },
    });
    expect(res.status).toBe(502);
    expect(res.body.trim()).toBe('Moat could not reach api.example.test from this machine: connection refused (ECONNREFUSED).');
  });
});
