import https from 'node:https';
import { MoatError } from '../errors.js';
import type { AwsKeys } from '../gateway/aws-types.js';
import type { AwsCredentialConfig } from './aws-config.js';

/**
 * The real AWS credentials, obtained on the host with AWS's SDK (loaded only here, only for an aws
 * grant): the host's default credential chain (or a profile: keys, SSO, credential_process), then
 * AssumeRole when the grant names a role. Used by `moat grant aws` to check the configuration and by
 * the daemon, the only process that holds the result.
 */

export interface AwsFetchOptions {
  /** STS endpoint override (MOAT_AWS_STS_URL; tests point it at a fake). */
  stsEndpoint?: string;
  /** Extra PEM CA for the STS endpoint (tests). */
  ca?: string;
  /** The assumed role's session name. */
  sessionName?: string;
}

export interface AwsIdentity extends AwsKeys {
  /** Who the credentials are (the assumed role's session ARN, or the profile's identity). */
  arn?: string;
}

function failure(what: string, err: unknown): MoatError {
  const e = err as { name?: string; message?: string };
  const detail = `${e.name && e.name !== 'Error' ? `${e.name}: ` : ''}${(e.message ?? String(err)).split('\n')[0]!.slice(0, 300)}`;
  return new MoatError(`Could not ${what}: ${detail}`, {
    code: 'E_CREDENTIAL',
    hint: "Check the host's AWS setup (aws sts get-caller-identity, or aws sso login --profile NAME), then run: moat grant aws …",
    cause: err,
  });
}

export async function fetchAwsCredentials(cfg: AwsCredentialConfig, opts: AwsFetchOptions = {}): Promise<AwsIdentity> {
  const { fromIni, fromNodeProviderChain } = await import('@aws-sdk/credential-providers');
  const base = cfg.profile ? fromIni({ profile: cfg.profile }) : fromNodeProviderChain();
  const { STSClient, AssumeRoleCommand, GetCallerIdentityCommand } = await import('@aws-sdk/client-sts');
  const client = new STSClient({
    region: cfg.region,
    credentials: base,
    maxAttempts: 2,
    ...(opts.stsEndpoint ? { endpoint: opts.stsEndpoint } : {}),
    ...(opts.ca ? { requestHandler: { httpsAgent: new https.Agent({ ca: opts.ca }) } } : {}),
  });
  try {
    if (!cfg.roleArn) {
      let keys;
      try {
        keys = await base();
      } catch (err) {
        throw failure(`read the AWS credentials of ${cfg.profile ? `profile ${cfg.profile}` : 'the default chain'}`, err);
      }
      const who = await client.send(new GetCallerIdentityCommand({})).catch((err: unknown) => {
        throw failure('check the AWS credentials with STS GetCallerIdentity', err);
      });
      return {
        accessKeyId: keys.accessKeyId,
        secretAccessKey: keys.secretAccessKey,
        ...(keys.sessionToken ? { sessionToken: keys.sessionToken } : {}),
        ...(keys.expiration ? { expiration: keys.expiration.toISOString() } : {}),
        ...(who.Arn ? { arn: who.Arn } : {}),
      };
    }
    const out = await client
      .send(
        new AssumeRoleCommand({
          RoleArn: cfg.roleArn,
          RoleSessionName: opts.sessionName ?? 'moat',
          DurationSeconds: cfg.durationSeconds,
          ...(cfg.externalId ? { ExternalId: cfg.externalId } : {}),
        }),
      )
      .catch((err: unknown) => {
        throw err instanceof MoatError ? err : failure(`assume the role ${cfg.roleArn!}`, err);
      });
    const c = out.Credentials;
    if (!c?.AccessKeyId || !c.SecretAccessKey)
      throw new MoatError(`STS AssumeRole for ${cfg.roleArn} returned no credentials.`, { code: 'E_CREDENTIAL', hint: 'moat grant aws --role ARN' });
    return {
      accessKeyId: c.AccessKeyId,
      secretAccessKey: c.SecretAccessKey,
      ...(c.SessionToken ? { sessionToken: c.SessionToken } : {}),
      ...(c.Expiration ? { expiration: c.Expiration.toISOString() } : {}),
      ...(out.AssumedRoleUser?.Arn ? { arn: out.AssumedRoleUser.Arn } : {}),
    };
  } finally {
    client.destroy();
  }
}
