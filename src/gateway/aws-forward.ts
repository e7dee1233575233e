import type { IncomingMessage } from 'node:http';
import type { Dispatcher } from 'undici';
import type { AwsResigner } from './aws-types.js';
import type { RequestEvent } from './events.js';
import type { Target } from './target.js';

/**
 * The proxy's hook for AWS requests (only when the run has an aws grant): the client's placeholder
 * signature is checked and the request signed anew (aws-resign.ts); what to send replaces the
 * target, headers and body of the upstream request. The event gets the grant, service and region.
 */
export async function awsRequestOptions(
  aws: AwsResigner,
  req: IncomingMessage,
  t: Target,
  headers: Record<string, string | string[] | undefined>,
  body: AsyncIterable<Buffer> | null,
  ev: RequestEvent,
): Promise<Pick<Dispatcher.RequestOptions, 'path' | 'headers' | 'body'>> {
  const raw = req.url ?? '/';
  const rawTarget = raw.startsWith('/') ? raw : raw.replace(/^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?]*/, '') || '/';
  const out = await aws.resign({
    method: ev.method,
    host: t.host,
    port: t.port,
    hostHeader: req.headers.host ?? t.host,
    rawTarget,
    target: t.path,
    headers,
    body,
  });
  if (!out) return { path: t.path, headers, body: body as unknown as Dispatcher.RequestOptions['body'] };
  ev.grant = aws.grant;
  ev.aws = { service: out.service, region: out.region };
  return { path: out.target, headers: out.headers as Dispatcher.RequestOptions['headers'], body: out.body as unknown as Dispatcher.RequestOptions['body'] };
}
