/**
 * A real browser through the routing proxy (issue 15): headless Chromium (Debian's package) loads a page
 * served by a real Node server inside a run at http://web.RUN.localhost:PORT/ (the DOM is checked and a
 * screenshot kept as a test artifact in test-results/ports-browser.png), then over https with the routing
 * CA trusted the way a user trusts it (an NSS database, `moat open --ca`). The attack: a certificate for
 * example.com signed by that same CA; Chromium refuses it because of the CA's name constraints.
 */
import { execFile } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import https from 'node:https';
import net from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { parseCA } from '../../src/gateway/ca.js';
import { issueLeaf } from '../../src/gateway/leaf.js';
import { REPO_ROOT, cleanupHome, moat, tempDir, waitFor } from './helpers.js';

const execFileP = promisify(execFile);
let home: string;
let root: string;
let port: number;
/** A HOME whose NSS database (~/.pki/nssdb, what Chromium on Linux reads) trusts the routing CA. */
let nssHome: string;

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const p = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return p;
}

const FLAGS = ['--headless=new', '--no-sandbox', '--disable-gpu', '--no-first-run', '--no-proxy-server', '--window-size=800,400'];

/** Chromium's DOM of `url` and its log (a failed load is logged as "Page load failed: net::ERR_…"). */
async function chromium(url: string, extra: string[] = []): Promise<{ dom: string; log: string }> {
  const profile = await tempDir('ports-chromium');
  const r = await execFileP('chromium', [...FLAGS, `--user-data-dir=${profile}`, '--enable-logging=stderr', ...extra, '--dump-dom', url], {
    timeout: 60_000,
    env: { ...process.env, HOME: nssHome },
  }).catch((e: { stdout?: string; stderr?: string }) => ({ stdout: e.stdout ?? '', stderr: e.stderr ?? '' }));
  return { dom: r.stdout, log: r.stderr };
}

beforeAll(async () => {
  home = await tempDir('ports-browser-home');
  root = await tempDir('ports-browser-ws');
  port = await freePort();
  await writeFile(join(home, 'config.yaml'), `routing:\n  port: ${port}\n`);
  // The Node image the agent suites build, and the test's real server.
  await writeFile(join(root, 'moat.yaml'), 'dependencies: [codex, git, ripgrep]\n');
  await copyFile(join(REPO_ROOT, 'test', 'fixtures', 'ports-server.mjs'), join(root, 'ports-server.mjs'));
  const r = await moat(['run', '-d', '-n', 'delta', '--approve-config', '-p', 'web=3000', '--', 'node', '/workspace/ports-server.mjs', '3000'], {
    home,
    cwd: root,
    timeoutMs: 900_000,
  });
  if (r.code !== 0) throw new Error(`moat run failed (${String(r.code)}):\n${r.stderr}`);
  nssHome = await tempDir('ports-nss');
  await mkdir(join(nssHome, '.pki', 'nssdb'), { recursive: true });
  await execFileP('certutil', ['-d', `sql:${join(nssHome, '.pki', 'nssdb')}`, '-N', '--empty-password']);
}, 900_000);

afterAll(async () => {
  await cleanupHome(home, root, [root]);
});

it('headless Chromium loads a page from a run through the router and saves a screenshot', async () => {
  const url = (await moat(['open', 'delta', '--print'], { home, cwd: root })).stdout.trim();
  expect(url).toBe(`http://web.delta.localhost:${port}/`);
  const out = join(REPO_ROOT, 'test-results');
  await mkdir(out, { recursive: true });
  const shot = join(out, 'ports-browser.png');
  const dom = await waitFor(
    async () => {
      const { dom: d } = await chromium(url);
      return d.includes('hello from delta') ? d : undefined;
    },
    90_000,
    'Chromium to load the page',
  );
  expect(dom).toContain(`<h1 id="t">hello from delta</h1><p>${url}</p>`);
  const profile = await tempDir('ports-chromium');
  await execFileP('chromium', [...FLAGS, `--user-data-dir=${profile}`, `--screenshot=${shot}`, url], { timeout: 60_000 });
  expect(existsSync(shot)).toBe(true);
  expect(statSync(shot).size).toBeGreaterThan(1000);
}, 180_000);

it('with the routing CA trusted (NSS), Chromium loads the run over https; a certificate that CA signs for example.com is refused', async () => {
  const caFile = join(home, 'routing-ca', 'ca.pem');
  const secure = `https://web.delta.localhost:${port}/`;
  // Not trusted yet: the page does not load.
  expect((await chromium(secure)).log).toMatch(/Page load failed: net::ERR_CERT_AUTHORITY_INVALID/);
  await execFileP('certutil', ['-d', `sql:${join(nssHome, '.pki', 'nssdb')}`, '-A', '-t', 'C,,', '-n', 'Moat Local Routing CA', '-i', caFile]);
  expect((await chromium(secure)).dom).toContain('<h1 id="t">hello from delta</h1>');
  // The attack: the routing CA's key signs a certificate for a real site, served on loopback.
  const ca = await parseCA(await readFile(caFile, 'utf8'), await readFile(join(home, 'routing-ca', 'ca.key'), 'utf8'));
  const leaf = await issueLeaf(ca, 'example.com');
  const evil = https.createServer({ key: leaf.keyPem, cert: leaf.chainPem }, (_req, res) =>
    res.end('<html><body><h1 id="t">forged example.com</h1></body></html>'),
  );
  await new Promise<void>((r) => evil.listen(0, '127.0.0.1', () => r()));
  const evilPort = (evil.address() as net.AddressInfo).port;
  try {
    const map = `--host-resolver-rules=MAP example.com 127.0.0.1:${evilPort}`;
    const refused = await chromium('https://example.com/', [map]);
    expect(refused.dom).not.toContain('forged');
    expect(refused.log).toMatch(/Page load failed: net::ERR_CERT_INVALID/);
    // The same page without certificate checks loads: the certificate alone was refused.
    expect((await chromium('https://example.com/', [map, '--ignore-certificate-errors'])).dom).toContain('forged example.com');
  } finally {
    evil.close();
  }
}, 240_000);
