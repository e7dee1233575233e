/**
 * Child-process roles for the gateway benches (forked by ./gateway.ts, never run directly):
 *
 * - `upstream`: the fake HTTPS upstream (test/fakes/upstream.ts) on a loopback port.
 * - `proxy`: the moat gateway proxy on a unix socket, sending `api.example.test` to that upstream.
 *   With `auditDir` set it also holds an AuditWriter on that run dir, and while auditing is switched on
 *   its onEvent appends every request event as the daemon does (`audit.append('network', event)`);
 *   while it is off, onEvent does nothing.
 *
 * Control is over IPC: the parent sends `{ id, cmd }`, the child answers `{ id, ... }`.
 */
import { mkdir } from 'node:fs/promises';
import type { AuditWriter, JsonObject } from '../../src/audit/index.js';
import type { GatewayEvent } from '../../src/gateway/index.js';
import { BENCH_HOST, type ChildCommand, type ProxyRoleConfig } from './gateway.js';

const role = process.argv[2];

if (role === 'upstream') {
  const { startFakeUpstream } = await import('../../test/fakes/upstream.js');
  const fake = await startFakeUpstream();
  process.send?.({ port: fake.httpsPort, ca: fake.ca.certPem });
} else if (role === 'proxy') {
  const { createCA } = await import('../../src/gateway/ca.js');
  const { createProxy } = await import('../../src/gateway/proxy.js');
  const cfg = JSON.parse(process.env.MOAT_BENCH_PROXY ?? '{}') as ProxyRoleConfig;
  let audit: AuditWriter | undefined;
  let publicKeyPem: string | undefined;
  let auditing = false;
  if (cfg.auditDir) {
    const { AuditWriter, generateSigner } = await import('../../src/audit/index.js');
    await mkdir(cfg.auditDir, { recursive: true, mode: 0o700 });
    const signer = generateSigner();
    publicKeyPem = signer.publicKeyPem;
    audit = await AuditWriter.open(cfg.auditDir, signer, { onError: (err) => console.error(`bench audit writer: ${String(err)}`) });
  }
  const onEvent = (ev: GatewayEvent): void => {
    if (auditing && ev.type === 'request') audit?.append('network', ev as unknown as JsonObject);
  };
  const ca = await createCA('Moat Bench CA');
  const proxy = createProxy({
    ca,
    upstreamOverride: new Map([[BENCH_HOST, { host: '127.0.0.1', port: cfg.port }]]),
    upstreamOverrideCA: cfg.ca,
    injections: [{ grant: 'bench', hosts: [BENCH_HOST], set: { authorization: 'Bearer bench-secret' } }],
    // As the daemon does for every grant: responses are scanned for the real value (none holds it here).
    scrub: [{ value: 'bench-secret', placeholder: 'bench-placeh' }],
    ...(audit ? { onEvent } : {}),
  });
  await proxy.listen(cfg.socket);
  process.on('message', (raw) => {
    const { id, cmd } = raw as { id: number; cmd: ChildCommand };
    const reply = (extra: Record<string, unknown> = {}): void => void process.send?.({ id, ...extra });
    switch (cmd) {
      case 'rss':
        return reply({ rss: process.memoryUsage().rss });
      case 'cpu': {
        const u = process.cpuUsage();
        return reply({ cpuUs: u.user + u.system });
      }
      case 'audit-on':
      case 'audit-off':
        auditing = cmd === 'audit-on' && audit !== undefined;
        return reply({ auditing, entries: audit?.count ?? 0 });
      case 'close':
        auditing = false;
        // Close the writer (final signed checkpoint, lock released) before the parent removes the run dir.
        void (audit ? audit.close() : Promise.resolve()).then(
          () => reply({ entries: audit?.count ?? 0 }),
          (err: unknown) => reply({ error: String(err) }),
        );
        return;
    }
  });
  process.send?.({ ca: ca.certPem, ...(publicKeyPem ? { publicKeyPem } : {}) });
} else {
  throw new Error(`bench/lib/gateway-child.ts: unknown role ${String(role)}`);
}
