/**
 * The routing CA's X.509 Name Constraints (RFC 5280 4.2.1.10) as DER, without a certificate library: the
 * CA creates them (routing-ca.ts) and `moat doctor` reads them back from an existing certificate.
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

/** One DER element read from `buf` at `at`: its tag and where its contents start and end. */
interface Tlv {
  tag: number;
  start: number;
  end: number;
}

/** Reads one element (definite lengths up to 4 bytes, as DER requires); throws on anything else. */
function readTlv(buf: Uint8Array, at: number, limit = buf.length): Tlv {
  if (at + 2 > limit) throw new RangeError('truncated DER');
  const tag = buf[at] ?? 0;
  let len = buf[at + 1] ?? 0;
  let start = at + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4 || start + n > limit) throw new RangeError('unsupported DER length');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + (buf[start + i] ?? 0);
    start += n;
  }
  if (start + len > limit) throw new RangeError('truncated DER');
  return { tag, start, end: start + len };
}

/** The elements inside a constructed one. */
function childrenOf(buf: Uint8Array, parent: Tlv): Tlv[] {
  const out: Tlv[] = [];
  for (let at = parent.start; at < parent.end;) {
    const t = readTlv(buf, at, parent.end);
    out.push(t);
    at = t.end;
  }
  return out;
}

const NAME_CONSTRAINTS_OID_DER = Uint8Array.from([0x55, 0x1d, 0x1e]);
const same = (a: Uint8Array, b: Uint8Array): boolean => Buffer.from(a).equals(Buffer.from(b));

/**
 * What is wrong with the name constraints of the DER certificate `raw`, judged on its parsed extensions
 * (Certificate > TBSCertificate > [3] Extensions), or undefined when it carries exactly the routing CA's:
 * one critical id-ce-nameConstraints whose value permits localhost, .localhost, 127.0.0.0/8 and ::1 and
 * nothing else, with no excluded subtrees (DER is canonical: equal meaning is equal bytes).
 */
export function routingConstraintsProblem(raw: Uint8Array): string | undefined {
  let found: { critical: boolean; value: Uint8Array }[];
  try {
    const cert = readTlv(raw, 0);
    const tbs = childrenOf(raw, cert)[0];
    if (!tbs) throw new RangeError('no TBSCertificate');
    const wrapper = childrenOf(raw, tbs).find((t) => t.tag === 0xa3);
    const list = wrapper ? childrenOf(raw, wrapper)[0] : undefined;
    found = [];
    for (const ext of list ? childrenOf(raw, list) : []) {
      const [oid, second, third] = childrenOf(raw, ext);
      if (oid?.tag !== 0x06 || !same(raw.subarray(oid.start, oid.end), NAME_CONSTRAINTS_OID_DER)) continue;
      const critical = second?.tag === 0x01 && raw[second.start] === 0xff;
      const value = second?.tag === 0x04 ? second : third;
      if (value?.tag !== 0x04) return 'has a malformed name-constraints extension';
      found.push({ critical, value: raw.subarray(value.start, value.end) });
    }
  } catch {
    return 'could not be read as a certificate';
  }
  const [only] = found;
  if (!only) return 'is not name-constrained to localhost';
  if (found.length > 1) return 'has more than one name-constraints extension';
  if (!same(only.value, nameConstraintsDer())) return 'is name-constrained to other names than localhost, .localhost, 127.0.0.0/8 and ::1 alone';
  if (!only.critical) return 'has name constraints that are not marked critical (a client may ignore them)';
  return undefined;
}
