import type { Command } from '@commander-js/extra-typings';
import pc from 'picocolors';
import { MoatError } from '../errors.js';
import { example } from './help.js';
import { renderTable, type Cell } from '../term/table.js';
import { relativeTime } from '../term/time.js';
import { textFor } from '../term/sanitize.js';
import type { MoatHome } from '../home/paths.js';
import { createGrantContext, isPromptExit } from '../credentials/context.js';
import { grantCredential } from '../credentials/grant.js';
import { parseGrantName } from '../credentials/providers/index.js';
import { builtinProviderNames, loadProviders } from '../credentials/providers/registry.js';
import { providersAction } from './grant-providers.js';
import { CredentialStore, validateCredentialName, type CredentialListEntry } from '../credentials/store.js';
import type { GrantContext, StoredCredential } from '../credentials/types.js';
import type { AwsGrantFlags } from '../credentials/aws-config.js';
import { didYouMean } from '../suggest.js';
import { sshGrantAction } from './grant-ssh.js';
import { displayGrantName, storeNameOf } from '../credentials/providers/ssh.js';

/** `moat grant <provider>`, `moat grant list`, `moat grant show <name>`, `moat revoke <name>`. */

export interface GrantCommandContext {
  home: MoatHome;
  /** Test seams; default to the real process. */
  store?: CredentialStore;
  grantContext?: (opts: { tokenStdin: boolean; import: boolean; aws?: AwsGrantFlags }) => GrantContext;
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

/** The same, as a listing says it: "never", "in 3 days", "expired 2 h ago". */
function expiryCell(cred: StoredCredential, now = Date.now()): Cell {
  if (!cred.expiresAt) return 'never';
  const when = relativeTime(cred.expiresAt, now);
  return Date.parse(cred.expiresAt) <= now ? { text: `expired ${when}`, paint: pc.red } : when;
}

function listRow(entry: CredentialListEntry): Record<string, unknown> {
  if (entry.status === 'corrupt') return { name: displayGrantName(entry.name), status: 'corrupt', error: entry.error, fix: entry.fix };
  const c = entry.credential;
  return {
    name: displayGrantName(entry.name),
    ...(c.provider === 'ssh' ? { fingerprint: c.meta?.fingerprint ?? null } : {}),
    status: 'ok',
    provider: c.provider,
    kind: c.kind,
    source: c.source,
    scopes: c.scopes,
    createdAt: c.createdAt,
    expiresAt: c.expiresAt ?? null,
  };
}

/** The aws flags given (undefined ones left out). */
function awsFlags(opts: { role?: string; profile?: string; region?: string; sessionDuration?: string; externalId?: string; endpoint?: string }): AwsGrantFlags {
  const out: AwsGrantFlags = {};
  for (const k of ['role', 'profile', 'region', 'sessionDuration', 'externalId', 'endpoint'] as const) if (opts[k] !== undefined) out[k] = opts[k];
  return out;
}

export function registerGrantCommands(program: Command, ctx: GrantCommandContext): void {
  const store = (): CredentialStore => ctx.store ?? new CredentialStore(ctx.home);
  const out = (s: string): void => void (ctx.stdout ?? process.stdout).write(`${s}\n`);
  const err = (s: string): void => void (ctx.stderr ?? process.stderr).write(`${s}\n`);
  /** `No grant named "githb"`, with the stored name it is likely a typo of. */
  const noGrant = async (name: string, template: string, fallback: string): Promise<MoatError> => {
    const stored = (await store().list()).map((e) => displayGrantName(e.name));
    return new MoatError(`No grant named "${name}".`, { code: 'E_NOT_FOUND', hint: didYouMean(name, stored, template) ?? fallback });
  };

  const grant = program
    .command('grant')
    .description(
      `Store a credential once; runs get it injected by the gateway (providers: ${builtinProviderNames().join(', ')}, and your own: moat grant providers)`,
    )
    .argument('[provider]', 'provider, optionally with a scope suffix (github:repo)')
    .option('--token-stdin', 'read the token from stdin (scripts, CI)')
    .option('--no-validate', 'save without checking the credential with the provider')
    .option('--import', "import the host's existing login (Claude Code, Codex, .npmrc)")
    .option('--host <host>', 'ssh: the host whose SSH connections the key may sign for')
    .option('--key <path>', "ssh: the key (its .pub file) the agent holds for it (default: the agent's first key)")
    .option('--role <arn>', 'aws: the IAM role to assume with your AWS credentials')
    .option('--profile <name>', 'aws: the profile whose credentials to use (or to assume --role with)')
    .option('--region <region>', 'aws: the region (default: AWS_REGION, else us-east-1)')
    .option('--session-duration <duration>', 'aws: the assumed role session length, 15m to 12h (default 1h)')
    .option('--external-id <id>', "aws: the role's external id")
    .option('--endpoint <hosts>', 'aws: extra endpoints to re-sign (comma-separated host or host:port)')
    .action(async (spec, opts) => {
      if (spec?.trim().toLowerCase() === 'ssh' || opts.host !== undefined || opts.key !== undefined) {
        const gctx = (ctx.grantContext ?? createGrantContext)({ tokenStdin: false, import: false });
        await sshGrantAction(spec, opts, { store: store(), out, err, gctx });
        return;
      }
      if (!spec) {
        throw new MoatError(`Name a provider to grant: ${(await loadProviders(ctx.home)).names().join(', ')}.`, {
          code: 'E_USAGE',
          hint: 'moat grant github   (or: moat grant list)',
        });
      }
      const provider = (await loadProviders(ctx.home)).get(parseGrantName(spec).provider);
      const aws = awsFlags(opts);
      if (provider.name !== 'aws' && Object.keys(aws).length > 0) {
        throw new MoatError(`--${Object.keys(aws)[0]!.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} applies only to moat grant aws.`, {
          code: 'E_USAGE',
          hint: `moat grant ${provider.name}`,
        });
      }
      const gctx = (ctx.grantContext ?? createGrantContext)({
        tokenStdin: opts.tokenStdin === true,
        import: opts.import === true,
        ...(provider.name === 'aws' ? { aws } : {}),
      });
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
  example(grant, [
    'moat grant github',
    'moat grant claude --import',
    'moat grant ssh --host github.com --key ~/.ssh/id_ed25519',
    'printf %s "$NPM_TOKEN" | moat grant npm --token-stdin',
    'moat grant aws --role arn:aws:iam::123456789012:role/agent --session-duration 1h',
  ]);

  const list = grant
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
        out(`No grants yet. Add one with: moat grant <provider> (${builtinProviderNames().join(', ')}; moat grant providers lists them)`);
        return;
      }
      const now = Date.now();
      const rows = entries.map((e): Cell[] =>
        e.status === 'corrupt'
          ? [displayGrantName(e.name), { text: 'corrupt', paint: pc.red }, e.error, '', `fix: ${e.fix}`]
          : [
              displayGrantName(e.name),
              e.credential.kind,
              e.credential.provider === 'ssh' ? `ssh-agent ${e.credential.meta?.fingerprint ?? '?'}` : e.credential.source,
              e.credential.scopes.join(',') || '-',
              relativeTime(e.credential.createdAt, now),
              expiryCell(e.credential, now),
            ],
      );
      (ctx.stdout ?? process.stdout).write(
        renderTable(['NAME', 'KIND', 'SOURCE', { header: 'SCOPES', max: 40 }, 'CREATED', { header: 'EXPIRES', max: 60 }], rows, {
          safe: textFor((ctx.stdout ?? process.stdout) as NodeJS.WriteStream),
        }),
      );
    });

