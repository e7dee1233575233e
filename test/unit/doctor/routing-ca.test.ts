/**
 * `moat doctor` on the routing CA: a name-constrained one is OK; one without the constraints (a routing CA
 * an older build or a hand made, which could certify any site if its key leaked) is a FAIL whose fix is the
 * exact command that replaces it. The rotated CA the daemon then creates is constrained again.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { routingCaCheck } from '../../../src/doctor/routing-ca.js';
import { EngineProbe } from '../../../src/doctor/engine-probe.js';
import type { CheckResult, DoctorContext } from '../../../src/doctor/types.js';
import { createCA, loadOrCreateCA } from '../../../src/gateway/ca.js';
import { ROUTING_CA_NAME } from '../../../src/gateway/ca-names.js';
import { loadOrCreateRoutingCA } from '../../../src/gateway/routing-ca.js';
import { MoatHome } from '../../../src/home/paths.js';

let dir: string;
beforeAll(async () => void (dir = await mkdtemp(join(tmpdir(), 'moat-doctor-routing-'))));
afterAll(async () => rm(dir, { recursive: true, force: true }));

const ctxOf = (home: MoatHome): DoctorContext => ({ home, env: {}, cwd: '/', now: new Date(), engine: new EngineProbe({}) });
const check = async (home: MoatHome): Promise<CheckResult> => (await routingCaCheck.run(ctxOf(home))) as CheckResult;

describe('the routing-ca check', () => {
  it('none yet: OK, said so', async () => {
    const r = await check(new MoatHome(join(dir, 'empty')));
    expect(r).toEqual({ name: 'routing-ca', status: 'ok', detail: 'not created yet (the first run with ports: creates it)' });
  });

  it('a name-constrained routing CA: OK with its dates and key mode', async () => {
    const home = new MoatHome(join(dir, 'constrained'));
    await loadOrCreateRoutingCA(home.routingCaDir);
    const r = await check(home);
    expect(r.status).toBe('ok');
    expect(r.detail).toMatch(/routing-ca\/ca\.pem, valid \d{4}-\d\d-\d\d to \d{4}-\d\d-\d\d, key 0600$/);
  });

  it('an unconstrained routing CA: FAIL with the exact command that rotates it; after it, OK again', async () => {
    const home = new MoatHome(join(dir, 'unconstrained'));
    await loadOrCreateCA(home.routingCaDir, () => createCA(ROUTING_CA_NAME));
    const r = await check(home);
    const cert = join(home.routingCaDir, 'ca.pem');
    const key = join(home.routingCaDir, 'ca.key');
    expect(r).toEqual({
      name: 'routing-ca',
      status: 'fail',
      detail: `${cert} is not name-constrained to localhost: if its key leaked it could certify any site to a browser that trusts it`,
      fix: `rm ${cert} ${key} && moat proxy restart, then trust the new one (moat open --ca) and remove the old one from your browser`,
    });
    await rm(cert);
    await rm(key);
    await loadOrCreateRoutingCA(home.routingCaDir);
    expect((await check(home)).status).toBe('ok');
  });

  it('the interception CA copied into the routing folder is refused the same way', async () => {
    const home = new MoatHome(join(dir, 'copied'));
    await loadOrCreateCA(home.routingCaDir);
    expect((await check(home)).status).toBe('fail');
  });
});
