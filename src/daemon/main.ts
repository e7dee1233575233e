/**
 * The daemon's own code: bundled into dist/bundle/daemon.cjs, which `node dist/daemon/launch.js __daemon`
 * runs (launch.ts; this file's compiled module when nothing was bundled), spawned
 * detached by ensureDaemon (client.ts). The `__daemon` argument only tags the process so lock.ts can tell a moat daemon by its command line.
 * Nothing here loads the CLI.
 */
import { MoatHome } from '../home/paths.js';
import { runDaemon } from './server.js';

// Ten minutes without live runs: a run started within them finds the daemon up (starting one adds ~0.5 s to
// a run here) and its gateway's code warm; an idle daemon holds ~90 MB.
// No top-level await: the bundle is a CommonJS script (scripts/bundle.mjs). A daemon that cannot start says
// why in its log (its stderr) and exits.
runDaemon(MoatHome.fromEnv(process.env), { idleMs: Number(process.env.MOAT_DAEMON_IDLE_MS ?? 600_000) }).catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
