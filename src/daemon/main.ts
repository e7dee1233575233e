/**
 * The daemon's own entry: `node dist/bundle/daemon.js __daemon` (`dist/daemon/main.js` unbundled), spawned
 * detached by ensureDaemon (client.ts). The `__daemon` argument only tags the process so lock.ts can tell a moat daemon by its command line.
 * Nothing here loads the CLI.
 */
import { MoatHome } from '../home/paths.js';
import { runDaemon } from './server.js';

await runDaemon(MoatHome.fromEnv(process.env), { idleMs: Number(process.env.MOAT_DAEMON_IDLE_MS ?? 60_000) });
