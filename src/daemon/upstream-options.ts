import type { GlobalConfig } from '../config/schema.js';
import type { ProxyOptions } from '../gateway/proxy.js';
import type { UpstreamAddress } from '../gateway/upstream.js';
import { parseTestUpstreams } from './test-upstreams.js';

/** How a gateway reaches upstreams: the host's extra CAs, the corporate proxy, and (tests only) overrides. */
export type UpstreamOptions = Pick<ProxyOptions, 'extraCAs' | 'upstreamProxy' | 'upstreamOverride' | 'upstreamOverrideCA'>;

export function upstreamOptions(env: NodeJS.ProcessEnv, global: GlobalConfig, extraCAs: string[]): UpstreamOptions {
  const upstreamProxy = global.proxy?.upstream ?? env.HTTPS_PROXY ?? env.https_proxy;
  const testing = parseTestUpstreams(env);
  return {
    extraCAs,
    ...(upstreamProxy ? { upstreamProxy } : {}),
    ...(testing ? { upstreamOverride: testing.map as Map<string, UpstreamAddress>, ...(testing.ca ? { upstreamOverrideCA: testing.ca } : {}) } : {}),
  };
}
