import { MoatError } from '../errors.js';
import type { CredentialStore } from './store.js';
import { authUrl, parseGrantName } from './providers/index.js';
import { loadProviders } from './providers/registry.js';
import { shapedPlaceholder } from './secrets/placeholder.js';
import type { SecretSubstitution } from '../gateway/secret-substitution.js';
import type { ScrubPair } from '../gateway/response-scrub.js';
import { didYouMean } from '../suggest.js';
import { isSshGrant } from './providers/ssh.js';
import type { AwsGrantConfig, HeaderInjection, LocalResponse, Placeholders, Provider, StoredCredential } from './types.js';

/**
 * Turn a run's grant names into what the gateway injects, what the container sees, and which strings
 * every log sink must mask. Fails before anything is created when a grant is missing or expired.
 */

export interface ResolvedGrants {
  injections: HeaderInjection[];
  /** Requests the gateway answers itself (placeholders only, never a secret). */
  responses: LocalResponse[];
  placeholders: Placeholders;
  secretsToRedact: string[];
  /** Placeholders the gateway replaces with real values on the grant's hosts (provider files' `substitute: true`). */
  substitutions: SecretSubstitution[];
  /** Real values and what the container gets in their place when an upstream echoes one back. */
  scrub: ScrubPair[];
  /** An aws grant: the gateway re-signs AWS requests (the daemon obtains the real credentials). */
  aws?: AwsGrantConfig;
  /** Earliest expiry (ISO-8601) among the credentials the host can refresh; the daemon re-resolves before it. */
  refreshAt?: string;
}

export interface ResolveOptions {
  env?: NodeJS.ProcessEnv;
  now?: Date;
  fetch?: typeof fetch;
  /** Refresh credentials expiring within this window (default 5 minutes). */
  refreshWithinMs?: number;
  /**
   * false: never refresh here (the CLI, which needs only placeholders and an early failure); a credential
   * the host can refresh counts as usable even when it has expired, because the daemon, the one process
   * that refreshes, renews it before the run's first request. Default true.
   */
  refresh?: boolean;
}

const DEFAULT_REFRESH_WINDOW_MS = 5 * 60_000;

export async function resolveGrants(names: string[], store: CredentialStore, opts: ResolveOptions = {}): Promise<ResolvedGrants> {
  const out: ResolvedGrants = { injections: [], responses: [], placeholders: { env: {}, files: [] }, secretsToRedact: [], substitutions: [], scrub: [] };
  const seen = new Set<string>();
  const registry = await loadProviders(store.home);
  /** Which grant set each container variable: two grants may not both decide one (a provider file's env). */
  const envOwner = new Map<string, string>();
  for (const spec of names) {
    // ssh:HOST grants hold no secret to inject: the daemon's agent filter serves them (providers/ssh.ts).
    if (isSshGrant(spec)) continue;
    const { provider: name } = parseGrantName(spec);
    if (seen.has(name)) continue;
    seen.add(name);
    const provider = registry.find(name);
    if (!provider) {
      const names = registry.names();
      throw new MoatError(`Unknown grant "${spec}": there is no provider "${name}" (known: ${names.join(', ')}).`, {
        code: 'E_NOT_FOUND',
        hint: didYouMean(name, names, '--grant {}') ?? 'moat grant list shows the stored grants.',
      });
    }
    const stored = await store.get(name);
    if (!stored) {
      throw new MoatError(`The grant "${name}" does not exist yet.`, { code: 'E_NOT_FOUND', hint: `moat grant ${name}` });
    }
    provider.checkGrant?.(stored);
    const cred = await ensureFresh(provider, name, stored, store, opts);
    const injections = provider.injections(cred);
    out.injections.push(...injections);
    out.responses.push(...(provider.localResponses?.(cred) ?? []));
    const aws = provider.awsSigning?.(cred);
    if (aws) out.aws = aws;
    const subs = provider.substitutions?.(cred) ?? [];
    out.substitutions.push(...subs);
    const placeholder = provider.placeholder(cred);
    for (const key of Object.keys(placeholder.env)) {
      const other = envOwner.get(key);
      if (other !== undefined && other !== name && (subs.length > 0 || registry.entries.some((e) => e.name === other && e.kind !== 'code'))) {
        throw new MoatError(`The grants "${other}" and "${name}" both set ${key} in the container.`, {
          code: 'E_CONFIG',
          hint: `Use one of them, or give one provider file another env: name`,
        });
      }
      envOwner.set(key, name);
    }
    Object.assign(out.placeholders.env, placeholder.env);
    out.scrub.push(...scrubPairs(cred, subs, placeholder.env));
    for (const file of placeholder.files) {
      out.placeholders.files = out.placeholders.files.filter((f) => f.path !== file.path);
      out.placeholders.files.push(file);
    }
    out.secretsToRedact.push(...secretStrings(cred, injections));
    if (
      provider.refresh &&
      cred.expiresAt &&
      !Number.isNaN(Date.parse(cred.expiresAt)) &&
      (!out.refreshAt || Date.parse(cred.expiresAt) < Date.parse(out.refreshAt))
    )
      out.refreshAt = cred.expiresAt;
  }
  assertNoConflicts(out.injections);
  out.scrub = out.scrub.filter((p, i, all) => all.findIndex((q) => q.value === p.value) === i);
  out.secretsToRedact = [...new Set(out.secretsToRedact)].filter((s) => s.length >= 8).sort((a, b) => b.length - a.length);
  return out;
}

