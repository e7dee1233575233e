import type { Command } from '@commander-js/extra-typings';
import Table from 'cli-table3';
import pc from 'picocolors';
import { MoatError } from '../errors.js';
import type { MoatHome } from '../home/paths.js';
import { createGrantContext, isPromptExit } from '../credentials/context.js';
import { grantCredential } from '../credentials/grant.js';
import { getProvider, parseGrantName, providers } from '../credentials/providers/index.js';
import { CredentialStore, validateCredentialName, type CredentialListEntry } from '../credentials/store.js';
import type { GrantContext, StoredCredential } from '../credentials/types.js';

/** `moat grant <provider>`, `moat grant list`, `moat grant show <name>`, `moat revoke <name>`. */

export interface GrantCommandContext {
  home: MoatHome;
  /** Test seams; default to the real process. */
  store?: CredentialStore;
  grantContext?: (opts: { tokenStdin: boolean; import: boolean }) => GrantContext;
  stdout?: NodeJS.WritableStream;
  stderr?: NodeJS.WritableStream;
}

/** First 4 and last 4 characters; short values are fully hidden. */
export function redact(value: string): string {
  return value.length >= 16 ? `${value.slice(0, 4)}…${value.slice(-4)}` : '••••';
}

function expiry(cred: StoredCredential, now = Date.now()): string {
  if (!cred.expiresAt) return 'never';
  return Date.parse(cred.expiresAt) <= now ? `expired ${cred.expiresAt}` : cred.expiresAt;
}

function listRow(entry: CredentialListEntry): Record<string, unknown> {
  if (entry.status === 'corrupt') return { name: entry.name, status: 'corrupt', error: entry.error, fix: entry.fix };
  const c = entry.credential;
  return {
    name: entry.name,
    status: 'ok',
    provider: c.provider,
    kind: c.kind,
    source: c.source,
    scopes: c.scopes,
    createdAt: c.createdAt,
    expiresAt: c.expiresAt ?? null,
  };
}

export function registerGrantCommands(program: Command, ctx: GrantCommandContext): void {
  const store = (): CredentialStore => ctx.store ?? new CredentialStore(ctx.home);
  const out = (s: string): void => void (ctx.stdout ?? process.stdout).write(`${s}\n`);
  const err = (s: string): void => void (ctx.stderr ?? process.stderr).write(`${s}\n`);

  const grant = program
    .command('grant')
    .description(`Store a credential once; runs get it injected by the gateway (providers: ${providers.map((p) => p.name).join(', ')})`)
    .argument('[provider]', 'provider, optionally with a scope suffix (github:repo)')
    .option('--token-stdin', 'read the token from stdin (scripts, CI)')
    .option('--no-validate', 'save without checking the credential with the provider')
    .option('--import', "import the host's existing login (Claude Code, Codex, .npmrc)")
    .action(async (spec, opts) => {
      if (!spec) {
        throw new MoatError(`Name a provider to grant: ${providers.map((p) => p.name).join(', ')}.`, {
          code: 'E_USAGE',
          hint: 'moat grant github   (or: moat grant list)',
        });
      }
      const provider = getProvider(parseGrantName(spec).provider);
      const gctx = (ctx.grantContext ?? createGrantContext)({ tokenStdin: opts.tokenStdin === true, import: opts.import === true });
      try {
        const result = await grantCredential(spec, store(), gctx, { validate: opts.validate });
        const c = result.credential;
        const scopes = c.scopes.length > 0 ? ` (scopes: ${c.scopes.join(', ')})` : '';
        const checked = result.validation?.summary ? `; ${result.validation.summary}` : opts.validate ? '' : '; not validated';
        out(`${pc.green('✓')} Granted ${pc.bold(result.name)}${scopes}: ${c.kind} from ${c.source}${checked}.`);
        if (c.expiresAt) err(`It expires ${c.expiresAt}${provider.refresh ? '; moat refreshes it when it can' : ''}.`);
      } catch (e) {
        if (isPromptExit(e)) {
          err('Cancelled.');
          process.exitCode = 130;
          return;
        }
        throw e;
      }
    });

  grant
    .command('list')
    .description('List stored credentials (never their secrets)')
    .option('--json', 'print one JSON object on stdout')
    .action(async (opts) => {
      const entries = await store().list();
      if (opts.json) {
        out(JSON.stringify({ grants: entries.map(listRow) }));
        return;
      }
      if (entries.length === 0) {
        out(`No grants yet. Add one with: moat grant <provider> (${providers.map((p) => p.name).join(', ')})`);
        return;
      }
      const table = new Table({ head: ['NAME', 'KIND', 'SOURCE', 'SCOPES', 'EXPIRES'], style: { head: [], border: [] } });
      for (const e of entries) {
        if (e.status === 'corrupt') table.push([e.name, pc.red('corrupt'), e.error, '', `fix: ${e.fix}`]);
        else table.push([e.name, e.credential.kind, e.credential.source, e.credential.scopes.join(',') || '-', expiry(e.credential)]);
      }
      out(table.toString());
    });

  grant
    .command('show')
    .description('Show one credential, secrets redacted')
    .argument('<name>', 'credential name (see moat grant list)')
    .option('--json', 'print one JSON object on stdout')
    .action(async (name, opts) => {
      const cred = await store().get(validateCredentialName(name));
      if (!cred) throw new MoatError(`No grant named "${name}".`, { code: 'E_NOT_FOUND', hint: `moat grant ${name}` });
      const secret = Object.fromEntries(Object.entries(cred.secret).map(([k, v]) => [k, redact(v)]));
      const view = { name, provider: cred.provider, kind: cred.kind, source: cred.source, scopes: cred.scopes, createdAt: cred.createdAt, expiresAt: cred.expiresAt ?? null, meta: cred.meta ?? {}, secret };
      if (opts.json) {
        out(JSON.stringify(view));
        return;
      }
      const lines: [string, string][] = [
        ['name', name],
        ['kind', `${cred.provider} ${cred.kind}`],
        ['source', cred.source],
        ['scopes', cred.scopes.join(', ') || '-'],
        ['created', cred.createdAt],
        ['expires', expiry(cred)],
        ...Object.entries(view.meta).map(([k, v]): [string, string] => [k, v]),
        ...Object.entries(secret).map(([k, v]): [string, string] => [`secret.${k}`, v]),
      ];
      for (const [k, v] of lines) out(`${pc.dim(k.padEnd(14))} ${v}`);
    });

  program
    .command('revoke')
    .description('Delete a stored credential (it stays valid at the provider; revoke it there too)')
    .argument('<name>', 'credential name (see moat grant list)')
    .action(async (name) => {
      if (!(await store().remove(validateCredentialName(name)))) {
        throw new MoatError(`No grant named "${name}".`, { code: 'E_NOT_FOUND', hint: 'moat grant list' });
      }
      out(`${pc.green('✓')} Removed ${pc.bold(name)} from moat. The token itself still works until you revoke it at the provider.`);
    });
}
