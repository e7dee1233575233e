import { chmodSync, lstatSync, renameSync, rmSync, unlinkSync } from 'node:fs';
import type { Server } from 'node:net';
import { dirname, join } from 'node:path';

/**
 * The daemon's control socket is bound beside its final name and renamed over it: a client always finds a
 * listener there (the old daemon's until the rename, the new one's after), and nobody removes a socket a
 * live daemon holds. Only the holder of the daemon lock calls this.
 */
export async function bindControlSocket(server: Server, path: string): Promise<{ ino: number }> {
  const tmp = join(dirname(path), `d${process.pid}.sock`);
  rmSync(tmp, { force: true });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(tmp, () => {
      server.off('error', reject);
      resolve();
    });
  });
  chmodSync(tmp, 0o600);
  const { ino } = lstatSync(tmp);
  renameSync(tmp, path);
  return { ino };
}

/** Remove the socket at `path` only if it is still the one this process bound (a successor may own it now). */
export function removeOwnSocket(path: string, ino: number): void {
  try {
    if (lstatSync(path).ino === ino) unlinkSync(path);
  } catch {
    /* gone already */
  }
}
