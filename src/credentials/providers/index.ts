import { MoatError } from '../../errors.js';
import { didYouMean } from '../../suggest.js';
import type { Provider } from '../types.js';
import { aws } from './aws.js';
import { claude } from './claude.js';
import { github } from './github.js';
import { npm } from './npm.js';
import { openai } from './openai.js';

/**
 * The providers that need code (OAuth sign-ins and their refresh, AWS re-signing, .npmrc registries).
 * A provider that is a token in a header is data instead: a catalog entry (data/catalog/NAME.yaml, e.g.
 * anthropic) or the user's own file; the gateway never changes for either.
 */
export const providers: readonly Provider[] = [github, claude, openai, npm, aws];

export function findProvider(name: string): Provider | undefined {
  return providers.find((p) => p.name === name);
}

export function getProvider(name: string): Provider {
  const found = findProvider(name);
  if (found) return found;
  const names = providers.map((p) => p.name);
  throw new MoatError(`Unknown credential provider "${name}". Known: ${names.join(', ')}.`, {
    code: 'E_NOT_FOUND',
    hint: didYouMean(name, names, 'moat grant {}') ?? 'moat grant <provider>',
  });
}

/** `github:repo` → {provider: 'github', scopes: ['repo']}; `github` → no scopes. */
export function parseGrantName(spec: string): { provider: string; scopes: string[] } {
  const [provider = '', ...rest] = spec.trim().split(':');
  const scopes = rest
    .join(':')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (!provider) throw new MoatError(`Invalid grant "${spec}".`, { code: 'E_USAGE', hint: 'moat grant <provider>[:scope]' });
  return { provider: provider.toLowerCase(), scopes };
}

export function apiBaseUrl(provider: Provider, env: NodeJS.ProcessEnv = process.env): string {
  return env[provider.api.envVar] || provider.api.defaultUrl;
}

export function authUrl(provider: Provider, env: NodeJS.ProcessEnv = process.env): string | undefined {
  return provider.auth ? env[provider.auth.envVar] || provider.auth.defaultUrl : undefined;
}

export { aws, claude, github, npm, openai };
