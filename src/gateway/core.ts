import type { AwsResigner } from './aws-types.js';
import type { GatewayEvent } from './events.js';
import type { Injector } from './injection.js';
import type { Substituter } from './secret-substitution.js';
import type { Scrubber } from './response-scrub.js';
import type { LocalResponder } from './local-response.js';
import type { CompiledPolicy } from './policy.js';
import type { TargetOptions } from './target.js';
import type { Upstream } from './upstream.js';

/** What the per-request handlers share. */
export interface ProxyCore {
  policy: CompiledPolicy;
  injector: Injector;
  /** Requests answered by the proxy itself (never sent upstream). */
  responder: LocalResponder;
  /** The run's `secrets:` placeholders and where their values may go. */
  secrets: Substituter;
  /** Real values an upstream may echo back, and the placeholders the container gets instead. */
  scrub: Scrubber;
  upstream: Upstream;
  /** Checks and re-signs AWS requests (runs with an aws grant only). */
  aws?: AwsResigner;
  emit(ev: GatewayEvent): void;
  /** Record headers and up to this many bytes of each body in request events (0/undefined: off). */
  traceBodies?: number;
}

export function elapsedMs(start: bigint): number {
  return Math.round(Number(process.hrtime.bigint() - start) / 1e4) / 100;
}

/**
 * How a request's target is read, the same for plain requests and WebSocket upgrades: AWS hosts keep `//`
 * in the path (S3 keys `a//b` and `a/b` differ); the policy decides on every reading of it (paths.ts).
 */
export function targetOptions(core: ProxyCore): TargetOptions {
  return { keepEmptySegments: (host, port) => core.aws?.matches(host, port) === true };
}
