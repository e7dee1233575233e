import { describe, it, expect } from 'vitest';
import { mkdtemp, writeFile, rm } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { unreachableHintLines, unreachableHints } from '../../../src/run/unreachable-hints.js';

const CONFIG = join(homedir(), '.moat', 'config.yaml');

describe('hints for hosts the gateway could not reach', () => {
  it('one line per host with the cause, the number of requests and the fix', () => {
    const refused = { host: 'api.anthropic.com', status: 502, error: 'ECONNREFUSED' };
    const lines = [
      { host: 'api.github.com', status: 200 },
      refused, refused, refused,
      { host: 'api.openai.com', status: 504, error: 'UND_ERR_CONNECT_TIMEOUT' },
      { host: 'api.openai.com', status: 502, error: 'ENOTFOUND' },
      { host: 'evil.example', status: 403, blocked: true },
      { host: 'api.github.com', status: 200, error: 'client closed' },
    ];
    expect(unreachableHintLines(lines, CONFIG)).toEqual([
      'api.anthropic.com could not be reached from this machine (connection refused, 3 requests). Check your network, or proxy.upstream in ~/.moat/config.yaml if this machine needs a proxy.',
      'api.openai.com could not be reached from this machine (connection timed out and DNS lookup failed, 2 requests). Check your network, or proxy.upstream in ~/.moat/config.yaml if this machine needs a proxy.',
    ]);
  });

  it('a certificate failure points at build.ca_certs; a slow answer is not called unreachable', () => {
    expect(unreachableHintLines([{ host: 'api.openai.com', status: 502, error: 'SELF_SIGNED_CERT_IN_CHAIN' }], '/srv/moat/config.yaml')).toEqual([
      'api.openai.com could not be reached securely from this machine (TLS certificate not trusted, 1 request). If a proxy on your network inspects TLS, add its CA certificate to build.ca_certs in /srv/moat/config.yaml.',
    ]);
    expect(unreachableHintLines([{ host: 'api.openai.com', status: 504, error: 'UND_ERR_HEADERS_TIMEOUT' }], CONFIG)).toEqual([
      'api.openai.com was reached but did not answer in time (no answer in time, 1 request). It may be overloaded; try again later.',
    ]);
  });

  it('is silent when the host answered later, for upstream errors it does not know, and for the upstream\'s own 502', () => {
    expect(unreachableHintLines([
      { host: 'api.anthropic.com', status: 502, error: 'ECONNRESET' },
      { host: 'api.anthropic.com', status: 200 },
      { host: 'api.anthropic.com', status: 502 },
      { host: 'x.example', status: 502, error: 'SOMETHING_ELSE' },
    ], CONFIG)).toEqual([]);
  });

  it('reads the run\'s network.jsonl, skipping a torn last line; nothing without one', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'moat-unreachable-'));
    try {
      const ev = { type: 'request', host: 'api.anthropic.com', status: 502, error: 'ECONNREFUSED', grant: 'anthropic' };
      await writeFile(join(dir, 'network.jsonl'), `${JSON.stringify(ev)}\n${JSON.stringify(ev)}\n{"host":"api.anth`);
      const hints = await unreachableHints(dir, CONFIG);
      expect(hints).toHaveLength(1);
      expect(hints[0]).toMatch(/^api\.anthropic\.com could not be reached from this machine \(connection refused, 2 requests\)\./);
      expect(await unreachableHints(join(dir, 'nope'), CONFIG)).toEqual([]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
