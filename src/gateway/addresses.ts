import { BlockList, isIP } from 'node:net';

/**
 * Addresses a run must not reach through the gateway unless the user names the host: this machine
 * (loopback, unspecified), its private networks (RFC 1918, carrier-grade NAT, IPv6 unique-local),
 * link-local ones (including the cloud metadata service at 169.254.169.254), and multicast/reserved
 * ranges. The gateway runs on the host, so without this check a container could ask it for
 * `http://127.0.0.1:5432/` and reach the host's own services.
 */
const INTERNAL = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16], ['172.16.0.0', 12],
  ['192.0.0.0', 24], ['192.168.0.0', 16], ['198.18.0.0', 15], ['224.0.0.0', 4], ['240.0.0.0', 4],
] as const) INTERNAL.addSubnet(net, prefix, 'ipv4');
for (const [net, prefix] of [['::', 128], ['::1', 128], ['fc00::', 7], ['fe80::', 10], ['ff00::', 8]] as const) {
  INTERNAL.addSubnet(net, prefix, 'ipv6');
}

/** Whether an IP address (v4, v6, or v4-mapped v6) is internal. Not an IP: false. */
export function isInternalAddress(address: string): boolean {
  const ip = address.startsWith('[') && address.endsWith(']') ? address.slice(1, -1) : address;
  const family = isIP(ip.split('%')[0] ?? ip);
  if (family === 0) return false;
  return INTERNAL.check(ip.split('%')[0] ?? ip, family === 6 ? 'ipv6' : 'ipv4');
}

/** A host that names this machine without DNS: an internal IP literal, `localhost` or a `*.localhost` name. */
export function isInternalHost(host: string): boolean {
  const h = host.trim().toLowerCase().replace(/\.$/, '');
  return h === 'localhost' || h.endsWith('.localhost') || isInternalAddress(h);
}

/** The error a refused connection carries (`code`), so callers can answer with a refusal, not a 502. */
export const INTERNAL_ADDRESS_CODE = 'MOAT_INTERNAL_ADDRESS';

export type InternalAddressError = Error & { code: typeof INTERNAL_ADDRESS_CODE; address: string };

export function internalAddressError(host: string, address: string): InternalAddressError {
  return Object.assign(new Error(`${host} resolves to ${address}, an address on this machine or its private network`), { code: INTERNAL_ADDRESS_CODE, address } as const);
}
