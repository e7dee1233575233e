export { type CA, createCA, loadOrCreateCA, parseCA, CA_CERT_FILE, CA_KEY_FILE } from './ca.js';
export { createRoutingCA, loadOrCreateRoutingCA, ROUTING_CA_NAME } from './routing-ca.js';
export { issueLeaf, LeafCache, type LeafPem } from './leaf.js';
export { compilePolicy, validatePattern, validatePolicy, parsePathRule, globToRegex, type PolicyData, type Decision, type CompiledPolicy } from './policy.js';
export { type HeaderInjection, compileInjections, applyInjection, createRedactor, redact } from './injection.js';
export { type LocalResponse, compileLocalResponses } from './local-response.js';
export { createProxy, type ProxyOptions, type GatewayProxy, type ProxyTimeouts } from './proxy.js';
export type { GatewayEvent, RequestEvent, ConnectEvent, TlsErrorEvent, ClientErrorEvent } from './events.js';
export type { UpstreamAddress } from './upstream.js';
