/** moat-init.sh as shipped, and what the tests that run its pieces on this machine share. */
import { readFileSync } from 'node:fs';
import net from 'node:net';

export const INIT = readFileSync(new URL('../../../src/image/assets/moat-init.sh', import.meta.url), 'utf8');

/** The egress relay's Perl, as moat-init runs it. */
export const RELAY = /egress_relay='([^']*)'/.exec(INIT)?.[1] ?? '';

/** A loopback port free a moment ago. */
export async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as net.AddressInfo;
  await new Promise((r) => s.close(r));
  return port;
}

/** Root's preparation (CA, staged home files, the home's owner), which moat-init runs before the relay in one Perl. */
export const PREPARE = /prepare_root='([^']*)'/.exec(INIT)?.[1] ?? '';
