import { MoatError } from '../errors.js';

/**
 * The configuration an aws grant stores (never a secret): which role to assume with the host's own AWS
 * credential chain, or which profile's credentials to use, and the flags' validation.
 */

export interface AwsGrantFlags {
  role?: string;
  region?: string;
  sessionDuration?: string;
  externalId?: string;
  profile?: string;
  /** Comma-separated extra endpoints (host or host:port) whose requests are re-signed too. */
  endpoint?: string;
}

/** What the daemon needs to obtain the real credentials. */
export interface AwsCredentialConfig {
  roleArn?: string;
  region: string;
  /** AssumeRole DurationSeconds (900..43200). */
  durationSeconds: number;
  externalId?: string;
  profile?: string;
}

export const DEFAULT_SESSION_SECONDS = 3600;
const ROLE_ARN_RE = /^arn:aws(?:-[a-z]+)*:iam::\d{12}:role\/[\w+=,.@/-]{1,512}$/;
const REGION_RE = /^[a-z]{2}(?:-[a-z]+)+-\d{1,2}$/;
const EXTERNAL_ID_RE = /^[\w+=,.@:/-]{2,1224}$/;
const PROFILE_RE = /^[\w.+@-]{1,128}$/;
const ENDPOINT_RE = /^(?=.{1,253}(?::\d{1,5})?$)[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)+(?::\d{1,5})?$/;

const usage = (message: string, hint: string): MoatError => new MoatError(message, { code: 'E_USAGE', hint });

/** "15m", "1h", "90m", "3600s", "3600" → seconds, within AssumeRole's 15 minutes to 12 hours. */
export function parseSessionDuration(text: string): number {
  const m = /^(\d{1,6})(s|m|h)?$/.exec(text.trim());
  const seconds = m ? Number(m[1]) * ({ s: 1, m: 60, h: 3600 } as const)[(m[2] ?? 's') as 's' | 'm' | 'h'] : NaN;
  if (!Number.isInteger(seconds) || seconds < 900 || seconds > 43_200) {
    throw usage(`Invalid --session-duration "${text.slice(0, 40)}": it must be between 15m and 12h.`, 'moat grant aws --role ARN --session-duration 1h');
  }
  return seconds;
}

function validateRoleArn(arn: string): string {
  if (!ROLE_ARN_RE.test(arn)) {
    throw usage(
      `Invalid --role "${arn.slice(0, 100)}": expected an IAM role ARN like arn:aws:iam::123456789012:role/my-role.`,
      'moat grant aws --role arn:aws:iam::123456789012:role/my-role',
    );
  }
  return arn;
}

function validateRegion(region: string): string {
  if (!REGION_RE.test(region))
    throw usage(`Invalid --region "${region.slice(0, 40)}": expected an AWS region like us-east-1.`, 'moat grant aws --role ARN --region eu-west-1');
  return region;
}

/** The flags of `moat grant aws`, checked; the region falls back to AWS_REGION, AWS_DEFAULT_REGION, us-east-1. */
export function awsConfigFromFlags(flags: AwsGrantFlags, env: NodeJS.ProcessEnv): AwsCredentialConfig & { endpoints: string[] } {
  if (!flags.role && !flags.profile) {
    throw usage(
      'moat grant aws needs a role to assume (--role ARN) or a profile whose credentials to use (--profile NAME).',
      'moat grant aws --role arn:aws:iam::123456789012:role/my-role',
    );
  }
  if (!flags.role && (flags.sessionDuration !== undefined || flags.externalId !== undefined)) {
    throw usage('--session-duration and --external-id apply to an assumed role: add --role ARN.', 'moat grant aws --role ARN --session-duration 1h');
  }
  const region = validateRegion(flags.region ?? (env.AWS_REGION || env.AWS_DEFAULT_REGION || 'us-east-1'));
  if (flags.externalId !== undefined && !EXTERNAL_ID_RE.test(flags.externalId))
    throw usage('Invalid --external-id: 2 to 1224 letters, digits or +=,.@:/-_.', 'moat grant aws --role ARN --external-id ID');
  if (flags.profile !== undefined && !PROFILE_RE.test(flags.profile))
    throw usage(`Invalid --profile "${flags.profile.slice(0, 40)}".`, 'moat grant aws --profile NAME (a profile of ~/.aws/config)');
  const endpoints = (flags.endpoint ?? '')
    .split(',')
    .map((e) => e.trim().toLowerCase())
    .filter(Boolean);
  for (const e of endpoints)
    if (!ENDPOINT_RE.test(e))
      throw usage(`Invalid --endpoint "${e.slice(0, 100)}": write a host name or host:port.`, 'moat grant aws --role ARN --endpoint s3.corp.example');
  return {
    ...(flags.role ? { roleArn: validateRoleArn(flags.role) } : {}),
    region,
    durationSeconds: flags.sessionDuration !== undefined ? parseSessionDuration(flags.sessionDuration) : DEFAULT_SESSION_SECONDS,
    ...(flags.externalId ? { externalId: flags.externalId } : {}),
    ...(flags.profile ? { profile: flags.profile } : {}),
    endpoints,
  };
}
