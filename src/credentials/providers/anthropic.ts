import type { Provider } from '../types.js';
import { obtainToken, randomBase64Url, secretField, tokenSecret, validateRequest } from './shared.js';

/** Anthropic API key: `x-api-key` on api.anthropic.com. */

export const ANTHROPIC_VERSION = '2023-06-01';

/** `sk-ant-api03-` + 93 base64url chars + `AA`, the shape of a real key. */
function anthropicPlaceholderKey(): string {
  return `sk-ant-api03-${randomBase64Url(93)}AA`;
}

export const anthropic: Provider = {
  name: 'anthropic',
  description: 'Anthropic API key (Claude Code with API billing, SDKs)',
  envVars: ['ANTHROPIC_API_KEY'],
  api: { envVar: 'MOAT_ANTHROPIC_API_URL', defaultUrl: 'https://api.anthropic.com' },

  async grant(ctx) {
    const { token, source } = await obtainToken(ctx, { provider: 'anthropic', label: 'Anthropic API key', envVars: this.envVars });
    return tokenSecret('anthropic', 'api-key', token, source);
  },

  async validate(cred, opts) {
    await validateRequest('anthropic', opts, '/v1/models?limit=1', {
      'x-api-key': secretField(cred, 'token'),
      'anthropic-version': ANTHROPIC_VERSION,
    });
    return { summary: 'the key is valid' };
  },

  injections(cred) {
    // The Messages API (Claude Code, the SDKs) on port 443; no other Anthropic host takes the key.
    return [{ grant: cred.provider, hosts: ['api.anthropic.com'], set: { 'x-api-key': secretField(cred, 'token') } }];
  },

  placeholder() {
    return { env: { ANTHROPIC_API_KEY: anthropicPlaceholderKey() }, files: [] };
  },
};
