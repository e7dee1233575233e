import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import net from 'node:net';
import { FrameReader, MSG, encodeIdentities, encodeSignResponse, encodeFailure, parseRequest } from '../../../src/credentials/ssh-agent-protocol.js';
import { WireWriter } from '../../../src/credentials/ssh-wire.js';

/** Test keys as SSH blobs, with signing in SSH's signature format. */
export interface TestKey {
  blob: Buffer;
  sign(data: Buffer): Buffer;
  privateKey: KeyObject;
}

const jwkBytes = (s: string | undefined): Buffer => Buffer.from(s ?? '', 'base64url');

export function ed25519Key(): TestKey {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const x = jwkBytes(publicKey.export({ format: 'jwk' }).x);
  return {
    blob: new WireWriter().string('ssh-ed25519').string(x).toBuffer(),
    sign: (data) =>
      new WireWriter()
        .string('ssh-ed25519')
        .string(sign(null, data, privateKey))
        .toBuffer(),
    privateKey,
  };
}

export function ecdsaKey(): TestKey {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = publicKey.export({ format: 'jwk' });
  const q = Buffer.concat([Buffer.from([4]), jwkBytes(jwk.x), jwkBytes(jwk.y)]);
  return {
    blob: new WireWriter().string('ecdsa-sha2-nistp256').string('nistp256').string(q).toBuffer(),
    sign: (data) => {
      const sig = sign('sha256', data, { key: privateKey, dsaEncoding: 'ieee-p1363' });
      const inner = new WireWriter().mpint(sig.subarray(0, 32)).mpint(sig.subarray(32)).toBuffer();
      return new WireWriter().string('ecdsa-sha2-nistp256').string(inner).toBuffer();
    },
    privateKey,
  };
}

export function rsaKey(): TestKey {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = publicKey.export({ format: 'jwk' });
  return {
    blob: new WireWriter().string('ssh-rsa').mpint(jwkBytes(jwk.e)).mpint(jwkBytes(jwk.n)).toBuffer(),
    sign: (data) =>
      new WireWriter()
        .string('rsa-sha2-256')
        .string(sign('sha256', data, privateKey))
        .toBuffer(),
    privateKey,
  };
}

export const pubLine = (blob: Buffer, comment = ''): string =>
  `${blob.subarray(4, 4 + blob.readUInt32BE(0)).toString()} ${blob.toString('base64')}${comment ? ` ${comment}` : ''}`;

/** A fake host ssh-agent on a unix socket: lists its keys and signs with them; records every request. */
export async function fakeAgent(
  path: string,
  keys: { key: TestKey; comment: string }[],
): Promise<{ server: net.Server; requests: number[]; close(): Promise<void> }> {
  const requests: number[] = [];
  const server = net.createServer((sock) => {
    const frames = new FrameReader();
    sock.on('error', () => sock.destroy());
    sock.on('data', (chunk: Buffer) => {
      for (const msg of frames.push(chunk)) {
        requests.push(msg[0]!);
        const req = parseRequest(msg);
        if (req.type === 'list') sock.write(encodeIdentities(keys.map((k) => ({ blob: k.key.blob, comment: k.comment }))));
        else if (req.type === 'sign') {
          const k = keys.find((x) => x.key.blob.equals(req.key));
          sock.write(k ? encodeSignResponse(k.key.sign(req.data)) : encodeFailure());
        } else sock.write(Buffer.from([0, 0, 0, 1, MSG.FAILURE]));
      }
    });
  });
  await new Promise<void>((r) => server.listen(path, r));
  return { server, requests, close: () => new Promise((r) => server.close(() => r())) };
}
