import { readFileSync } from 'node:fs';
import https from 'node:https';
import tls from 'node:tls';
import { MoatError } from '../../../errors.js';
import type { ProviderFile } from './schema.js';

/**
 * A provider file's `validate`: one HTTPS request to one of its own hosts, the token placed as the file
 * says, redirects never followed, the status compared with the expected one. Only the status is read.
 */

/** Test only (MOAT_TESTING=1): the gateway's own MOAT_TEST_UPSTREAMS / MOAT_TEST_UPSTREAM_CA override. */
function testTarget(host: string, env: NodeJS.ProcessEnv): { host: string; port: number; ca?: string } | undefined {
  if (env.MOAT_TESTING !== '1' || !env.MOAT_TEST_UPSTREAMS) return undefined;
  for (const part of env.MOAT_TEST_UPSTREAMS.split(',')) {
    const m = /^([^=]+)=([^:]+):(\d+)$/.exec(part.trim());
    if (m?.[1]?.toLowerCase() !== host.toLowerCase() || !m[2] || !m[3]) continue;
    const caText = env.MOAT_TEST_UPSTREAM_CA;
    const ca = caText ? (caText.includes('BEGIN CERTIFICATE') ? caText : readFileSync(caText, 'utf8')) : undefined;
    return { host: m[2], port: Number(m[3]), ...(ca ? { ca } : {}) };
  }
  return undefined;
}

export function checkHost(file: ProviderFile): string {
  return file.validate?.host ?? file.hosts.find((h) => !h.startsWith('*.')) ?? file.hosts[0]!;
}

function checkHeaders(file: ProviderFile, token: string): Record<string, string> {
  const templates = file.validate?.headers ?? ('header' in file.inject ? { [file.inject.header]: file.inject.format } : {});
  return Object.fromEntries(Object.entries(templates).map(([k, v]) => [k, v.replaceAll('{token}', token)]));
}

export async function checkToken(name: string, file: ProviderFile, token: string, env: NodeJS.ProcessEnv, timeoutMs = 15_000): Promise<number> {
  const v = file.validate;
  if (!v) return 0;
  const authority = checkHost(file);
  const [host, portText] = authority.split(':') as [string, string | undefined];
  const port = portText ? Number(portText) : 443;
  const test = testTarget(host, env) ?? testTarget(authority, env);
  const body = v.body !== undefined ? Buffer.from(v.body, 'utf8') : undefined;
  const headers: Record<string, string> = {
    host: authority,
    'user-agent': 'moat',
    accept: 'application/json',
    ...checkHeaders(file, token),
    ...(body ? { 'content-type': 'application/json', 'content-length': String(body.length) } : {}),
  };
  const fix = `moat grant ${name} --no-validate   (to store it unchecked)`;
  const status = await new Promise<number>((resolve, reject) => {
    const req = https.request({
      host: test?.host ?? host,
      port: test?.port ?? port,
      servername: host,
      method: v.method,
      path: v.path,
      headers,
      timeout: timeoutMs,
      ...(test?.ca ? { ca: [test.ca, ...tls.rootCertificates] } : {}),
    });
    req.once('response', (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.once('timeout', () => {
      const timedOut: NodeJS.ErrnoException = new Error('timed out');
      timedOut.code = 'ETIMEDOUT';
      req.destroy(timedOut);
    });
    req.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        new MoatError(`Could not reach ${authority} to check the ${name} token: ${err.code ?? err.message}.`, {
          code: 'E_NETWORK',
          hint: `Check your network, or: ${fix}`,
        }),
      ),
    );
    req.end(body);
  });
  if (status === v.status) return status;
  if (status === 401 || status === 403)
    throw new MoatError(`${authority} rejected the ${name} token (HTTP ${status} to ${v.method} ${v.path}): it is wrong, expired or lacks a scope.`, {
      code: 'E_CREDENTIAL',
      hint: `Create a new token and run: moat grant ${name}`,
    });
  throw new MoatError(`${authority} answered HTTP ${status} to ${v.method} ${v.path}, where the provider file expects ${v.status}.`, {
    code: 'E_CREDENTIAL',
    hint: `Fix validate in the provider file, or: ${fix}`,
  });
}
