import { MoatError } from '../../errors.js';
import { type AwsCredentialConfig, awsConfigFromFlags, DEFAULT_SESSION_SECONDS } from '../aws-config.js';
import type { AwsGrantConfig, Placeholders, Provider, StoredCredential } from '../types.js';
import { randomBase62, randomFrom } from './shared.js';

/**
 * AWS, without the container ever holding AWS credentials: the grant stores configuration (a role to
 * assume with the host's own credential chain, or a profile) and a placeholder key pair. The container
 * signs with the placeholder; the gateway checks that signature and signs again with the real
 * credentials, which only the daemon obtains (and refreshes).
 */

const UPPER = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** A placeholder shaped like an STS session: ASIA + 16, a 40-character secret, a long token. */
function awsPlaceholder(): { accessKeyId: string; secretAccessKey: string; sessionToken: string } {
  return {
    accessKeyId: `ASIA${randomFrom(UPPER, 16)}`,
    secretAccessKey: randomBase62(40),
    sessionToken: `IQoJb3JpZ2luX2Vj${randomBase62(340)}`,
  };
}

/** The stored configuration back as the daemon needs it. */
function awsCredentialConfig(cred: StoredCredential): AwsCredentialConfig {
  const m = cred.meta ?? {};
  return {
    ...(m.roleArn ? { roleArn: m.roleArn } : {}),
    region: m.region ?? 'us-east-1',
    durationSeconds: Number(m.sessionSeconds) || DEFAULT_SESSION_SECONDS,
    ...(m.externalId ? { externalId: m.externalId } : {}),
    ...(m.profile ? { profile: m.profile } : {}),
  };
}

function placeholderOf(cred: StoredCredential): { accessKeyId: string; secretAccessKey: string; sessionToken: string } {
  const { placeholderAccessKeyId: accessKeyId, placeholderSecretAccessKey: secretAccessKey, placeholderSessionToken: sessionToken } = cred.secret;
  if (!accessKeyId || !secretAccessKey || !sessionToken)
    throw new MoatError('The aws grant has no placeholder keys.', { code: 'E_CREDENTIAL', hint: 'moat grant aws --role ARN (or --profile NAME)' });
  return { accessKeyId, secretAccessKey, sessionToken };
}

export const aws: Provider = {
  name: 'aws',
  description: 'AWS: a role assumed (or a profile used) on the host; the gateway re-signs requests',
  envVars: [],
  api: { envVar: 'MOAT_AWS_STS_URL', defaultUrl: '' },

  async grant(ctx) {
    const cfg = awsConfigFromFlags(ctx.aws ?? {}, ctx.env);
    const meta: Record<string, string> = { region: cfg.region };
    if (cfg.roleArn) {
      meta.roleArn = cfg.roleArn;
      meta.sessionSeconds = String(cfg.durationSeconds);
    }
    if (cfg.externalId) meta.externalId = cfg.externalId;
    if (cfg.profile) meta.profile = cfg.profile;
    if (cfg.endpoints.length > 0) meta.endpoints = cfg.endpoints.join(',');
    const p = awsPlaceholder();
    return {
      provider: 'aws',
      kind: cfg.roleArn ? 'role' : 'profile',
      // Only the container's placeholder keys: the real credentials are obtained by the daemon at run time.
      secret: { placeholderAccessKeyId: p.accessKeyId, placeholderSecretAccessKey: p.secretAccessKey, placeholderSessionToken: p.sessionToken },
      source: cfg.profile ? `profile ${cfg.profile}` : 'the default AWS credential chain',
      meta,
    };
  },

  async validate(cred, opts) {
    const { fetchAwsCredentials } = await import('../aws-credentials.js');
    const cfg = awsCredentialConfig(cred);
    // A short test session: the role exists, trusts these credentials, and accepts the duration.
    const id = await fetchAwsCredentials(cfg, { ...(opts.baseUrl ? { stsEndpoint: opts.baseUrl } : {}), sessionName: 'moat-grant-check' });
    return {
      ...(id.arn ? { meta: { identity: id.arn } } : {}),
      summary: cfg.roleArn
        ? `assumed ${cfg.roleArn}${id.arn ? ` (${id.arn})` : ''}`
        : `credentials of ${cfg.profile ? `profile ${cfg.profile}` : 'the default chain'}${id.arn ? ` (${id.arn})` : ''}`,
    };
  },

  injections: () => [],

  placeholder(cred): Placeholders {
    const p = placeholderOf(cred);
    const region = cred.meta?.region ?? 'us-east-1';
    return {
      env: {
        AWS_ACCESS_KEY_ID: p.accessKeyId,
        AWS_SECRET_ACCESS_KEY: p.secretAccessKey,
        AWS_SESSION_TOKEN: p.sessionToken,
        AWS_REGION: region,
        AWS_DEFAULT_REGION: region,
      },
      files: [],
    };
  },

  awsSigning(cred): AwsGrantConfig {
    return {
      grant: cred.provider,
      placeholder: placeholderOf(cred),
      credentials: awsCredentialConfig(cred),
      endpoints: (cred.meta?.endpoints ?? '').split(',').filter(Boolean),
    };
  },
};
