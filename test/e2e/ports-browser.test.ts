/**
 * A real browser through the routing proxy (issue 15): headless Chromium (Debian's package) loads a page
 * served from inside a run at http://web.RUN.localhost:PORT/; the DOM is checked and a screenshot kept as a
 * test artifact in test-results/ports-browser.png.
 */
import { execFile } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { REPO_ROOT, cleanupHome, moat, tempDir, waitFor } from './helpers.js';

const execFileP = promisify(execFile);
let home: string;
let root: string;
let port: number;

const PAGE = `cr=$(printf '\\r')
while IFS= read -r line; do case "$line" in "$cr"|'') break;; esac; done
body="<html><head><title>moat ports</title></head><body style='background:#2a6;color:#fff;font:40px sans-serif'><h1 id=t>served from $MOAT_RUN_NAME</h1></body></html>"
printf 'HTTP/1.1 200 OK\\r\\nContent-Type: text/html\\r\\nContent-Length: %s\\r\\nConnection: close\\r\\n\\r\\n%s' "\${#body}" "$body"
`;

beforeAll(async () => {
  home = await tempDir('ports-browser-home');
  root = await tempDir('ports-browser-ws');
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  await writeFile(join(home, 'config.yaml'), `routing:\n  port: ${port}\n`);
  await writeFile(join(root, 'page.sh'), PAGE);
  const r = await moat(['run', '-d', '-n', 'delta', '-p', 'web=3000', '--', 'socat', 'TCP-LISTEN:3000,fork,reuseaddr', 'EXEC:sh /workspace/page.sh'], {
    home,
    cwd: root,
    timeoutMs: 600_000,
  });
  if (r.code !== 0) throw new Error(`moat run failed (${String(r.code)}):\n${r.stderr}`);
}, 600_000);

afterAll(async () => {
  await cleanupHome(home, root, [root]);
});

it('headless Chromium loads a page from a run through the router and saves a screenshot', async () => {
  const url = (await moat(['open', 'delta', '--print'], { home, cwd: root })).stdout.trim();
  expect(url).toBe(`http://web.delta.localhost:${port}/`);
  const out = join(REPO_ROOT, 'test-results');
  await mkdir(out, { recursive: true });
  const shot = join(out, 'ports-browser.png');
  const profile = await tempDir('ports-chromium');
  const flags = [
    '--headless=new',
    '--no-sandbox',
    '--disable-gpu',
    '--no-first-run',
    '--no-proxy-server',
    `--user-data-dir=${profile}`,
    '--window-size=800,400',
  ];
  const dom = await waitFor(
    async () => {
      const { stdout } = await execFileP('chromium', [...flags, '--dump-dom', url], { timeout: 60_000 }).catch(() => ({ stdout: '' }));
      return stdout.includes('served from delta') ? stdout : undefined;
    },
    90_000,
    'Chromium to load the page',
  );
  expect(dom).toContain('<h1 id="t">served from delta</h1>');
  await execFileP('chromium', [...flags, `--screenshot=${shot}`, url], { timeout: 60_000 });
  expect(existsSync(shot)).toBe(true);
  expect(statSync(shot).size).toBeGreaterThan(1000);
}, 180_000);
