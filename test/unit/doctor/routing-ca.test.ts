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
import { NAME_CONSTRAINTS_OID, nameConstraintsDer } from '../../../src/gateway/name-constraints.js';
import { x509 } from '../../../src/gateway/x509.js';
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

  describe('forged routing CAs: the constraints are read from the parsed extension, never found by bytes', () => {
    /** A routing CA in its own home carrying `extensions`; the check's detail (or ok). */
    const forged = async (name: string, extensions: x509.Extension[]): Promise<CheckResult> => {
      const home = new MoatHome(join(dir, name));
      await loadOrCreateCA(home.routingCaDir, () => createCA(ROUTING_CA_NAME, new Date(), extensions));
      return check(home);
    };
    const detailOf = (name: string, problem: string): string =>
      `${join(dir, name, 'routing-ca', 'ca.pem')} ${problem}: if its key leaked it could certify any site to a browser that trusts it`;

    it("the exact constraint bytes smuggled inside another extension's value: FAIL, not constrained", async () => {
      // The whole extension as a certificate holds it (OID, critical, value), as another extension's value.
      const whole = new x509.Extension(NAME_CONSTRAINTS_OID, true, nameConstraintsDer()).rawData;
      const r = await forged('smuggled', [new x509.Extension('1.3.6.1.4.1.99999.1', false, whole)]);
      expect(r).toMatchObject({ status: 'fail', detail: detailOf('smuggled', 'is not name-constrained to localhost') });
    });

    it('constrained to another name (example.com): FAIL', async () => {
      const r = await forged('wrong-name', [new x509.Extension(NAME_CONSTRAINTS_OID, true, nameConstraintsDer({ dns: ['example.com'], ip: [] } as never))]);
      expect(r).toMatchObject({
        status: 'fail',
        detail: detailOf('wrong-name', 'is name-constrained to other names than localhost, .localhost, 127.0.0.0/8 and ::1 alone'),
      });
    });

    it('localhost as an excluded subtree instead of a permitted one (every other name allowed): FAIL', async () => {
      const value = nameConstraintsDer();
      expect(value[2]).toBe(0xa0); // permittedSubtrees [0] ...
      value[2] = 0xa1; // ... turned into excludedSubtrees [1]
      const r = await forged('excluded', [new x509.Extension(NAME_CONSTRAINTS_OID, true, value)]);
      expect(r).toMatchObject({
        status: 'fail',
        detail: detailOf('excluded', 'is name-constrained to other names than localhost, .localhost, 127.0.0.0/8 and ::1 alone'),
      });
    });

    it("moat's constraints with the critical flag off: FAIL", async () => {
      const r = await forged('not-critical', [new x509.Extension(NAME_CONSTRAINTS_OID, false, nameConstraintsDer())]);
      expect(r).toMatchObject({
        status: 'fail',
        detail: detailOf('not-critical', 'has name constraints that are not marked critical (a client may ignore them)'),
      });
    });

    it("moat's constraints, critical, built by hand the same way: OK", async () => {
      expect((await forged('same', [new x509.Extension(NAME_CONSTRAINTS_OID, true, nameConstraintsDer())])).status).toBe('ok');
    });
  });
});
