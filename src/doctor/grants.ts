/**
 * Each stored grant: it decrypts, and when it expires. A result names the grant, its provider and kind,
 * where it came from and its expiry; never a secret value (not even a part of one).
 */
import type { StoredCredential } from '../credentials/types.js';
import { MoatError } from '../errors.js';
import type { SourceAnswer } from './grant-sources.js';
import { fail, ok, warn, type Check, type CheckResult } from './types.js';

const DAY_MS = 86_400_000;

function grantResult(name: string, c: StoredCredential, now: number, refreshable: boolean): CheckResult {
  const id = `grant:${name}`;
  const what = `${c.provider} ${c.kind} from ${c.source}`;
  if (!c.expiresAt) return ok(id, `${what}, does not expire`);
  const at = Date.parse(c.expiresAt);
  if (Number.isNaN(at)) return warn(id, `${what}, unreadable expiry`, `moat grant ${c.provider}`);
  if (at <= now) {
    if (refreshable) return ok(id, `${what}, expired ${c.expiresAt}; the daemon refreshes it when a run uses it`);
    return fail(id, `${what}, expired ${c.expiresAt}`, `moat grant ${c.provider}`);
  }
  if (at - now < 7 * DAY_MS && !refreshable) return warn(id, `${what}, expires ${c.expiresAt} (within 7 days)`, `moat grant ${c.provider}`);
  return ok(id, `${what}, expires ${c.expiresAt}${refreshable ? ' (refreshed by the daemon)' : ''}`);
}

/** An ssh or aws grant's result, with what it relies on outside moat checked too (grant-sources.ts). */
function withSource(r: CheckResult, source: SourceAnswer | undefined): CheckResult {
  if (!source || r.status === 'fail') return r;
  if (!source.ok) return { name: r.name, status: source.status, detail: `${r.detail}; ${source.detail}`, fix: source.fix };
  return { ...r, detail: `${r.detail}; ${source.note}` };
}

export const grantsCheck: Check = {
  name: 'grants',
  onTimeout: { detail: 'reading the grants took too long (the keychain may be locked)', fix: 'Unlock the OS keychain and run moat doctor again' },
  async run(ctx) {
    const [{ CredentialStore }, { findProvider }, { displayGrantName }, sources, { loadProviders }] = await Promise.all([
      import('../credentials/store.js'),
      import('../credentials/providers/index.js'),
      import('../credentials/providers/ssh.js'),
      import('./grant-sources.js'),
      import('../credentials/providers/registry.js'),
    ]);
    // With the user's provider files, so a grant whose file changed since it was approved shows as a run would
    // see it (refused). A file that does not parse is the grant's own failure, at run start as here.
    const registry = await loadProviders(ctx.home).catch(() => undefined);
    const entries = await new CredentialStore(ctx.home, { env: ctx.env }).list();
    if (entries.length === 0) return ok('grants', 'none stored (moat grant <provider> adds one)');
    const now = ctx.now.getTime();
    const agent = sources.agentKeysOnce(ctx.env);
    return Promise.all(
      entries.map(async (e) => {
        const name = displayGrantName(e.name);
        if (e.status === 'corrupt') return fail(`grant:${name}`, e.error, e.fix);
        const c = e.credential;
        const provider = registry?.find(c.provider) ?? findProvider(c.provider);
        try {
          provider?.checkGrant?.(c);
        } catch (err) {
          if (!(err instanceof MoatError)) throw err;
          return fail(`grant:${name}`, err.message, err.hint ?? `moat grant ${c.provider}`);
        }
        const refreshable = provider?.refresh !== undefined && (c.secret.refreshToken ?? '').length > 0;
        const source = c.provider === 'ssh' ? await sources.sshSource(c, agent) : c.provider === 'aws' ? await sources.awsSource(c, ctx.env) : undefined;
        return withSource(grantResult(name, c, now, refreshable), source);
      }),
    );
  },
};