/**
 * What replaces each of a credential's secret values in a response: the container's own placeholder when
 * the grant has one fixed (a substitution, or a provider file's placeholder), else a fresh one of its shape.
 */
function scrubPairs(cred: StoredCredential, subs: SecretSubstitution[], env: Record<string, string>): ScrubPair[] {
  const fixed = cred.meta?.placeholder;
  return Object.values(cred.secret)
    .filter((value) => value.length >= 8)
    .map((value) => {
      const sub = subs.find((s) => s.value === value);
      const placeholder = sub?.placeholder ?? (fixed && Object.values(env).includes(fixed) ? fixed : shapedPlaceholder(value));
      return { value, placeholder };
    });
}

/** Refresh when near expiry and the provider can; refuse an expired credential otherwise. */
async function ensureFresh(
  provider: Provider,
  name: string,
  cred: StoredCredential,
  store: CredentialStore,
  opts: ResolveOptions = {},
): Promise<StoredCredential> {
  if (!cred.expiresAt) return cred;
  const now = opts.now ?? new Date();
  const expires = Date.parse(cred.expiresAt);
  if (Number.isNaN(expires) || expires - now.getTime() > (opts.refreshWithinMs ?? DEFAULT_REFRESH_WINDOW_MS)) return cred;
  if (opts.refresh === false) {
    if (expires > now.getTime() || (provider.refresh && canRefresh(cred))) return cred;
    throw expiredError(name, cred);
  }
  const baseUrl = authUrl(provider, opts.env ?? process.env);
  let renewed: StoredCredential | undefined;
  if (provider.refresh && baseUrl) {
    try {
      renewed = await provider.refresh(cred, { baseUrl, fetch: opts.fetch, now });
    } catch (err) {
      // Still usable for a few minutes: run with it rather than fail; the daemon retries.
      if (expires > now.getTime()) return cred;
      throw err;
    }
  }
  if (renewed) {
    await store.put(name, renewed);
    return renewed;
  }
  if (expires > now.getTime()) return cred;
  throw expiredError(name, cred);
}

/** A stored refresh token is what every refreshable provider needs. */
const canRefresh = (cred: StoredCredential): boolean => Boolean(cred.secret.refreshToken);

const expiredError = (name: string, cred: StoredCredential): MoatError =>
  new MoatError(`The grant "${name}" expired at ${cred.expiresAt ?? '?'} and cannot be refreshed.`, { code: 'E_CREDENTIAL', hint: `moat grant ${name}` });

/** Every form of a secret that could appear in a log: raw values and the header values built from them. */
function secretStrings(cred: StoredCredential, injections: HeaderInjection[]): string[] {
  const out = Object.values(cred.secret);
  for (const inj of injections) {
    for (const value of Object.values(inj.set)) {
      if (out.some((s) => value.includes(s))) out.push(value);
      const m = /^(?:Basic|Bearer)\s+(.+)$/i.exec(value);
      if (m?.[1] && !out.includes(m[1])) out.push(m[1]);
    }
  }
  return out;
}

/**
 * Two grants may not both decide the same header on the same host (e.g. `anthropic` sets x-api-key
 * while `claude` removes it): the outcome would depend on order. Refuse before anything starts.
 */
function assertNoConflicts(injections: HeaderInjection[]): void {
  const owner = new Map<string, string>();
  for (const inj of injections) {
    const headers = [...Object.keys(inj.set), ...(inj.remove ?? [])].map((h) => h.toLowerCase());
    for (const host of inj.hosts) {
      for (const header of headers) {
        const key = `${host} ${header}`;
        const other = owner.get(key);
        if (other !== undefined && other !== inj.grant) {
          throw new MoatError(`The grants "${other}" and "${inj.grant}" both supply the ${header} credential for ${host}.`, {
            code: 'E_CONFIG',
            hint: `Use one of them: remove "${other}" or "${inj.grant}" from --grant / moat.yaml grants`,
          });
        }
        owner.set(key, inj.grant);
      }
    }
  }
}
