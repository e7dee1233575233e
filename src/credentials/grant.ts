import type { CredentialStore } from './store.js';
import { apiBaseUrl, parseGrantName } from './providers/index.js';
import { loadProviders } from './providers/registry.js';
import type { GrantContext, StoredCredential, ValidationResult } from './types.js';

/** The grant service behind `moat grant <provider>`: obtain → validate → store. */

export interface GrantOptions {
  validate: boolean;
  fetch?: typeof fetch;
}

export interface GrantOutcome {
  name: string;
  credential: StoredCredential;
  validation?: ValidationResult;
}

export async function grantCredential(spec: string, store: CredentialStore, ctx: GrantContext, opts: GrantOptions): Promise<GrantOutcome> {
  const { provider: providerName, scopes } = parseGrantName(spec);
  const provider = (await loadProviders(store.home)).get(providerName);
  const granted = await provider.grant(ctx);
  let credential: StoredCredential = { ...granted, scopes, createdAt: ctx.now().toISOString() };
  let validation: ValidationResult | undefined;
  if (opts.validate) {
    ctx.log(`Checking the ${provider.name} credential…`);
    validation = await provider.validate(credential, { baseUrl: apiBaseUrl(provider, ctx.env), fetch: opts.fetch, env: ctx.env });
    if (validation.meta && Object.keys(validation.meta).length > 0) {
      credential = { ...credential, meta: { ...credential.meta, ...validation.meta } };
    }
  }
  await store.put(provider.name, credential);
  return { name: provider.name, credential, ...(validation ? { validation } : {}) };
}
