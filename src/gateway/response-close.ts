import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/** Per client connection: the close callbacks of its responses that have not closed yet. */
const pending = new WeakMap<Socket, Set<() => void>>();

/**
 * Calls `onClose` once, when the response closes or when the client's connection does, whichever is first.
 *
 * Node's server answers pipelined requests in order: a later response waits, not yet attached to the
 * socket, until the earlier ones end. If the client goes away meanwhile, that response never emits
 * 'close' (only its request is destroyed), so a handler that watched the response alone held its
 * upstream request open and never recorded it. One 'close' listener per connection serves all of its
 * responses (a client may pipeline many).
 */
export function onResponseClose(req: IncomingMessage, res: ServerResponse, onClose: () => void): void {
  const socket = req.socket;
  let called = false;
  const fire = (): void => {
    if (called) return;
    called = true;
    pending.get(socket)?.delete(fire);
    onClose();
  };
  res.once('close', fire);
  if (socket.destroyed) return void setImmediate(fire);
  let callbacks = pending.get(socket);
  if (!callbacks) {
    const set = new Set<() => void>();
    callbacks = set;
    pending.set(socket, set);
    socket.once('close', () => {
      pending.delete(socket);
      for (const f of [...set]) f();
    });
  }
  callbacks.add(fire);
}
