/**
 * The routing CA: what signs the router's certificates for `https://NAME.RUN.localhost:PORT/`. It is not
 * the interception CA that containers trust (ca.ts): a user who adds the routing CA to a browser trusts a
 * key that can only name loopback. Its certificate carries critical X.509 Name Constraints (permitted:
 * DNS `localhost` and `.localhost`, IP 127.0.0.0/8 and ::1/128), so a certificate it signs for any other
 * name (example.com, a bank) fails verification in every client that honours RFC 5280 (OpenSSL, NSS,
 * Chromium, Apple's), and an extended key usage of serverAuth only. Per home, in its own folder
 * (`~/.moat/routing-ca/`, key 0600): only the daemon loads the key; it is never mounted into a run.
 */
import { createCA, loadOrCreateCA, type CA } from './ca.js';
import { x509 } from './x509.js';

import { ROUTING_CA_NAME } from './ca-names.js';
export { ROUTING_CA_NAME };
/** id-ce-nameConstraints (RFC 5280 4.2.1.10). */
const NAME_CONSTRAINTS_OID = '2.5.29.30';

/** The names the routing CA may certify. */
export const ROUTING_PERMITTED = {
  dns: ['localhost', '.localhost'],
  /** Address and mask, as the extension encodes them. */
  ip: [
    { address: [127, 0, 0, 0], mask: [255, 0, 0, 0] },
    { address: [...Array<number>(15).fill(0), 1], mask: Array<number>(16).fill(255) },
  ],
} as const;

/** One DER element: tag, definite length, contents. */
function der(tag: number, body: Uint8Array): Uint8Array {
  const n = body.length;
  const len = n < 0x80 ? [n] : n < 0x100 ? [0x81, n] : [0x82, n >> 8, n & 0xff];
  return Uint8Array.from([tag, ...len, ...body]);
}

const concat = (parts: readonly Uint8Array[]): Uint8Array => Uint8Array.from(parts.flatMap((p) => [...p]));

/**
 * NameConstraints ::= SEQUENCE { permittedSubtrees [0] GeneralSubtrees } with each GeneralSubtree a
 * SEQUENCE holding only its base GeneralName: dNSName [2] IA5String, iPAddress [7] OCTET STRING (address
 * then mask), both implicitly tagged.
 */
export function nameConstraintsDer(p: typeof ROUTING_PERMITTED = ROUTING_PERMITTED): Uint8Array {
  const subtrees = [
    ...p.dns.map((d) => der(0x30, der(0x82, new TextEncoder().encode(d)))),
    ...p.ip.map((r) => der(0x30, der(0x87, Uint8Array.from([...r.address, ...r.mask])))),
  ];
  return der(0x30, der(0xa0, concat(subtrees)));
}

/** A fresh routing CA: ECDSA P-256, 10 years, path length 0, name-constrained to loopback, serverAuth only. */
export function createRoutingCA(now = new Date()): Promise<CA> {
  return createCA(ROUTING_CA_NAME, now, [
    new x509.Extension(NAME_CONSTRAINTS_OID, true, nameConstraintsDer()),
    new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
  ]);
}

/** `<dir>/ca.pem` + `<dir>/ca.key` (0600), created on first use under a cross-process lock. */
export function loadOrCreateRoutingCA(dir: string): Promise<CA> {
  return loadOrCreateCA(dir, () => createRoutingCA());
}
