import { describe, expect, it } from 'vitest';
import { bracketHost, credentialPattern, hostPort } from '../../../src/gateway/hosts.js';

describe('host:port', () => {
  it('brackets IPv6 literals only', () => {
    expect(bracketHost('::1')).toBe('[::1]');
    expect(bracketHost('api.github.com')).toBe('api.github.com');
    expect(bracketHost('127.0.0.1')).toBe('127.0.0.1');
    expect(hostPort('::ffff:7f00:1', 443)).toBe('[::ffff:7f00:1]:443');
    expect(hostPort('example.test', 8080)).toBe('example.test:8080');
    // What it writes, URL reads back as the same host and port.
    const u = new URL(`http://${hostPort('fe80::1', 8080)}/`);
    expect([u.hostname, u.port]).toEqual(['[fe80::1]', '8080']);
  });

  it('a grant pattern without a port is spelled with the credential port, IPv6 in brackets', () => {
    expect(credentialPattern('[::1]').source).toBe('[::1]:443');
    expect(credentialPattern('*.github.com').source).toBe('*.github.com:443');
  });
});
