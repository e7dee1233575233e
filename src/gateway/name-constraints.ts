/**
 * The routing CA's X.509 Name Constraints (RFC 5280 4.2.1.10) as DER, without a certificate library: the
 * CA creates them (routing-ca.ts) and `moat doctor` looks for them in an existing certificate.
 */

/** id-ce-nameConstraints. */
export const NAME_CONSTRAINTS_OID = '2.5.29.30';

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
 * then mask), both implicitly tagged. Every name outside the permitted subtrees is refused.
 */
export function nameConstraintsDer(p: typeof ROUTING_PERMITTED = ROUTING_PERMITTED): Uint8Array {
  const subtrees = [
    ...p.dns.map((d) => der(0x30, der(0x82, new TextEncoder().encode(d)))),
    ...p.ip.map((r) => der(0x30, der(0x87, Uint8Array.from([...r.address, ...r.mask])))),
  ];
  return der(0x30, der(0xa0, concat(subtrees)));
}

/** The whole Extension as a certificate holds it: SEQUENCE { OID 2.5.29.30, critical TRUE, OCTET STRING value }. */
export function routingConstraintsExtensionDer(): Uint8Array {
  const oid = Uint8Array.from([0x06, 0x03, 0x55, 0x1d, 0x1e]);
  const critical = Uint8Array.from([0x01, 0x01, 0xff]);
  return der(0x30, concat([oid, critical, der(0x04, nameConstraintsDer())]));
}

/** True when the DER certificate `raw` carries the routing CA's critical name constraints exactly. */
export function hasRoutingConstraints(raw: Uint8Array): boolean {
  return Buffer.from(raw).includes(Buffer.from(routingConstraintsExtensionDer()));
}
