import { lstat } from 'node:fs/promises';
import type { Server } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { MoatHome } from '../home/paths.js';
import { createProxy, loadOrCreateCA, loadOrCreateRoutingCA, type CA, type GatewayEvent, type HeaderInjection, type LocalResponse } from '../gateway/index.js';
import { listenInPlace, removeSocket, unixTransport } from '../gateway/transport.js';
import { createRedactor } from '../gateway/injection.js';
import { hostExtraCAs } from '../image/host-ca.js';
import { loadGlobalConfig } from '../config/load.js';
import { CredentialStore } from '../credentials/store.js';
import type { ResolvedGrants } from '../credentials/resolve.js';
import type { RunMetadata } from '../store/types.js';
import { resolveGrantsSerialized, startGrantRefresh } from './refresh.js';
import { readRunSecrets } from '../credentials/secrets/run-file.js';
import { gatewaySecrets, type GatewaySecrets } from '../credentials/secrets/gateway.js';
import { upstreamOptions } from './upstream-options.js';
import { Router } from './router.js';
import { stoppedRun } from './router-runs.js';
import { routingPort } from '../config/routing.js';
import { startRunSsh } from './ssh-gateway.js';
import type { AwsGrantConfig } from '../credentials/types.js';
import type { AwsSigning } from './aws-refresh.js';

/** A run's aws grant: its real credentials obtained (AWS's SDK loaded) only now, for this run. */
async function startAws(
  cfg: AwsGrantConfig,
  runId: string,
  env: NodeJS.ProcessEnv,
  log: (m: string) => void,
  onSecrets: (s: string[]) => void,
): Promise<AwsSigning> {
  const { startAwsSigning } = await import('./aws-refresh.js');
  return startAwsSigning(cfg, { env, runId, log, onSecrets });
}

export interface RunGateway {
  /** Where the socket is (bound elsewhere and moved there, so not `server.address()`). */
  socketPath: string;
  /** The run's `secrets:` as the audit records them (names, schemes, hosts; never values). */
  secrets: GatewaySecrets['audit'];
  /** False once another daemon's gateway socket has replaced this one (a hand-over). */
  owned(): Promise<boolean>;
  close(): Promise<void>;
}

/**
 * Starts and stops the gateway of each live run inside the daemon. Secrets are resolved here from the
 * encrypted store (by grant name) and live only in this process's memory.
 */
export class GatewayHost {
  private ca: Promise<CA> | undefined;
  private extraCAs: Promise<string[]> | undefined;

  constructor(
    private readonly home: MoatHome,
    private readonly env: NodeJS.ProcessEnv,
    private readonly log: (m: string) => void,
    /** Refresh window for grants (test hook; default resolveGrants' 5 minutes). */
    private readonly refreshWindowMs?: number,
  ) {}

  private router: Router | undefined;
  private routingCA: Promise<CA> | undefined;

  /** A run's services on the routing proxy (moat.yaml ports:), which listens while any run has some. */
  private async publish(meta: RunMetadata, runDir: string): Promise<{ close: () => Promise<void> } | undefined> {
    if (Object.keys(meta.ports ?? {}).length === 0) return undefined;
    // The router's own name-constrained CA: a browser that trusts it trusts nothing beyond loopback.
    this.routingCA ??= loadOrCreateRoutingCA(this.home.routingCaDir);
    const ca = this.routingCA;
    this.router ??= new Router({
      port: () => routingPort(this.home.globalConfig),
      ca: () => ca,
      stopped: (name) => stoppedRun(this.home, name),
      log: this.log,
    });
    return this.router.add(meta, runDir);
  }

