import { lstat, unlink } from 'node:fs/promises';
import net from 'node:net';
import { join } from 'node:path';
import { listenInPlace } from '../gateway/transport.js';
import { tunnelSocketName } from '../gateway/routes.js';

/**
 * The way into one service of a run (a reverse tunnel): the DAEMON listens on a unix socket it binds in a
 * private folder and renames into the run's `net/` folder (mounted read-only at /moat/net), and the
 * container's relay (moat-init, as the run's user) CONNECTS to it and keeps a few idle connections open.
 * To use one, the daemon writes one byte on it; the relay then connects to 127.0.0.1:PORT inside the
 * container and copies bytes both ways. The host only ever accepts: it never connects to, opens or
 * follows any path a container could have made, so a symlink planted by a run (to the Docker socket, the
 * daemon's control socket) leads nowhere.
 */
export class ServiceTunnel {
  /** Idle relay connections, each with what undoes its idle-time listeners. */
  private readonly idle = new Map<net.Socket, () => void>();
  private readonly waiters: Array<(s: net.Socket | undefined) => void> = [];

  private constructor(
    private readonly server: net.Server,
    readonly socketPath: string,
    private readonly ino: number,
  ) {
    server.on('connection', (s) => this.accept(s));
  }

  /** Idle connections kept per service; more are closed at once (a run cannot grow the daemon's memory). */
  static readonly MAX_IDLE = 16;
  /** Requests waiting for a connection at one time; more get the 502 page at once. */
  static readonly MAX_WAITERS = 256;

  static async open(runDir: string, port: number): Promise<ServiceTunnel> {
    const hostDir = join(runDir, 'net');
    const socketPath = join(hostDir, tunnelSocketName(port));
    // `.in` as short as `.gw`: a socket path has a small length limit. Never mounted into the container.
    const server = await listenInPlace(
      { kind: 'unix-socket', hostDir, socketPath, bindDir: join(runDir, '.in') },
      (path) =>
        new Promise((resolve, reject) => {
          const s = net.createServer({ pauseOnConnect: true });
          s.once('error', reject);
          s.listen(path, () => {
            s.off('error', reject);
            resolve(s);
          });
        }),
    );
    return new ServiceTunnel(server, socketPath, (await lstat(socketPath)).ino);
  }

  private accept(s: net.Socket): void {
    s.on('error', () => s.destroy());
    const waiter = this.waiters.shift();
    if (waiter) return waiter(s);
    if (this.idle.size >= ServiceTunnel.MAX_IDLE) return void s.destroy();
    // Nothing is expected from an idle relay: bytes (or its end) mean it is not idle any more.
    const drop = (): void => {
      s.destroy();
    };
    const gone = (): void => {
      this.idle.delete(s);
    };
    s.on('data', drop);
    s.on('end', drop);
    s.on('close', gone);
    this.idle.set(s, () => {
      s.off('data', drop);
      s.off('end', drop);
      s.off('close', gone);
      s.pause();
    });
    s.resume();
  }

  /** Whether a relay is connected (idle) now. */
  get ready(): boolean {
    return this.idle.size > 0;
  }

  /**
   * A connection to the service: an idle relay connection told to go ahead (one byte), or undefined when
   * none arrives within `waitMs` (no relay: the run's container is gone or its relay was ended).
   */
  async take(waitMs = 3000): Promise<net.Socket | undefined> {
    let s: net.Socket | undefined;
    for (const [c, unwatch] of this.idle) {
      this.idle.delete(c);
      unwatch();
      if (!c.destroyed && c.readable && c.writable) {
        s = c;
        break;
      }
    }
    if (!s) {
      if (this.waiters.length >= ServiceTunnel.MAX_WAITERS) return undefined;
      s = await new Promise<net.Socket | undefined>((resolve) => {
        const timer = setTimeout(() => {
          const i = this.waiters.indexOf(got);
          if (i >= 0) this.waiters.splice(i, 1);
          resolve(undefined);
        }, waitMs);
        timer.unref();
        const got = (c: net.Socket | undefined): void => {
          clearTimeout(timer);
          resolve(c);
        };
        this.waiters.push(got);
      });
      if (!s) return undefined;
    }
    s.write('\x01');
    return s;
  }

  async close(): Promise<void> {
    for (const w of this.waiters.splice(0)) w(undefined);
    for (const s of this.idle.keys()) s.destroy();
    this.idle.clear();
    // Connections in use end with their requests (the run's container is stopping anyway).
    this.server.close();
    // After a hand-over the socket there is the next daemon's: leave it.
    if ((await lstat(this.socketPath).catch(() => undefined))?.ino === this.ino) await unlink(this.socketPath).catch(() => undefined);
  }
}
