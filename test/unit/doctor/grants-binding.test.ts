/**
 * `moat doctor` shows a grant the way a run would use it: one whose provider changed where its token goes
 * since the grant approved it (a forged or stale approval digest) is a FAIL with `moat grant NAME`.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { grantsCheck } from '../../../src/doctor/grants.js';
import { FILE_ENV, tempHome, type TempHome } from '../credentials/helpers.js';

let t: TempHome;
beforeEach(async () => {
  t = await tempHome();
});
afterEach(async () => {
  await t.cleanup();
});

const anthropicGrant = (approved?: string) => ({
  provider: 'anthropic',
  kind: 'token' as const,
  secret: { token: 'sk-ant-api03-DOCTORTESTDOCTORTEST' },
  scopes: [],
  createdAt: '2026-01-01T00:00:00Z',
  source: 'stdin',
  ...(approved ? { meta: { approved } } : {}),
});

describe('doctor: a grant bound to what it approved', () => {
  it('ATTACK: a grant whose approval no longer matches its provider fails, with moat grant NAME', async () => {
    await t.store.put('anthropic', anthropicGrant('sha256:00'));
    const results = [await grantsCheck.run({ home: t.home, env: FILE_ENV, now: new Date('2026-06-01T00:00:00Z') } as never)].flat();
    const r = results.find((x) => x.name === 'grant:anthropic')!;
    expect(r.status).toBe('fail');
    expect(r.detail).toContain('changed where the anthropic token goes');
    expect(r.fix).toContain('moat grant anthropic');
  });

  it('a grant stored before digests existed (built-in) is still OK', async () => {
    await t.store.put('anthropic', anthropicGrant());
    const results = [await grantsCheck.run({ home: t.home, env: FILE_ENV, now: new Date('2026-06-01T00:00:00Z') } as never)].flat();
    expect(results.find((x) => x.name === 'grant:anthropic')?.status).toBe('ok');
  });
});