  async start(meta: RunMetadata, runDir: string, onEvent: (ev: GatewayEvent, redact: (s: string) => string) => void): Promise<RunGateway> {
    this.ca ??= loadOrCreateCA(this.home.caDir);
    const global = await loadGlobalConfig(this.home.globalConfig);
    this.extraCAs ??= hostExtraCAs({ env: this.env, configured: global.build?.ca_certs });
    const store = new CredentialStore(this.home, { env: this.env });
    const grants: ResolvedGrants =
      meta.grants.length > 0
        ? await resolveGrantsSerialized(meta.grants, store, {
            env: this.env,
            ...(this.refreshWindowMs !== undefined ? { refreshWithinMs: this.refreshWindowMs } : {}),
          })
        : {
            injections: [] as HeaderInjection[],
            responses: [] as LocalResponse[],
            placeholders: { env: {}, files: [] },
            secretsToRedact: [] as string[],
            substitutions: [],
            scrub: [],
          };
    // The run's secrets:, resolved by the CLI in the user's environment and handed over encrypted.
    const runSecrets = gatewaySecrets(await readRunSecrets(this.home, meta.id, this.env));
    // Grows as the host refreshes tokens: an old token may still show up in a late log line.
    let secrets = [...grants.secretsToRedact, ...runSecrets.redact];
    let redact = createRedactor(secrets);
    const ssh = await startRunSsh(meta, runDir, store, (ev) => onEvent(ev, (s) => redact(s)));
    const aws = grants.aws
      ? await startAws(
          grants.aws,
          meta.id,
          this.env,
          (m) => this.log(`run ${meta.id}: ${m}`),
          (more) => {
            secrets = [...new Set([...secrets, ...more])];
            redact = createRedactor(secrets);
          },
        )
      : undefined;
    // Grows like the maskers: a refreshed grant's old value may still come back in a late response.
    let scrubbed = [...runSecrets.scrub, ...grants.scrub];
    const proxy = createProxy({
      ca: await this.ca,
      policy: {
        policy: meta.network?.policy ?? 'permissive',
        rules: meta.network?.rules ?? [],
        deny: meta.network?.deny ?? [],
        // The grants' hosts (on their ports) are added by the proxy from the injections themselves.
        allowHosts: meta.network?.allowHosts ?? [],
      },
      injections: grants.injections,
      substitutions: [...runSecrets.substitutions, ...grants.substitutions],
      scrub: scrubbed,
      responses: grants.responses,
      ...(aws ? { aws: aws.resigner } : {}),
      ...upstreamOptions(this.env, global, await this.extraCAs),
      onEvent: (ev) => onEvent(ev, (s) => redact(s)),
      ...(meta.traceBodies ? { traceBodies: 4096 } : {}),
      ...(ssh ? { sshTunnels: ssh.tunnels } : {}),
    });
    const t = unixTransport(runDir);
    let server: Server;
    try {
      server = await listenInPlace(t, (path) => proxy.listen(path));
    } catch (err) {
      aws?.stop();
      await proxy.close();
      await ssh?.close();
      throw err;
    }
    const route = await this.publish(meta, runDir).catch(async (err: unknown) => {
      server.close();
      aws?.stop();
      await proxy.close();
      await ssh?.close();
      throw err;
    });
    const ino = (await lstat(t.socketPath)).ino;
    const owned = async (): Promise<boolean> => (await lstat(t.socketPath).catch(() => undefined))?.ino === ino;
    this.log(`run ${meta.id}: gateway on ${t.socketPath} (${meta.network?.policy ?? 'permissive'}, ${grants.injections.length} injections)`);
    const refresher = startGrantRefresh({
      names: meta.grants,
      store,
      env: this.env,
      first: grants,
      ...(this.refreshWindowMs !== undefined ? { windowMs: this.refreshWindowMs } : {}),
      log: (m) => this.log(`run ${meta.id}: ${m}`),
      apply: (next) => {
        secrets = [...new Set([...secrets, ...next.secretsToRedact])];
        redact = createRedactor(secrets);
        scrubbed = [...scrubbed, ...next.scrub.filter((p) => !scrubbed.some((q) => q.value === p.value))];
        proxy.update({ injections: next.injections, responses: next.responses, scrub: scrubbed });
        this.log(`run ${meta.id}: grants refreshed${next.refreshAt ? ` (next expiry ${next.refreshAt})` : ''}`);
      },
    });
    return {
      socketPath: t.socketPath,
      secrets: runSecrets.audit,
      owned,
      close: async () => {
        refresher.stop();
        aws?.stop();
        const mine = await owned(); // after a hand-over the socket there is the next daemon's: leave it
        // Requests under way finish (a hand-over lets them), within a bound; new ones already go elsewhere.
        await Promise.race([new Promise<void>((r) => server.close(() => r())), sleep(5000, undefined, { ref: false })]);
        await proxy.close();
        await route?.close();
        await ssh?.close();
        if (mine) await removeSocket(t);
      },
    };
  }
}
