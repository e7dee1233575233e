/**
 * The routing CA (issue 15): the router's own CA, not the interception CA, name-constrained to loopback.
 * The attack: a holder of its key (or a bug in the router) signs a certificate for a real site; a browser
 * that trusts the routing CA must refuse it. Checked with OpenSSL's verifier and with Node's TLS client.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadOrCreateCA, type CA } from '../../../src/gateway/ca.js';
import { issueLeaf } from '../../../src/gateway/leaf.js';
import { loadOrCreateRoutingCA } from '../../../src/gateway/routing-ca.js';
import { MoatHome } from '../../../src/home/paths.js';

const execFileP = promisify(execFile);
let dir: string;
let home: MoatHome;
let ca: CA;
let caFile: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'moat-routing-ca-'));
  home = new MoatHome(join(dir, 'home'));
  ca = await loadOrCreateRoutingCA(home.routingCaDir);
  caFile = join(home.routingCaDir, 'ca.pem');
});
afterAll(async () => rm(dir, { recursive: true, force: true }));

/** `openssl verify` of a leaf for `host` signed by `signer`: its exit and its last line. */
async function opensslVerify(signer: CA, host: string): Promise<{ ok: boolean; out: string }> {
  const leaf = join(dir, `leaf-${host.replace(/[^a-z0-9.]/gi, '_')}.pem`);
  await writeFile(leaf, (await issueLeaf(signer, host)).certPem);
  try {
    const { stdout } = await execFileP('openssl', ['verify', '-CAfile', caFile, leaf]);
    return { ok: true, out: stdout.trim() };
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string };
    return { ok: false, out: `${e.stdout ?? ''}${e.stderr ?? ''}`.trim() };
  }
}

/** A TLS handshake from Node's client trusting only the routing CA to a server presenting a leaf for `host`. */
async function nodeHandshake(host: string): Promise<string> {
  const leaf = await issueLeaf(ca, host);
  const server = tls.createServer({ key: leaf.keyPem, cert: leaf.chainPem }, (s) => s.end());
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const { port } = server.address() as { port: number };
  try {
    return await new Promise<string>((resolve) => {
      const c = tls.connect({ host: '127.0.0.1', port, servername: host, ca: ca.certPem, checkServerIdentity: () => undefined }, () => {
        c.destroy();
        resolve('ok');
      });
      c.on('error', (e: NodeJS.ErrnoException) => resolve(`${e.code ?? ''}: ${e.message}`));
    });
  } finally {
    server.close();
  }
}

describe('the routing CA', () => {
  it('is its own CA, not the interception CA containers trust; its key is 0600 in a 0700 folder', async () => {
    const interception = await loadOrCreateCA(home.caDir);
    expect(ca.certPem).not.toBe(interception.certPem);
    expect(home.routingCaDir).not.toBe(home.caDir);
    expect((await stat(join(home.routingCaDir, 'ca.key'))).mode & 0o777).toBe(0o600);
    expect((await stat(home.routingCaDir)).mode & 0o777).toBe(0o700);
    expect((await loadOrCreateRoutingCA(home.routingCaDir)).certPem).toBe(ca.certPem);
  });

  it('carries critical name constraints: DNS localhost and .localhost, IP 127.0.0.0/8 and ::1/128; serverAuth only', async () => {
    const { stdout } = await execFileP('openssl', ['x509', '-noout', '-text', '-in', caFile]);
    expect(stdout).toContain('Subject: CN = Moat Local Routing CA, O = Moat');
    expect(stdout).toMatch(
      /X509v3 Name Constraints: critical\s+Permitted:\s+DNS:localhost\s+DNS:\.localhost\s+IP:127\.0\.0\.0\/255\.0\.0\.0\s+IP:0:0:0:0:0:0:0:1\/FFFF:FFFF:FFFF:FFFF:FFFF:FFFF:FFFF:FFFF\s/,
    );
    expect(stdout).toMatch(/X509v3 Extended Key Usage:\s+TLS Web Server Authentication\s/);
    expect(stdout).toMatch(/X509v3 Basic Constraints: critical\s+CA:TRUE, pathlen:0/);
  });

  it('certifies the router names: web.RUN.localhost, RUN.localhost, localhost, 127.0.0.1 and ::1', async () => {
    for (const host of ['web.alpha.localhost', 'alpha.localhost', 'localhost', '127.0.0.1', '::1']) {
      expect(await opensslVerify(ca, host), host).toEqual({ ok: true, out: expect.stringMatching(/: OK$/) as string });
    }
    expect(await nodeHandshake('web.alpha.localhost')).toBe('ok');
  });

  it('attack: a certificate it signs for example.com (or any name beyond loopback) is refused by OpenSSL and by Node', async () => {
    for (const host of ['example.com', 'localhost.example.com', 'localhostx', '10.0.0.1', '::2']) {
      const r = await opensslVerify(ca, host);
      expect(r.ok, host).toBe(false);
      expect(r.out, host).toMatch(/permitted subtree violation/);
    }
    // Node has no code of its own for this OpenSSL error: the message names it.
    expect(await nodeHandshake('example.com')).toBe('UNSPECIFIED: permitted subtree violation');
  });
});
