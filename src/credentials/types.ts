/**
 * Plain-data contracts of the credentials layer. The gateway consumes `HeaderInjection`; the run
 * layer consumes `Placeholders`. Nothing here holds behaviour.
 */

// The gateway's plain-data contracts, produced here and applied by the proxy: one definition each.
import type { HeaderInjection, LocalResponse } from '../gateway/index.js';
import type { SecretSubstitution } from '../gateway/secret-substitution.js';
import type { AwsGrantFlags, AwsCredentialConfig } from './aws-config.js';
export type { HeaderInjection, LocalResponse };

/** An aws grant as the daemon needs it: the container's placeholder keys and how to get the real ones. */
export interface AwsGrantConfig {
  grant: string;
  placeholder: { accessKeyId: string; secretAccessKey: string; sessionToken: string };
  credentials: AwsCredentialConfig;
  /** Extra endpoints (host or host:port) re-signed besides *.amazonaws.com[.cn]. */
  endpoints: string[];
}

/** The decrypted payload of `<home>/credentials/<name>.enc`. */
export interface StoredCredential {
  provider: string;
  /** Provider-specific: 'token', 'api-key', 'oauth', 'chatgpt'. */
  kind: string;
  /** The only place secrets live. Every value is treated as secret (redacted, never logged). */
  secret: Record<string, string>;
  /** Scope suffixes from grant names (`github:repo` → ['repo']). */
  scopes: string[];
  /** ISO-8601; absent when the credential does not expire (as far as we know). */
  expiresAt?: string;
  createdAt: string;
  /** Where the secret came from: 'stdin', 'prompt', 'env:GITHUB_TOKEN', 'gh auth token', 'import:<path>'. */
  source: string;
  /** Non-secret facts (login, account id, plan type, last refresh). */
  meta?: Record<string, string>;
}

export interface PlaceholderFile {
  /** Relative to the container user's HOME. */
  path: string;
  content: string;
  mode: number;
}

/** What the container sees in place of the real credential. Random per call, never derived from a secret. */
export interface Placeholders {
  env: Record<string, string>;
  files: PlaceholderFile[];
}

/** Everything a grant flow may touch, passed in so tests can fake each piece. */
export interface GrantContext {
  env: NodeJS.ProcessEnv;
  /** The host user's home (for ~/.claude, ~/.codex, ~/.npmrc). */
  hostHome: string;
  isTTY: boolean;
  tokenStdin: boolean;
  /** `--import`: take the host's existing login of the provider's own CLI. */
  import: boolean;
  /** `moat grant aws` flags (--role, --region, --session-duration, --external-id, --profile, --endpoint). */
  aws?: AwsGrantFlags;
  /** Read all of stdin, trimmed. */
  readStdin(): Promise<string>;
  /** Hidden input prompt (TTY only). Rejects with ExitPromptError on Ctrl-C. */
  promptSecret(message: string): Promise<string>;
  /** A choice prompt (TTY only). */
  choose<T extends string>(message: string, choices: { value: T; name: string }[]): Promise<T>;
  /** Run a command and capture stdout; undefined when it is missing or fails. */
  capture(cmd: string, args: string[]): Promise<string | undefined>;
  /** Run a command attached to the terminal; resolves its exit code (undefined when missing). */
  runAttached(cmd: string, args: string[]): Promise<number | undefined>;
  /** Progress and notes for the user (stderr). Never pass a secret. */
  log(message: string): void;
  now(): Date;
}

/** A grant flow's result: the credential minus what the store fills in. */
export type GrantedSecret = Omit<StoredCredential, 'createdAt' | 'scopes'>;

export interface HttpOptions {
  baseUrl: string;
  fetch?: typeof fetch;
  timeoutMs?: number;
  /** The environment of the grant (test-only overrides are read from it). */
  env?: NodeJS.ProcessEnv;
}

export interface ValidationResult {
  /** Non-secret facts learned from the provider (login, account). */
  meta?: Record<string, string>;
  /** One line for the user, e.g. "authenticated as octocat". */
  summary?: string;
}

export interface Provider {
  name: string;
  description: string;
  /** Environment variables the grant flow reads the secret from. */
  envVars: string[];
  /** Env var overriding the validation API's base URL, and its default. */
  api: { envVar: string; defaultUrl: string };
  grant(ctx: GrantContext): Promise<GrantedSecret>;
  /** Throws MoatError when the provider rejects the credential. */
  validate(cred: StoredCredential, opts: HttpOptions): Promise<ValidationResult>;
  injections(cred: StoredCredential): HeaderInjection[];
  /** Placeholders the gateway replaces with the real value wherever they appear (provider files' `substitute: true`). */
  substitutions?(cred: StoredCredential): SecretSubstitution[];
  placeholder(cred: StoredCredential): Placeholders;
  /** Throws MoatError when the stored grant no longer matches what the user approved (a provider file edited since). */
  checkGrant?(cred: StoredCredential): void;
  /** Requests of the container the gateway answers itself (never forwarded); none when absent. */
  localResponses?(cred: StoredCredential): LocalResponse[];
  /**
   * Renew an expiring credential on the host (the daemon calls it too). Resolves undefined when this
   * credential cannot be refreshed (no refresh token); throws MoatError when the provider refuses.
   */
  refresh?(cred: StoredCredential, opts: HttpOptions & { now?: Date }): Promise<StoredCredential | undefined>;
  /** AWS: requests the gateway re-signs instead of injecting a header (credentials obtained by the daemon). */
  awsSigning?(cred: StoredCredential): AwsGrantConfig;
  /** Env var overriding the refresh endpoint, and its default. */
  auth?: { envVar: string; defaultUrl: string };
}
