import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { decodeJwtClaims } from '../../../src/credentials/providers/shared.js';
import { resolveGrants } from '../../../src/credentials/resolve.js';
import { fetchVia, startHarness, waitFor } from '../gateway/helpers.js';
import { cred, jwt, tempHome, type TempHome } from './helpers.js';

const REAL = {
  accessToken: jwt({ exp: 4_102_444_800, 'https://api.openai.com/auth': { chatgpt_account_id: 'acct-real' } }),
  idToken: jwt({ email: 'real@person.example', 'https://api.openai.com/auth': { chatgpt_account_id: 'acct-real', chatgpt_plan_type: 'pro' } }),
  refreshToken: 'rt_REAL_REFRESH_TOKEN_VALUE',
};

let t: TempHome;
beforeEach(async () => {
  t = await tempHome();
  await t.store.put('openai', cred({ provider: 'openai', kind: 'chatgpt', secret: REAL, meta: { accountId: 'acct-real', planType: 'pro' } }));
});
afterEach(async () => t.cleanup());

interface TokenBody {
  id_token: string;
  access_token: string;
  refresh_token: string;
}

describe('the ChatGPT sign-in answers Codex’s own refresh call locally', () => {
  it('declares POST auth.openai.com/oauth/token with placeholder tokens shaped like real ones', async () => {
    const r = await resolveGrants(['openai'], t.store);
    expect(r.responses).toHaveLength(1);
    const ans = r.responses[0]!;
    expect(ans).toMatchObject({ grant: 'openai', hosts: ['auth.openai.com'], method: 'POST', path: '/oauth/token', status: 200 });
    expect(ans.headers['content-type']).toBe('application/json');
    for (const secret of Object.values(REAL)) expect(ans.body).not.toContain(secret);
    expect(ans.body).not.toContain('acct-real');
    const body = JSON.parse(ans.body) as TokenBody;
    expect(body.refresh_token).toMatch(/^rt_/);
    for (const tok of [body.id_token, body.access_token]) {
      expect(tok.split('.')).toHaveLength(3);
      const claims = decodeJwtClaims(tok)!;
      expect(claims.exp).toBeGreaterThan(Date.UTC(2090, 0, 1) / 1000);
      expect(claims['https://api.openai.com/auth']).toMatchObject({ chatgpt_plan_type: 'pro' });
    }
    // Placeholders are not secrets: nothing of the answer needs masking.
    for (const s of r.secretsToRedact) expect(ans.body).not.toContain(s);
  });

  it('an API-key grant declares no local answer', async () => {
    await t.store.put('openai', cred({ provider: 'openai', kind: 'api-key', secret: { token: 'sk-proj-REALKEYREALKEY' } }));
    expect((await resolveGrants(['openai'], t.store)).responses).toEqual([]);
  });

  it('through the gateway, the container’s refresh succeeds without reaching auth.openai.com', async () => {
    const r = await resolveGrants(['openai'], t.store);
    const h = await startHarness({ policy: { policy: 'strict' }, injections: r.injections, responses: r.responses });
    try {
      const res = await fetchVia(h, 'auth.openai.com', {
        method: 'POST',
        path: '/oauth/token',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ client_id: 'app_EMoamEEZ73f0CkXaXp7hrann', grant_type: 'refresh_token', refresh_token: 'rt_placeholder' }),
      });
      expect(res.status).toBe(200);
      const body = JSON.parse(res.body) as TokenBody;
      expect(body.access_token).toBeTruthy();
      expect(res.body).not.toContain(REAL.accessToken);
      expect(res.body).not.toContain(REAL.refreshToken);
      expect(h.fake.requests).toHaveLength(0);
      const ev = await waitFor(() => h.requestEvents().find((e) => e.host === 'auth.openai.com'));
      expect(ev).toMatchObject({ grant: 'openai', local: true, status: 200 });
    } finally {
      await h.close();
    }
  });
});
