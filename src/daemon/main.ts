/**
 * The daemon's own entry: `node dist/bundle/daemon.js __daemon` (`dist/daemon/main.js` unbundled), spawned
 * detached by ensureDaemon (client.ts). The `__daemon` argument only tags the process so lock.ts can tell a moat daemon by its command line.
 * Nothing here loads the CLI.
 */
import { MoatHome } from '../home/paths.js';
import { runDaemon } from './server.js';

// Ten minutes without live runs: a run started within them finds the daemon up (starting one adds ~0.5 s to
// a run here) and its gateway's code warm; an idle daemon holds ~90 MB.
await runDaemon(MoatHome.fromEnv(process.env), { idleMs: Number(process.env.MOAT_DAEMON_IDLE_MS ?? 600_000) });
