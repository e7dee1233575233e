import { describe, expect, it } from 'vitest';
import { routingCaHelp, trustSteps } from '../../../src/cli/routing-ca-help.js';

describe('moat open --ca: how to trust the routing CA', () => {
  const cert = '/home/u/.moat/routing-ca/ca.pem';
  it('names the routing CA, warns off the interception CA, and gives the commands of this OS', () => {
    const lines = routingCaHelp(cert, false, 'linux', '/home/u/.moat/ca/ca.pem');
    expect(lines[0]).toBe('The routing CA: /home/u/.moat/routing-ca/ca.pem (created when the first run with ports starts)');
    expect(lines.join('\n')).toContain('Never add /home/u/.moat/ca/ca.pem (the CA runs trust for interception) to a browser.');
    expect(lines).toContain("  certutil -d sql:$HOME/.pki/nssdb -A -t C,, -n 'Moat Local Routing CA' -i '/home/u/.moat/routing-ca/ca.pem'");
    expect(trustSteps(cert, 'darwin')).toContain(
      "  security add-trusted-cert -r trustRoot -k ~/Library/Keychains/login.keychain-db '/home/u/.moat/routing-ca/ca.pem'",
    );
    expect(trustSteps(cert, 'win32')).toContain('  certutil -user -addstore Root "/home/u/.moat/routing-ca/ca.pem"');
    for (const p of ['linux', 'darwin', 'win32'] as const) expect(trustSteps(cert, p).join('\n')).toContain('Trust this CA to identify websites');
  });

  it('quotes a path with a quote in it for the shell', () => {
    expect(trustSteps("/tmp/it's/ca.pem", 'darwin')[1]).toContain("'/tmp/it'\\''s/ca.pem'");
  });
});
