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
import { NAME_CONSTRAINTS_OID, nameConstraintsDer } from './name-constraints.js';
export { ROUTING_CA_NAME };

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