  example(list, ['moat grant list', 'moat grant list --json']);
  const providersCmd = grant
    .command('providers')
    .description('List the providers moat grant knows: built-in, and your own files in ~/.moat/providers/NAME.yaml')
    .option('--json', 'print one JSON object on stdout')
    .action(providersAction({ home: ctx.home, out, ...(ctx.stdout ? { stdout: ctx.stdout } : {}) }));
  example(providersCmd, ['moat grant providers', 'moat grant providers --json']);

  const show = grant
    .command('show')
    .description('Show one credential, secrets redacted')
    .argument('<name>', 'credential name (see moat grant list)')
    .option('--json', 'print one JSON object on stdout')
    .action(async (name, opts) => {
      const cred = await store().get(validateCredentialName(storeNameOf(name)));
      if (!cred) throw await noGrant(name, 'moat grant show {}', `moat grant ${name}`);
      const secret = Object.fromEntries(Object.entries(cred.secret).map(([k, v]) => [k, redact(v)]));
      const view = {
        name,
        provider: cred.provider,
        kind: cred.kind,
        source: cred.source,
        scopes: cred.scopes,
        createdAt: cred.createdAt,
        expiresAt: cred.expiresAt ?? null,
        meta: cred.meta ?? {},
        secret,
      };
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
  example(show, ['moat grant show github']);

  const revoke = program
    .command('revoke')
    .description('Delete a stored credential (it stays valid at the provider; revoke it there too)')
    .argument('<name>', 'credential name (see moat grant list)')
    .action(async (name) => {
      if (!(await store().remove(validateCredentialName(storeNameOf(name))))) {
        throw await noGrant(name, 'moat revoke {}', 'moat grant list');
      }
      out(`${pc.green('✓')} Removed ${pc.bold(name)} from moat. The token itself still works until you revoke it at the provider.`);
    });
  example(revoke, ['moat revoke github']);
}
