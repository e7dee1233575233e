import { Agent } from 'node:https';
import { readFileSync } from 'node:fs';
import { MoatError } from '../../errors.js';
import type { SecretReference } from '../../secret-reference.js';

/**
 * `ssm://[REGION]/name`: GetParameter (decrypted) through AWS's own SDK, with the user's default credential
 * chain and region. The SDK loads only when a run has an ssm:// secret. The SDK's failures are mapped to
 * the command that fixes them; their text never holds a value.
 */

type SsmRef = Extract<SecretReference, { scheme: 'ssm' }>;

/** Test only (MOAT_TESTING=1): MOAT_TEST_SSM_ENDPOINT=https://127.0.0.1:PORT and MOAT_TEST_SSM_CA=<PEM file>. */
export function testSsmEndpoint(env: NodeJS.ProcessEnv): { endpoint: string; ca?: string } | undefined {
  if (env.MOAT_TESTING !== '1' || !env.MOAT_TEST_SSM_ENDPOINT) return undefined;
  const ca = env.MOAT_TEST_SSM_CA;
  return { endpoint: env.MOAT_TEST_SSM_ENDPOINT, ...(ca ? { ca: ca.includes('BEGIN CERTIFICATE') ? ca : readFileSync(ca, 'utf8') } : {}) };
}

const nameOf = (err: unknown): string => (err && typeof err === 'object' && 'name' in err ? String((err as { name: unknown }).name) : '');
const messageOf = (err: unknown): string => (err instanceof Error ? err.message : String(err));
const codeOf = (err: unknown): string => (err && typeof err === 'object' && 'code' in err ? String((err as { code: unknown }).code) : '');

function noRegion(name: string, r: SsmRef): MoatError {
  return new MoatError(`The secret ${name} (${r.ref}) cannot be read: no AWS region is set.`, {
    code: 'E_CONFIG',
    hint: `export AWS_REGION=eu-west-1   (or name it in moat.yaml: ssm://eu-west-1${r.name})`,
  });
}

function ssmError(name: string, r: SsmRef, err: unknown): MoatError {
  const what = `The secret ${name} (${r.ref})`;
  const region = r.region ? ` --region ${r.region}` : '';
  const errName = nameOf(err);
  const msg = messageOf(err);
  if (errName === 'ParameterNotFound' || errName === 'ParameterVersionNotFound') {
    return new MoatError(`${what} cannot be read: SSM has no parameter ${r.name}${r.region ? ` in ${r.region}` : ' in your default region'}.`, {
      code: 'E_NOT_FOUND',
      hint: `aws ssm describe-parameters${region} --parameter-filters Key=Name,Option=BeginsWith,Values=${r.name.split('/').slice(0, -1).join('/') || '/'}`,
    });
  }
  if (errName === 'AccessDeniedException' || /not authorized to perform|AccessDenied/i.test(errName)) {
    return new MoatError(`${what} cannot be read: your AWS identity may not read this parameter (ssm:GetParameter, and kms:Decrypt for a SecureString).`, {
      code: 'E_CREDENTIAL',
      hint: `aws sts get-caller-identity   (then ask for ssm:GetParameter on ${r.name})`,
    });
  }
  if (/^(ExpiredToken|ExpiredTokenException|RequestExpired|TokenRefreshRequired)$/.test(errName)) {
    return new MoatError(`${what} cannot be read: your AWS credentials have expired.`, {
      code: 'E_CREDENTIAL',
      hint: 'aws sso login   (or refresh the keys in ~/.aws/credentials)',
    });
  }
  if (errName === 'UnrecognizedClientException' || errName === 'InvalidSignatureException' || errName === 'InvalidClientTokenId') {
    return new MoatError(`${what} cannot be read: AWS does not accept your credentials (${errName}).`, {
      code: 'E_CREDENTIAL',
      hint: 'aws sts get-caller-identity   (then: aws configure, or aws sso login)',
    });
  }
  if (errName === 'CredentialsProviderError') {
    return new MoatError(`${what} cannot be read: no AWS credentials were found.`, {
      code: 'E_CREDENTIAL',
      hint: 'aws configure   (or aws sso login, or export AWS_PROFILE=…)',
    });
  }
  const code = codeOf(err);
  if (/^(ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|ECONNRESET)$/.test(code) || errName === 'TimeoutError') {
    return new MoatError(`${what} cannot be read: AWS SSM could not be reached (${code || errName}).`, {
      code: 'E_NETWORK',
      hint: 'Check your network, then run again.',
    });
  }
  return new MoatError(`${what} cannot be read: ${errName || 'error'}: ${msg.slice(0, 300)}`, {
    code: 'E_CREDENTIAL',
    hint: `aws ssm get-parameter --with-decryption${region} --name ${r.name} --query Parameter.ARN`,
  });
}

export async function readSsm(name: string, r: SsmRef, env: NodeJS.ProcessEnv): Promise<string> {
  const { SSMClient, GetParameterCommand } = await import('@aws-sdk/client-ssm');
  const test = testSsmEndpoint(env);
  const client = new SSMClient({
    ...(r.region ? { region: r.region } : {}),
    maxAttempts: 2,
    ...(test ? { endpoint: test.endpoint, ...(test.ca ? { requestHandler: { httpsAgent: new Agent({ ca: test.ca }) } } : {}) } : {}),
  });
  try {
    // The region is settled before the call: the SDK's own "region is missing" is only a message.
    const region = await client.config.region().catch(() => undefined);
    if (!region) throw noRegion(name, r);
    const out = await client.send(new GetParameterCommand({ Name: r.name, WithDecryption: true }));
    const value = out.Parameter?.Value;
    if (value === undefined || value === '')
      throw new MoatError(`The secret ${name} (${r.ref}) is empty in SSM.`, { code: 'E_CREDENTIAL', hint: `aws ssm get-parameter --name ${r.name}` });
    return value;
  } catch (err) {
    if (err instanceof MoatError) throw err;
    throw ssmError(name, r, err);
  } finally {
    client.destroy();
  }
}
