import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { claudeAgent } from '../../../src/agents/claude/index.js';
import { codexAgent } from '../../../src/agents/codex/index.js';
import { agentGrants } from '../../../src/agents/common.js';
import { MoatError } from '../../../src/errors.js';
import type { StoredCredential } from '../../../src/credentials/types.js';
import { cred, tempHome, type TempHome } from '../credentials/helpers.js';

const NOW = new Date('2025-06-01T00:00:00Z');
const lookupOf =
  (stored: Record<string, StoredCredential>) =>
  (name: string): Promise<StoredCredential | undefined> =>
    Promise.resolve(stored[name]);

describe('agent grants: added automatically when stored', () => {
  it('claude: the subscription when stored, else the API key', async () => {
    const both = lookupOf({ claude: cred({ provider: 'claude', kind: 'oauth' }), anthropic: cred({ provider: 'anthropic', kind: 'api-key' }) });
    expect(await agentGrants(claudeAgent, [], both, NOW)).toEqual(['claude']);
    expect(await agentGrants(claudeAgent, [], lookupOf({ anthropic: cred({ provider: 'anthropic' }) }), NOW)).toEqual(['anthropic']);
  });

  it("nothing is added when the run already names one of the agent's grants", async () => {
    const both = lookupOf({ claude: cred({ provider: 'claude' }), anthropic: cred({ provider: 'anthropic' }) });
    expect(await agentGrants(claudeAgent, ['github', 'anthropic'], both, NOW)).toEqual([]);
    expect(await agentGrants(codexAgent, ['openai'], lookupOf({}), NOW)).toEqual([]);
  });

  it('an expired credential without a refresh token is skipped; one that can refresh is used', async () => {
    const expired = cred({ provider: 'claude', kind: 'oauth', expiresAt: '2025-01-01T00:00:00Z' });
    expect(await agentGrants(claudeAgent, [], lookupOf({ claude: expired, anthropic: cred({ provider: 'anthropic' }) }), NOW)).toEqual(['anthropic']);
    const refreshable = { ...expired, secret: { token: 't', refreshToken: 'r' } };
    expect(await agentGrants(claudeAgent, [], lookupOf({ claude: refreshable }), NOW)).toEqual(['claude']);
  });

  it('none stored: a MoatError listing the moat grant commands', async () => {
    const err = await agentGrants(claudeAgent, [], lookupOf({}), NOW).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MoatError);
    expect((err as MoatError).message).toContain('Claude Code needs a credential');
    expect((err as MoatError).message).toContain('moat grant claude');
    expect((err as MoatError).message).toContain('moat grant anthropic');
    const codexErr = await agentGrants(codexAgent, [], lookupOf({}), NOW).catch((e: unknown) => e);
    expect((codexErr as MoatError).message).toMatch(/Codex needs a credential[\s\S]*moat grant openai/);
  });

  it('an unreadable credential is reported, not thrown', async () => {
    const lookup = (name: string): Promise<StoredCredential | undefined> =>
      name === 'claude'
        ? Promise.reject(new MoatError('The credential "claude" cannot be read: damaged.', { code: 'E_CREDENTIAL' }))
        : Promise.resolve(undefined);
    const err = (await agentGrants(claudeAgent, [], lookup, NOW).catch((e: unknown) => e)) as MoatError;
    expect(err.message).toContain('cannot be read');
    expect(err.message).toContain('moat grant claude');
  });
});

describe('agent grants: against the encrypted store (file key backend)', () => {
  let t: TempHome;
  beforeEach(async () => {
    t = await tempHome();
  });
  afterEach(async () => {
    await t.cleanup();
  });

  it('finds what moat grant stored', async () => {
    const lookup = (n: string): Promise<StoredCredential | undefined> => t.store.get(n);
    await expect(agentGrants(codexAgent, [], lookup, NOW)).rejects.toThrow(/moat grant openai/);
    await t.store.put('openai', cred({ provider: 'openai', kind: 'api-key', secret: { token: 'sk-proj-REAL' } }));
    expect(await agentGrants(codexAgent, [], lookup, NOW)).toEqual(['openai']);
    await t.store.put('anthropic', cred({ provider: 'anthropic', kind: 'api-key', secret: { token: 'sk-ant-api03-REAL' } }));
    expect(await agentGrants(claudeAgent, [], lookup, NOW)).toEqual(['anthropic']);
  });
});
