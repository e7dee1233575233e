import type { IncomingMessage } from 'node:http';

/** A request's body as text; undefined when it is longer than `max` bytes (the rest is not read). */
export async function readBody(req: IncomingMessage, max: number): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > max) return undefined;
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** A request's body parsed as JSON; throws when it is too long or not JSON. */
export async function readJsonBody(req: IncomingMessage, max: number): Promise<unknown> {
  const text = await readBody(req, max);
  if (text === undefined) throw new Error('request body too long');
  return JSON.parse(text) as unknown;
}
